import type { Compilable, CompiledQuery, Kysely, QueryResult } from 'kysely';
import type { Database } from './schema.js';

const SENTINEL = '\u0000shoal-param:';

/** A named placeholder for a prepared query (a sentinel string until execution). */
export function P<T = string>(name: string): T {
  return `${SENTINEL}${name}` as unknown as T;
}

interface Entry {
  compiled: CompiledQuery;
  /** per compiled parameter: a placeholder name, or a constant */
  slots: ({ name: string } | { value: unknown })[];
}

/**
 * Compiled queries by key: a hot query is built and compiled by Kysely once (with P(...) for the
 * values that change), then executed with new values straight away. With SQLite's statement cache
 * underneath, a hot query costs no query building, no compiling and no statement preparation.
 */
export class PreparedQueries {
  readonly #cache = new Map<string, Entry>();

  run<O>(db: Kysely<Database>, key: string, build: () => Compilable<O>, params: Readonly<Record<string, unknown>> = {}): Promise<QueryResult<O>> {
    let e = this.#cache.get(key);
    if (!e) {
      const compiled = build().compile();
      e = {
        compiled,
        slots: compiled.parameters.map((v) =>
          typeof v === 'string' && v.startsWith(SENTINEL) ? { name: v.slice(SENTINEL.length) } : { value: v },
        ),
      };
      if (this.#cache.size >= 1000) this.#cache.clear();
      this.#cache.set(key, e);
    }
    const parameters = e.slots.map((s) => {
      if ('value' in s) return s.value;
      if (!(s.name in params)) throw new Error(`prepared query ${key}: no value for ${s.name}`);
      return params[s.name];
    });
    return db.executeQuery<O>({ ...(e.compiled as CompiledQuery<O>), parameters });
  }
}
