/** At most one progress note per this many ms is recorded for an allocation. */
export const PROGRESS_NOTE_EVERY_MS = 2_000;

/**
 * The progress notes of one allocation (AllocateContext.progress), throttled: the first is recorded
 * at once, later ones at most every PROGRESS_NOTE_EVERY_MS — the newest wins, those in between are
 * dropped — and one write at a time. close() drops what is pending and waits for a write in flight,
 * so no note lands after the allocation's outcome.
 */
export class ProgressNotes {
  readonly #write: (note: string) => Promise<unknown>;
  readonly #onError: (err: Error) => void;
  readonly #everyMs: number;
  #last = 0;
  #pending: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(write: (note: string) => Promise<unknown>, onError: (err: Error) => void, everyMs = PROGRESS_NOTE_EVERY_MS) {
    this.#write = write;
    this.#onError = onError;
    this.#everyMs = everyMs;
  }

  push(note: string): void {
    if (this.#closed) return;
    this.#pending = note;
    if (this.#timer) return;
    const wait = Math.max(0, this.#last + this.#everyMs - Date.now());
    this.#timer = setTimeout(() => this.#flush(), wait);
    this.#timer.unref();
  }

  #flush(): void {
    this.#timer = undefined;
    const note = this.#pending;
    this.#pending = undefined;
    if (note === undefined || this.#closed) return;
    this.#last = Date.now();
    this.#inFlight = this.#inFlight
      .then(() => (this.#closed ? undefined : this.#write(note)))
      .then(
        () => undefined,
        (err: unknown) => this.#onError(err instanceof Error ? err : new Error(String(err))),
      );
  }

  /** No more notes; resolves when a write in flight has finished. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#pending = undefined;
    await this.#inFlight;
  }
}
