import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import pg from 'pg';
import type { Clock } from '../context.js';
import { startTestServer, type TestServer } from '../testing.js';

/**
 * Polls `check` until it holds, for at most `ms` of real time: "within N seconds", never "after N".
 * Throws naming `what` when it never held.
 */
export async function pollUntil(check: () => Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Several instances run only on a shared database: PostgreSQL (SQLite is one process's file). */
export const clusterSkip: string | false = process.env.KEYNEST_TEST_DATABASE_URL ? false : 'instances of a cluster share one PostgreSQL database: this runs in the PostgreSQL pass';

/**
 * Instances of one deployment, as `keynest serve` on several machines would be: one PostgreSQL
 * schema, one root key, one Redis (and key prefix), each its own process state and port. Start the
 * first, set it up, then start the others (`add`). `close` stops them all and drops the schema.
 */
export class TestCluster {
  readonly instances: TestServer[] = [];
  readonly rootKey = randomBytes(32).toString('base64');
  #schema: string | undefined;

  constructor(private readonly opts: { env: Record<string, string>; clock?: Clock }) {}

  async add(): Promise<TestServer> {
    const srv = await startTestServer({
      ...(this.opts.clock ? { clock: this.opts.clock } : {}),
      env: { KEYNEST_ROOT_KEY: this.rootKey, ...this.opts.env },
      ...(this.#schema ? { schema: this.#schema } : {}),
      keepData: true,
    });
    this.#schema ??= srv.schema;
    this.instances.push(srv);
    return srv;
  }

  async close(): Promise<void> {
    for (const srv of this.instances) {
      await srv.close();
      rmSync(srv.dataDir, { recursive: true, force: true });
    }
    if (!this.#schema) return;
    const client = new pg.Client({ connectionString: process.env.KEYNEST_TEST_DATABASE_URL });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS ${client.escapeIdentifier(this.#schema)} CASCADE`);
    await client.end();
  }
}
