import type { CliIo } from './io.js';
import { formatDuration } from './parse-args.js';

/** Steady width for the live line: 0.4s, 12.3s, then 1m05s… */
function elapsed(ms: number): string {
  return ms < 60_000 ? `${(ms / 1000).toFixed(1)}s` : formatDuration(ms);
}

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/**
 * One live line on stderr ("⠹ 3f2a1b9c ELECTED 1.4s allocating on node-1"), redrawn on each
 * change and every 200 ms for the elapsed time. Only on a terminal; elsewhere it prints nothing.
 */
export class ProgressLine {
  readonly #io: CliIo;
  readonly #enabled: boolean;
  readonly #started = Date.now();
  #subject: string;
  #status = '';
  #description = '';
  #frame = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(io: CliIo, subject: string) {
    this.#io = io;
    this.#enabled = io.errIsTTY;
    this.#subject = subject;
    if (this.#enabled) {
      this.#timer = setInterval(() => this.#draw(), 200);
      this.#timer.unref();
    }
  }

  get elapsedMs(): number {
    return Date.now() - this.#started;
  }

  update(fields: { subject?: string; status?: string; description?: string }): void {
    if (fields.subject !== undefined) this.#subject = fields.subject;
    if (fields.status !== undefined) this.#status = fields.status;
    if (fields.description !== undefined) this.#description = fields.description;
    this.#draw();
  }

  /** Clears the line (and stops redrawing). */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#enabled) this.#io.err('\r\x1b[2K');
  }

  #draw(): void {
    if (!this.#enabled || this.#timer === undefined) return;
    this.#frame = (this.#frame + 1) % FRAMES.length;
    const parts = [FRAMES[this.#frame], this.#subject, this.#status, elapsed(this.elapsedMs), this.#description].filter((p) => p);
    const max = Math.max(20, this.#io.columns - 1);
    let text = parts.join('  ');
    if ([...text].length > max) text = `${[...text].slice(0, max - 1).join('')}…`;
    this.#io.err(`\r\x1b[2K${text}`);
  }
}
