import { createParser, type EventSourceParser } from 'eventsource-parser';

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
  /** A comment line (": text"), without the colon. */
  onComment?(comment: string): void;
}

/**
 * Incremental parser for text/event-stream: npm eventsource-parser (WHATWG HTML §9.2 — line ends
 * CRLF/CR/LF split across chunks, comments, multi-line data, `retry`) plus what a reconnecting
 * client needs on top: UTF-8 characters split across byte chunks, a leading BOM, the event type
 * "message" by default and the last event id kept across events (and a resumed one to start from).
 * A block with an id but no data is dropped whole by eventsource-parser, so it does not move the
 * id (the API never sends one). The one SSE parser of the project: the API tests use it too.
 */
export class SseParser {
  readonly #parser: EventSourceParser;
  #decoder = new TextDecoder('utf-8');
  #lastId: string | undefined;
  #first = true;

  constructor(handlers: SseParserHandlers, initialLastId?: string) {
    this.#lastId = initialLastId;
    this.#parser = createParser({
      onEvent: (e) => {
        if (e.id !== undefined) this.#lastId = e.id;
        handlers.onMessage({ id: this.#lastId, event: e.event ?? 'message', data: e.data });
      },
      onRetry: (ms) => handlers.onRetry?.(ms),
      onComment: (comment) => handlers.onComment?.(comment),
    });
  }

  /** The id to send as Last-Event-ID when reconnecting. */
  get lastEventId(): string | undefined {
    return this.#lastId;
  }

  feed(chunk: Uint8Array | string): void {
    // TextDecoder drops a leading BOM of bytes; eventsource-parser only knows its UTF-8 bytes as text
    let text = typeof chunk === 'string' ? chunk : this.#decoder.decode(chunk, { stream: true });
    if (this.#first && text !== '') {
      this.#first = false;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    this.#parser.feed(text);
  }

  /** Resets the per-connection state (a partly received event is dropped, as the spec says). */
  reset(): void {
    this.#parser.reset();
    this.#decoder = new TextDecoder('utf-8');
    this.#first = true;
  }
}
