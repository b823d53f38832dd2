import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestServer } from '../testing.js';
import { startServer } from '../test-support/server.js';
import { api, setupOwner, type Api } from '../test-support/api.js';
import { allCells, columns } from '../test-support/db.js';
import { createProject, createToken, getValue, marker, putSecret, secretsPath } from '../test-support/fixtures.js';

/**
 * Someone who copies the database (a backup, a disk, a replica) must find no secret value in it:
 * not as text, not hex- or base64-encoded, in no table, in no file SQLite writes.
 */

/** The forms a value could take if it were stored unencrypted. */
function encodings(value: string): { label: string; bytes: Buffer }[] {
  const raw = Buffer.from(value, 'utf8');
  const out = [
    { label: 'utf8', bytes: raw },
    { label: 'utf16le', bytes: Buffer.from(value, 'utf16le') },
    { label: 'hex', bytes: Buffer.from(raw.toString('hex')) },
    { label: 'HEX', bytes: Buffer.from(raw.toString('hex').toUpperCase()) },
  ];
  // Base64 of a longer text containing the value: one of the three alignments of the value's bytes
  // appears whole; drop the last (incomplete) group of each.
  for (let k = 0; k < 3; k++) {
    const tail = raw.subarray(k);
    const full = tail.subarray(0, tail.length - (tail.length % 3));
    out.push({ label: `base64+${k}`, bytes: Buffer.from(full.toString('base64')) });
    out.push({ label: `base64url+${k}`, bytes: Buffer.from(full.toString('base64url')) });
  }
  return out;
}

function findLeaks(haystack: Buffer, values: string[]): string[] {
  const leaks: string[] = [];
  for (const v of values) for (const e of encodings(v)) if (haystack.includes(e.bytes)) leaks.push(`${e.label} of value #${values.indexOf(v)}`);
  return leaks;
}

describe('no plaintext at rest', () => {
  let srv: TestServer;
  let owner: Api;
  const values = [
    marker('SINGLE'),
    `${marker('LINE1')}\n${marker('LINE2')}\r\n${marker('LINE3')}\n`,
    `unicode ☃ ${marker('UNI')} 日本語`,
    marker('OLDVERSION'),
    marker('DELETED'),
    marker('BATCH'),
    marker('ROLLEDBACK'),
    marker('PROD'),
  ];
  const [single, multi, unicode, oldVersion, deleted, batch, rolledBack, prod] = values as [string, string, string, string, string, string, string, string];

  before(async () => {
    srv = await startServer();
    owner = api(srv, await setupOwner(srv));
    await createProject(owner, 'vault');
    await putSecret(owner, 'vault', 'development', 'SINGLE', single);
    await putSecret(owner, 'vault', 'development', 'MULTI', multi);
    await putSecret(owner, 'vault', 'development', 'UNICODE', unicode);
    await putSecret(owner, 'vault', 'development', 'ROTATED', oldVersion);
    await putSecret(owner, 'vault', 'development', 'ROTATED', 'newer value of rotated');
    await putSecret(owner, 'vault', 'development', 'GONE', deleted);
    assert.equal((await owner('DELETE', secretsPath('vault', 'development', 'GONE'))).status, 204);
    assert.equal((await owner('PATCH', secretsPath('vault', 'development'), { secrets: [{ key: 'BATCH', value: batch }] })).status, 200);
    await putSecret(owner, 'vault', 'development', 'RB', rolledBack);
    await putSecret(owner, 'vault', 'development', 'RB', 'intermediate value');
    assert.equal((await owner('POST', `${secretsPath('vault', 'development', 'RB')}/rollback`, { version: 1 })).status, 200);
    await putSecret(owner, 'vault', 'production', 'PROD', prod);
    // References are resolved on read: the resolved form must not be cached anywhere either.
    await putSecret(owner, 'vault', 'development', 'REF', 'ref:${SINGLE}:${production.PROD}');
    assert.equal(await getValue(owner, 'vault', 'development', 'REF'), `ref:${single}:${prod}`);
    assert.equal(await getValue(owner, 'vault', 'development', 'MULTI'), multi);
    assert.equal((await owner('GET', secretsPath('vault', 'development'))).status, 200);
    const { token } = await createToken(owner, { project: 'vault', environment: 'development', access: 'write' });
    assert.equal(await getValue(api(srv, token), 'vault', 'development', 'MULTI'), multi);
  });
  after(() => srv.close());

  it('the detector finds a value embedded in any of the encodings it looks for', () => {
    const v = marker('SELFTEST');
    for (let k = 0; k < 4; k++) {
      const text = `${'p'.repeat(k)}${v}${'s'.repeat(k)}`;
      const utf8 = Buffer.from(text, 'utf8');
      const forms = {
        utf8,
        utf16le: Buffer.from(text, 'utf16le'),
        hex: Buffer.from(utf8.toString('hex')),
        base64: Buffer.from(utf8.toString('base64')),
        base64url: Buffer.from(utf8.toString('base64url')),
      };
      for (const [label, bytes] of Object.entries(forms)) assert.notDeepEqual(findLeaks(bytes, [v]), [], `${label} at offset ${k}`);
    }
    assert.deepEqual(findLeaks(Buffer.from('nothing here'), [v]), []);
  });

  it('stored values are all present (the check below is not vacuous)', async () => {
    const stored = await srv.storedValues();
    for (const v of values) assert.ok(stored.includes(v), 'value missing from the store');
  });

  it('no table cell holds a value in any encoding (text, blob/bytea)', async () => {
    const cols = await columns(srv);
    const types = new Set(cols.map((c) => c.type));
    assert.ok(cols.some((c) => c.table === 'secret_versions' && c.column === 'ciphertext'));
    assert.ok([...types].some((t) => t === 'blob' || t === 'bytea'), `no binary column among ${[...types].join(', ')}`);
    const cells = await allCells(srv);
    const tables = new Set(cells.map((c) => c.table));
    for (const t of ['users', 'sessions', 'api_tokens', 'secrets', 'secret_versions', 'audit_events', 'data_keys', 'instance_settings']) assert.ok(tables.has(t), `no rows read from ${t}`);
    for (const c of cells) {
      if (c.value === null || typeof c.value === 'number' || typeof c.value === 'bigint' || typeof c.value === 'boolean') continue;
      const bytes = Buffer.isBuffer(c.value) || c.value instanceof Uint8Array ? Buffer.from(c.value) : Buffer.from(String(c.value), 'utf8');
      assert.deepEqual(findLeaks(bytes, values), [], `${c.table}.${c.column}`);
    }
  });

  it('on PostgreSQL: every text and bytea column listed by information_schema, cast to text, holds no value', async (t) => {
    if (srv.database !== 'postgres') return t.skip('SQLite run: its files are checked below');
    const { sql } = await import('kysely');
    const cols = (await columns(srv)).filter((c) => ['text', 'bytea', 'character varying', 'json', 'jsonb'].includes(c.type));
    assert.ok(cols.length >= 20, `only ${cols.length} text/bytea columns`);
    for (const c of cols) {
      const r = await sql<{ v: string | null }>`SELECT ${sql.ref(c.column)}::text AS v FROM ${sql.table(c.table)}`.execute(srv.db);
      for (const row of r.rows) if (row.v !== null) assert.deepEqual(findLeaks(Buffer.from(row.v), values), [], `${c.table}.${c.column}`);
    }
  });

  it('on SQLite: the database file and its write-ahead log hold no value', async (t) => {
    if (srv.database !== 'sqlite') return t.skip('PostgreSQL run: checked through information_schema above');
    const files = ['keynest.db', 'keynest.db-wal', 'keynest.db-shm'].map((f) => path.join(srv.dataDir, f)).filter((f) => existsSync(f));
    assert.ok(files.some((f) => f.endsWith('-wal')), 'expected a WAL file (journal_mode=WAL)');
    let total = 0;
    for (const f of files) {
      const bytes = readFileSync(f);
      total += bytes.length;
      assert.deepEqual(findLeaks(bytes, values), [], path.basename(f));
    }
    // Key names are plaintext metadata: finding one proves the scan reads real content.
    const all = Buffer.concat(files.map((f) => readFileSync(f)));
    assert.ok(all.includes(Buffer.from('SINGLE')), 'key names should be visible in the raw files');
    assert.ok(total > 0);
  });

  it('the audit trail holds key names, never values', async () => {
    const rows = await srv.db.selectFrom('audit_events').selectAll().execute();
    assert.ok(rows.some((r) => r.action === 'secret.write'));
    assert.ok(rows.some((r) => r.action === 'secret.read'));
    assert.deepEqual(findLeaks(Buffer.from(JSON.stringify(rows)), values), []);
    const viaApi = await owner('GET', '/api/v1/audit?limit=500');
    assert.deepEqual(findLeaks(Buffer.from(viaApi.text), values), []);
  });
});
