import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { withoutAuditTriggers } from '@keynest/server';
import { asOwner, EMAIL, startHarness } from './harness.test-util.js';

test('keynest audit verify: intact, then names the record someone changed in the database (exit 1)', async (t) => {
  const h = await startHarness(t);
  await h.setupProject();
  await h.ok(['secrets', 'set', 'API_KEY=chain-value']);
  await h.ok(['secrets', 'get', 'API_KEY']);

  const made = await h.ok(['audit', 'checkpoint']);
  assert.match(made, /^Signed checkpoint at seq \d+ \([0-9a-f]{64}\)\.\n$/);
  assert.match(await h.ok(['audit', 'verify']), /^Audit chain intact: \d+ records, head seq \d+, 1 signed checkpoints match\.\n$/);
  const json = JSON.parse(await h.ok(['audit', 'verify', '--json']));
  assert.equal(json.ok, true);
  assert.equal(json.broken, null);

  const srv = h.server;
  const read = await srv.db.selectFrom('audit_events').select(['id', 'seq']).where('action', '=', 'secret.read').executeTakeFirstOrThrow();
  await withoutAuditTriggers(srv, async () => {
    await srv.db.updateTable('audit_events').set({ ip: '203.0.113.9' }).where('id', '=', read.id).execute();
  });
  const broken = await h.cli(['audit', 'verify']);
  assert.equal(broken.code, 1);
  assert.equal(broken.stderr, '');
  assert.match(broken.stdout, new RegExp(`^Audit chain BROKEN at record ${read.id} \\(hash_mismatch\\): record ${read.id} \\(seq ${read.seq}\\) was changed after it was written\\n\\d+ records verified before it\\.\\n$`));
  const brokenJson = await h.cli(['audit', 'verify', '--json']);
  assert.equal(brokenJson.code, 1);
  assert.deepEqual(JSON.parse(brokenJson.stdout).broken.recordId, Number(read.id));
  assert.doesNotMatch(broken.stdout + brokenJson.stdout, /chain-value/);
});

test('keynest audit search: filters, a relative --from, the next-page cursor, and usage errors', async (t) => {
  const h = await startHarness(t);
  await h.setupProject();
  await h.ok(['secrets', 'set', 'API_KEY=search-dev']);
  await h.ok(['secrets', 'set', 'API_KEY=search-prod', '--env', 'production']);
  await h.ok(['secrets', 'get', 'API_KEY', '--env', 'production']);
  await h.ok(['secrets', 'get', 'API_KEY']);

  const out = await h.ok(['audit', 'search', '--action', 'secret.read', '--env', 'production', '--from', '7d']);
  const lines = out.trimEnd().split('\n');
  assert.match(lines[0]!, /^ID\s+AT\s+ACTION\s+ACTOR\s+TARGET\s+WHERE\s+OUTCOME\s+IP$/);
  assert.equal(lines.length, 2, out);
  assert.match(lines[1]!, /secret\.read\s+owner@example\.com\s+secret:API_KEY\s+app\/production\s+success\s+127\.0\.0\.1$/);
  assert.doesNotMatch(out, /search-prod|search-dev/);

  const first = JSON.parse(await h.ok(['audit', 'search', '--limit', '2', '--json']));
  assert.equal(first.events.length, 2);
  assert.equal(first.next, first.events[1].id);
  assert.match(await h.ok(['audit', 'search', '--limit', '2']), new RegExp(`\\nnext: --before ${first.next}\\n$`));
  const second = JSON.parse(await h.ok(['audit', 'search', '--limit', '2', '--before', String(first.next), '--json']));
  assert.ok(second.events.every((e: { id: number }) => e.id < first.next));

  assert.equal(await h.ok(['audit', 'search', '--from', '2099-01-01']), 'No audit events.\n');
  await h.fails(['audit', 'search', '--from', 'last tuesday'], 2, 'usage');
  await h.fails(['audit', 'search', '--outcome', 'maybe'], 2, 'usage');
});

test('keynest audit export + verify --file: offline verification names what was changed, removed or cut', async (t) => {
  const h = await startHarness(t);
  await h.setupProject();
  await h.ok(['secrets', 'set', 'API_KEY=file-value', 'DB_URL=file-db']);
  await h.ok(['secrets', 'get', 'API_KEY']);
  await h.ok(['audit', 'checkpoint']);
  await h.ok(['secrets', 'get', 'DB_URL']);
  const file = path.join(h.dir('export'), 'audit.jsonl');
  assert.equal(await h.ok(['audit', 'export', '--output', file]), '');
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const text = readFileSync(file, 'utf8');
  assert.doesNotMatch(text, /file-value|file-db/);
  assert.match(await h.ok(['audit', 'verify', '--file', file]), /^Audit chain intact: \d+ records, head seq \d+, 1 signed checkpoints match\.\n$/);
  // The same bytes on stdout.
  const streamed = await h.ok(['audit', 'export']);
  assert.equal(streamed.split('\n').filter((l) => l.includes('"type":"record"')).length, text.split('\n').filter((l) => l.includes('"type":"record"')).length + 1, 'the second export also holds the first export\'s record');

  const lines = text.trimEnd().split('\n');
  const recordAt = lines.findIndex((l) => l.includes('"action":"secret.read"'));
  const record = JSON.parse(lines[recordAt]!).record as { id: number; seq: number };
  const variant = (name: string, edit: (ls: string[]) => string[]) => {
    const f = path.join(h.dir(name), 'audit.jsonl');
    writeFileSync(f, `${edit([...lines]).join('\n')}\n`);
    return f;
  };
  const changed = variant('changed', (ls) => ls.map((l, i) => (i === recordAt ? l.replace('"ip":"127.0.0.1"', '"ip":"10.0.0.1"') : l)));
  const r1 = await h.cli(['audit', 'verify', '--file', changed]);
  assert.equal(r1.code, 1);
  assert.match(r1.stdout, new RegExp(`^Audit chain BROKEN at record ${record.id} \\(hash_mismatch\\)`));

  const removed = variant('removed', (ls) => ls.filter((_, i) => i !== recordAt));
  const r2 = await h.cli(['audit', 'verify', '--file', removed, '--json']);
  assert.equal(r2.code, 1);
  assert.equal(JSON.parse(r2.stdout).broken.reason, 'missing_records');

  const lastRecord = lines.map((l, i) => [l, i] as const).filter(([l]) => l.includes('"type":"record"')).at(-1)![1];
  const cut = variant('cut', (ls) => ls.filter((_, i) => i !== lastRecord));
  const r3 = await h.cli(['audit', 'verify', '--file', cut, '--json']);
  assert.equal(r3.code, 1);
  assert.equal(JSON.parse(r3.stdout).broken.reason, 'truncated');

  // Pinned keys: a checkpoint signed by a key the auditor does not trust does not count.
  const keysFile = path.join(h.dir('keys'), 'keys.json');
  writeFileSync(keysFile, JSON.stringify({ keys: [{ id: 'audk_someone_else', publicKey: JSON.parse(lines.find((l) => l.includes('"type":"key"'))!).key.publicKey }] }));
  const r4 = await h.cli(['audit', 'verify', '--file', file, '--keys', keysFile, '--json']);
  assert.equal(r4.code, 1);
  assert.equal(JSON.parse(r4.stdout).broken.reason, 'bad_signature');
  const trusted = path.join(h.dir('trusted'), 'keys.json');
  writeFileSync(trusted, JSON.stringify(await asOwner(h, 'GET', '/api/v1/audit/checkpoints').then((r) => r.body)));
  assert.match(await h.ok(['audit', 'verify', '--file', file, '--keys', trusted]), /^Audit chain intact/);

  await h.fails(['audit', 'verify', '--file', path.join(h.root, 'nope.jsonl')], 1, 'file_unreadable');
  await h.fails(['audit', 'export', '--output', path.join(h.root, 'no-such-dir', 'a.jsonl')], 1, 'file_unwritable');
  const notExport = path.join(h.dir('other'), 'x.jsonl');
  writeFileSync(notExport, '{"hello":1}\n');
  await h.fails(['audit', 'verify', '--file', notExport], 2, 'usage');
  await h.fails(['audit', 'verify', '--keys', trusted], 2, 'usage');
  await h.fails(['audit', 'export', '--format', 'xml'], 2, 'usage');
});

test('keynest run and keynest export say what they read values for, and the audit record keeps it', async (t) => {
  const h = await startHarness(t);
  await h.setupProject();
  await h.ok(['secrets', 'set', 'API_KEY=purpose-value']);
  await h.ok(['run', '--', process.execPath, '-e', '0']);
  await h.ok(['export', '--format', 'yaml']);
  await h.ok(['export']);
  await h.ok(['secrets', 'list', '--reveal']);
  const { events } = (await asOwner(h, 'GET', '/api/v1/audit?action=secret.read')).body as { events: { details: { purpose?: string; keys: string[] } }[] };
  assert.deepEqual(events.map((e) => e.details.purpose ?? null).reverse(), ['run', 'export:yaml', 'export:dotenv', null]);
  assert.ok(events.every((e) => e.details.keys.includes('API_KEY')));
  assert.equal((await asOwner(h, 'GET', '/api/v1/projects/app/environments/development/secrets?purpose=exfiltrate')).status, 400);
});

test('keynest audit hash and search --login: failed sign-ins found by what was typed, which the log keeps only as a digest', async (t) => {
  const h = await startHarness(t);
  await h.setupProject();
  const res = await fetch(`${h.server.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: EMAIL.toUpperCase(), password: 'not-the-password' }) });
  assert.equal(res.status, 401);

  const digest = (await h.ok(['audit', 'hash', EMAIL, '--login'])).trim();
  assert.match(digest, /^hmac-sha256:[0-9a-f]{64}$/);
  assert.equal(JSON.parse(await h.ok(['audit', 'hash', ` ${EMAIL.toUpperCase()}`, '--login', '--json'])).hash, digest);
  const failures = JSON.parse(await h.ok(['audit', 'search', '--login', EMAIL, '--json'])).events;
  assert.deepEqual(failures.map((e: { action: string; outcome: string; details: { login: string } }) => [e.action, e.outcome, e.details.login]), [['session.create', 'failure', digest]]);
  assert.match(await h.ok(['audit', 'search', '--login', EMAIL]), /session\.create\s+.*failure\s+127\.0\.0\.1\n$/);
  assert.equal(await h.ok(['audit', 'search', '--login', 'someone-else@example.com']), 'No audit events.\n');
  await h.fails(['audit', 'hash'], 2, 'usage');
});
