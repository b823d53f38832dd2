import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { openStorage, type Storage } from './database.js';
import { migrate } from './migrate.js';
import { MIGRATIONS } from './migrations/index.js';
import { tableNames } from '../test-support/db.js';

const pgUrl = process.env.KEYNEST_TEST_DATABASE_URL || undefined;
const dirs: string[] = [];
const opened: Storage[] = [];
const schema = `m_${randomBytes(5).toString('hex')}`;
const schemas = new Set<string>();

async function open(inSchema = schema): Promise<Storage> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'keynest-migrate-'));
  dirs.push(dataDir);
  if (pgUrl) schemas.add(inSchema);
  const s = await openStorage({ dataDir, databaseUrl: pgUrl, databaseSchema: pgUrl ? inSchema : undefined });
  opened.push(s);
  return s;
}

after(async () => {
  for (const name of schemas) await opened[0]!.owner.schema.dropSchema(name).ifExists().cascade().execute();
  for (const s of opened) await s.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('migrations', () => {
  it('apply once, record themselves, and are a no-op the second time', async () => {
    const s = await open();
    assert.deepEqual(await migrate(s.owner, s.traits, 1), MIGRATIONS.map(([n]) => n));
    assert.deepEqual(await migrate(s.owner, s.traits, 2), []);
    const rows = await s.owner.selectFrom('keynest_migrations').selectAll().execute();
    assert.deepEqual(rows.map((r) => [r.name, Number(r.applied_at)]), MIGRATIONS.map(([n]) => [n, 1]));
  });

  it('roll back entirely when one fails, naming it', async () => {
    const s = await open(`${schema}_f`);
    const failing = [
      ['900-ok', { up: async (db: never) => void (await (db as import('kysely').Kysely<unknown>).schema.createTable('half_done').addColumn('x', 'integer').execute()) }],
      ['901-bad', { up: async () => Promise.reject(new Error('boom')) }],
    ] as const;
    await assert.rejects(migrate(s.owner, s.traits, 1, failing), /database migration 901-bad failed: boom/);
    // Only this schema's catalog: introspecting the whole database races with other tests' schemas.
    const tables = await tableNames({ db: s.owner, owner: s.owner, database: pgUrl ? 'postgres' : 'sqlite', schema: `${schema}_f` });
    assert.ok(!tables.some((t) => t === 'half_done' || t === 'keynest_migrations'), 'nothing of the failed run remains');
  });

  it('instances starting together take turns (no error, applied once)', async () => {
    const [a, b, c] = [await open(), await open(), await open()];
    if (!pgUrl) {
      // SQLite: three separate databases; each migrates on its own.
      for (const s of [a!, b!, c!]) await s.migrate();
      return;
    }
    const results = await Promise.all([a!, b!, c!].map((s) => migrate(s.owner, s.traits, 3)));
    assert.equal(results.flat().length, 0, 'the first test already migrated this schema');
    await Promise.all([a!, b!, c!].map((s) => s.migrate()));
  });
});
