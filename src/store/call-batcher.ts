/**
 * Gathers the calls made in one turn of the event loop and runs them as one batch (e.g. one
 * statement for many rows, in one transaction). If the batch fails, every call runs again alone,
 * so one bad call never decides the others' outcome.
 */
export class CallBatcher<I, O> {
  readonly #run: (items: readonly I[]) => Promise<O[]>;
  readonly #max: number;
  #queue: { item: I; resolve: (o: O) => void; reject: (err: unknown) => void }[] = [];
  #scheduled = false;

  /** `run` returns one output per item, in order; at most `max` items per batch. */
  constructor(run: (items: readonly I[]) => Promise<O[]>, max: number) {
    this.#run = run;
    this.#max = max;
  }

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.#queue.push({ item, resolve, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  #flush(): void {
    this.#scheduled = false;
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#max);
      const alone = (q: (typeof batch)[number]): Promise<void> => this.#run([q.item]).then((o) => q.resolve(o[0]!), q.reject);
      if (batch.length === 1) {
        void alone(batch[0]!);
        continue;
      }
      this.#run(batch.map((q) => q.item)).then(
        (out) => batch.forEach((q, i) => q.resolve(out[i]!)),
        () => {
          for (const q of batch) void alone(q);
        },
      );
    }
  }
}
