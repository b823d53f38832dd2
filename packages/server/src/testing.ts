import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { loadConfig } from './config.js';
import { systemClock, type Clock } from './context.js';
import { createLogger } from './logger.js';
import { createKeyNest, type KeyNest } from './server.js';
import type { Db } from './storage/database.js';
import { allStoredValues, leakedValues } from './testing-leaks.js';

/**
 * A real KeyNest on a free loopback port with its own data directory — and, when
 * KEYNEST_TEST_DATABASE_URL names a PostgreSQL server, its own schema there — for tests in any
 * package. Logs are kept in memory at debug level so tests can grep them for leaked values.
 */
export interface TestServer {
  url: string;
  setupToken: string;
  dataDir: string;
  /** 'sqlite' or 'postgres'. */
  database: 'sqlite' | 'postgres';
  /** The app's database handle (PostgreSQL: the app role; outside requests it acts as `system`). */
  db: Db;
  /** The schema owner's handle, for tests that change the schema (storage/database.ts `owner`). */
  owner: Db;
  keynest: KeyNest;
  logText(): string;
  /** Every value stored so far (all versions), decrypted: for grepping outputs for leaks. */
  storedValues(): Promise<string[]>;
  close(): Promise<void>;
}

export interface TestServerOptions {
  /** Extra KEYNEST_* settings. */
  env?: Record<string, string>;
  clock?: Clock;
  /**
   * At close, every stored secret value is looked for in this server's logs and the close fails
   * if one is found. On by default; a test that deliberately logs values may turn it off.
   */
  leakCheck?: boolean;
  /** Reuse a data directory (and schema) from an earlier server, to test restarts. */
  dataDir?: string;
  schema?: string;
  /**
   * Leave the data directory and schema behind at close, for a restart to reuse. Defaults to true
   * for a reused directory (whoever made it cleans up) and false otherwise; the last server of a
   * restart chain passes false to clean up.
   */
  keepData?: boolean;
}

/**
 * Tests (and the benchmark) send far more requests from one address than a person would: the
 * limits are raised out of their way, still charged on every request. A test of the real defaults
 * passes `env: { KEYNEST_RATE_LIMITS: '' }` (an empty setting is no setting).
 */
export const TEST_RATE_LIMITS = ['*@ip', '*@user', '*@token', 'auth@ip'].map((r) => `${r}=100000000/60`).join(';');

export async function startTestServer(opts: TestServerOptions = {}): Promise<TestServer & { schema: string | undefined }> {
  const dataDir = opts.dataDir ?? mkdtempSync(path.join(tmpdir(), 'keynest-test-'));
  const pgUrl = process.env.KEYNEST_TEST_DATABASE_URL;
  const schema = pgUrl ? (opts.schema ?? `t_${randomBytes(6).toString('hex')}`) : undefined;
  const env: Record<string, string> = { KEYNEST_LOG_LEVEL: 'debug', KEYNEST_RATE_LIMITS: TEST_RATE_LIMITS, ...(pgUrl && schema ? { KEYNEST_DATABASE_URL: pgUrl, KEYNEST_DATABASE_SCHEMA: schema } : {}), ...opts.env };
  const config = loadConfig(env, { host: '127.0.0.1', port: 0, dataDir });
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  const log = createLogger(config.logLevel, sink);
  let keynest: KeyNest;
  try {
    keynest = await createKeyNest(config, log, opts.clock ?? systemClock);
    await keynest.app.listen({ host: '127.0.0.1', port: 0 });
  } catch (err) {
    // Leave nothing behind when start-up fails (the schema, if any, is dropped by the caller's retry or by hand).
    if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  const address = keynest.app.server.address();
  if (typeof address !== 'object' || !address) throw new Error('test server has no address');
  let closed = false;
  return {
    url: `${config.tls || config.acme ? 'https' : 'http'}://127.0.0.1:${address.port}`,
    setupToken: keynest.setupToken ?? '',
    dataDir,
    database: pgUrl ? 'postgres' : 'sqlite',
    db: keynest.storage.db,
    owner: keynest.storage.owner,
    keynest,
    schema,
    logText: () => lines.join(''),
    storedValues: () => allStoredValues(keynest.storage.db, keynest.keyring),
    async close() {
      if (closed) return;
      closed = true;
      await keynest.quiesce();
      const leaked = opts.leakCheck === false ? [] : leakedValues(await allStoredValues(keynest.storage.db, keynest.keyring), lines.join(''));
      const keep = opts.keepData ?? opts.dataDir !== undefined;
      if (schema && !keep) await keynest.storage.owner.schema.dropSchema(schema).ifExists().cascade().execute();
      await keynest.storage.close();
      if (!keep) rmSync(dataDir, { recursive: true, force: true });
      // The count only: the message must not itself carry the leaked values into test output.
      if (leaked.length > 0) throw new Error(`${leaked.length} stored secret value(s) appeared in the server log`);
    },
  };
}
