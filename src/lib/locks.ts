/**
 * The one home of in-process locking. `Mutex` and `Semaphore` are npm async-mutex's (FIFO; a
 * releaser may be called twice harmlessly; `runExclusive` releases when the callback throws);
 * `KeyedMutex` is a mutex per key built on them. Every layer may import src/lib/ (the driver
 * contract excepted: it imports nothing).
 */
import { Mutex, Semaphore } from 'async-mutex';

export { Mutex, Semaphore };

/** One mutex per key: calls for one key run one at a time in call order, other keys in parallel. */
export class KeyedMutex {
  readonly #locks = new Map<string, { mutex: Mutex; users: number }>();

  /** Run `fn` after every earlier call for the same key has finished. */
  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    let entry = this.#locks.get(key);
    if (!entry) {
      entry = { mutex: new Mutex(), users: 0 };
      this.#locks.set(key, entry);
    }
    entry.users++;
    try {
      return await entry.mutex.runExclusive(fn);
    } finally {
      entry.users--;
      if (entry.users === 0) this.#locks.delete(key);
    }
  }

  /** Keys with a call running or waiting (for tests: finished keys are forgotten). */
  get size(): number {
    return this.#locks.size;
  }
}
