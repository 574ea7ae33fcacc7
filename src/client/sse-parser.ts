/** One Server-Sent Event as dispatched by the parser. */
export interface SseMessage {
  /** The last event id seen on the stream so far (the id field persists across events). */
  id: string | undefined;
  /** Event type; "message" when the server gave none. */
  event: string;
  /** Data lines joined with "\n". */
  data: string;
}

export interface SseParserHandlers {
  onMessage(message: SseMessage): void;
  /** The server asked for a reconnection delay (ms). */
  onRetry?(ms: number): void;
}

/**
 * Incremental parser for text/event-stream (WHATWG HTML §9.2): feed it bytes as they arrive.
 * Handles CRLF/CR/LF line ends split across chunks, comments, multi-line data, `id`, `event`,
 * `retry`, a leading BOM and UTF-8 characters split across chunks.
 */
export class SseParser {
  readonly #handlers: SseParserHandlers;
  readonly #decoder = new TextDecoder('utf-8');
  #buffer = '';
  #afterCR = false;
  #first = true;
  #lastId: string | undefined;
  #event = '';
  #data: string[] = [];

  constructor(handlers: SseParserHandlers, initialLastId?: string) {
    this.#handlers = handlers;
    this.#lastId = initialLastId;
  }

  /** The id to send as Last-Event-ID when reconnecting. */
  get lastEventId(): string | undefined {
    return this.#lastId;
  }

  feed(chunk: Uint8Array | string): void {
    let text = typeof chunk === 'string' ? chunk : this.#decoder.decode(chunk, { stream: true });
    if (this.#first && text.length > 0) {
      this.#first = false;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 10 /* \n */) {
        if (this.#afterCR && i === start && this.#buffer === '') {
          // the \n of a \r\n whose \r ended the previous line
          this.#afterCR = false;
          start = i + 1;
          continue;
        }
        this.#afterCR = false;
        this.#line(this.#buffer + text.slice(start, i));
        this.#buffer = '';
        start = i + 1;
      } else if (c === 13 /* \r */) {
        this.#line(this.#buffer + text.slice(start, i));
        this.#buffer = '';
        this.#afterCR = true;
        start = i + 1;
      } else if (this.#afterCR && i === start) {
        this.#afterCR = false;
      }
    }
    this.#buffer += text.slice(start);
    if (this.#buffer.length > 0) this.#afterCR = false;
  }

  /** Resets the per-connection state (a partly received event is dropped, as the spec says). */
  reset(): void {
    this.#buffer = '';
    this.#afterCR = false;
    this.#first = true;
    this.#event = '';
    this.#data = [];
  }

  #line(line: string): void {
    if (line === '') {
      this.#dispatch();
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'data':
        this.#data.push(value);
        break;
      case 'event':
        this.#event = value;
        break;
      case 'id':
        if (!value.includes('\0')) this.#lastId = value;
        break;
      case 'retry':
        if (/^[0-9]+$/.test(value)) this.#handlers.onRetry?.(Number(value));
        break;
      default:
        // unknown fields are ignored
        break;
    }
  }

  #dispatch(): void {
    const data = this.#data;
    const event = this.#event;
    this.#data = [];
    this.#event = '';
    if (data.length === 0) return;
    this.#handlers.onMessage({ id: this.#lastId, event: event === '' ? 'message' : event, data: data.join('\n') });
  }
}
