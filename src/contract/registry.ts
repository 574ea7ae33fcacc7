import type { DriverFactory } from './driver.js';

/** A registry of driver factories by name (DriversList in Aquarium Fish). */
export class DriverRegistry {
  readonly #factories = new Map<string, DriverFactory>();

  constructor(factories: Iterable<DriverFactory> = []) {
    for (const f of factories) this.register(f);
  }

  register(factory: DriverFactory): void {
    if (this.#factories.has(factory.name)) throw new Error(`driver "${factory.name}" is registered twice`);
    this.#factories.set(factory.name, factory);
  }

  get(name: string): DriverFactory | undefined {
    return this.#factories.get(name);
  }

  names(): string[] {
    return [...this.#factories.keys()];
  }

  all(): DriverFactory[] {
    return [...this.#factories.values()];
  }
}
