import type { CompiledQuery, QueryId, RootOperationNode } from 'kysely';
import type { Db } from './database.js';

/**
 * A Kysely query of fixed shape, built and compiled once, then run with new bound parameters:
 * for the hot path, where building and compiling the query cost more than running it. The query
 * is built with one unique placeholder value per parameter; each call swaps in the real values
 * at the positions where the placeholders ended up. Parameters stay bound — no SQL is built from
 * values. The compiled SQL belongs to one database, so each service instance owns its own.
 * A builder must not branch on a parameter's value (the branch the placeholder took would be
 * frozen in): only fixed-shape queries belong here.
 */
export class PreparedQuery<P extends readonly unknown[], R> {
  #compiled: { sql: string; query: RootOperationNode; queryId: QueryId; slots: ({ param: number } | { constant: unknown })[] } | undefined;

  constructor(private readonly build: (db: Db, ...params: P) => { compile(): CompiledQuery<R> }) {}

  async execute(db: Db, ...params: P): Promise<R[]> {
    return (await this.#run(db, params)).rows;
  }

  /** For INSERT/UPDATE/DELETE: how many rows it touched. */
  async executeWrite(db: Db, ...params: P): Promise<number> {
    return Number((await this.#run(db, params)).numAffectedRows ?? 0);
  }

  #run(db: Db, params: P) {
    const c = this.#compiled ?? this.#compile(db, params.length);
    const parameters = c.slots.map((s) => ('param' in s ? params[s.param] : s.constant));
    return db.executeQuery<R>({ sql: c.sql, query: c.query, queryId: c.queryId, parameters });
  }

  async executeTakeFirst(db: Db, ...params: P): Promise<R | undefined> {
    return (await this.execute(db, ...params))[0];
  }

  #compile(db: Db, count: number) {
    const placeholders = Array.from({ length: count }, (_, i) => `\u0000keynest-parameter-${i}\u0000`);
    const compiled = this.build(db, ...(placeholders as unknown as P)).compile();
    const slots = compiled.parameters.map((p) => {
      const i = placeholders.indexOf(p as string);
      return i >= 0 ? { param: i } : { constant: p };
    });
    for (let i = 0; i < count; i++) {
      if (!slots.some((s) => 'param' in s && s.param === i)) throw new Error(`prepared query does not use parameter ${i}`);
    }
    this.#compiled = { sql: compiled.sql, query: compiled.query, queryId: compiled.queryId, slots };
    return this.#compiled;
  }
}
