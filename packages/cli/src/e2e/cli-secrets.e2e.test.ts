import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertOneLineError, startHarness } from './harness.test-util.js';
import { NASTY_VALUES } from './nasty-values.test-util.js';


test('set, get, list, history, delete, restore, rollback', async (t) => {
  const h = await startHarness(t);
  await h.setupProject();
  assert.equal(await h.ok(['secrets', 'set', 'API_KEY=one', 'DB_URL=postgres://u:p@h/db?x=1']), 'added API_KEY (version 1)\nadded DB_URL (version 1)\n');
  assert.equal(await h.ok(['secrets', 'set', 'API_KEY=two', 'DB_URL=postgres://u:p@h/db?x=1']), 'changed API_KEY (version 2)\nunchanged DB_URL (version 1)\n');
  assert.equal(await h.ok(['secrets', 'get', 'API_KEY']), 'two\n');
  assert.equal(await h.ok(['secrets', 'get', 'DB_URL', '--plain']), 'postgres://u:p@h/db?x=1');

  const table = await h.ok(['secrets', 'list']);
  assert.match(table, /^KEY\s+VERSION\s+UPDATED AT\s+UPDATED BY\n/);
  assert.match(table, /^API_KEY\s+2\s+\S+ \S+\s+owner@example\.com$/m);
  assert.ok(!table.includes('two'), 'values are not listed without --reveal');
  assert.match(await h.ok(['secrets', 'list', '--reveal']), /^API_KEY\s+2\s+.*\s+two$/m);

  await h.ok(['secrets', 'delete', 'API_KEY']);
  await h.fails(['secrets', 'get', 'API_KEY'], 1, 'secret_not_found');
  assert.doesNotMatch(await h.ok(['secrets', 'list']), /API_KEY/);
  const withDeleted = await h.ok(['secrets', 'list', '--include-deleted']);
  assert.match(withDeleted, /^KEY\s+VERSION\s+UPDATED AT\s+UPDATED BY\s+DELETED AT\n/);
  assert.match(withDeleted, /^API_KEY\s+\d+\s+\S+ \S+\s+\S+\s+\d{4}-\d\d-\d\d /m);
  const deleted = JSON.parse(await h.ok(['secrets', 'list', '--include-deleted', '--json']));
  assert.ok(deleted.secrets.find((s: { key: string }) => s.key === 'API_KEY').deletedAt);

  assert.match(await h.ok(['secrets', 'restore', 'API_KEY']), /^restored API_KEY \(version \d+\)/);
  assert.equal(await h.ok(['secrets', 'get', 'API_KEY', '--plain']), 'two');

  const history = JSON.parse(await h.ok(['secrets', 'history', 'API_KEY', '--json']));
  assert.equal(history.key, 'API_KEY');
  assert.ok(history.versions.some((v: { version: number; action: string }) => v.version === 1 && v.action === 'set'));
  assert.ok(history.versions.every((v: object) => !('value' in v)), 'history holds no values');
  assert.match(await h.ok(['secrets', 'history', 'API_KEY']), /^VERSION\s+ACTION\s+AT\s+BY\n/);

  const rolled = JSON.parse(await h.ok(['secrets', 'rollback', 'API_KEY', '--version', '1', '--json']));
  assert.equal(rolled.key, 'API_KEY');
  assert.equal(await h.ok(['secrets', 'get', 'API_KEY', '--plain']), 'one');
  await h.fails(['secrets', 'rollback', 'API_KEY'], 2, 'usage');
});

test('--if-version: a stale version is refused with version_conflict, 0 means "must not exist"', async (t) => {
  const h = await startHarness(t);
  await h.setupProject();
  await h.ok(['secrets', 'set', 'TOKEN=first', '--if-version', '0']);
  const conflict = await h.fails(['secrets', 'set', 'TOKEN=second', '--if-version', '0'], 1, 'version_conflict');
  assert.ok(!conflict.stderr.includes('second') && !conflict.stderr.includes('first'));
  await h.ok(['secrets', 'set', 'TOKEN=second', '--if-version', '1']);
  await h.fails(['secrets', 'set', 'TOKEN=third', '--if-version', '1'], 1, 'version_conflict');
  await h.fails(['secrets', 'delete', 'TOKEN', '--if-version', '1'], 1, 'version_conflict');
  await h.fails(['secrets', 'rollback', 'TOKEN', '--version', '1', '--if-version', '1'], 1, 'version_conflict');
  assert.equal(await h.ok(['secrets', 'get', 'TOKEN', '--plain']), 'second');
  await h.fails(['secrets', 'set', 'A=1', 'B=2', '--if-version', '0'], 2, 'usage');
  await h.fails(['secrets', 'set', 'A=1', '--if-version', 'x'], 2, 'usage');
  await h.ok(['secrets', 'delete', 'TOKEN', '--if-version', '2']);
});

test('a failed batch writes nothing', async (t) => {
  const h = await startHarness(t);
  await h.setupProject();
  await h.ok(['secrets', 'set', 'EXISTING=1']);
  await h.fails(['secrets', 'set', 'NEW=1', 'EXISTING=2', '--if-version', '0'], 2, 'usage');
  await h.fails(['secrets', 'set', 'NEW=1', 'bad-key=2'], 1, 'invalid_secret_key');
  await h.fails(['secrets', 'get', 'NEW'], 1, 'secret_not_found');
});

test('nasty values round-trip through set (KEY=VALUE, --stdin, --from-file) and get --plain', async (t) => {
  const h = await startHarness(t);
  await h.setupProject();
  const file = join(h.root, 'value.txt');
  const nasty = Object.entries(NASTY_VALUES);
  await h.ok(['secrets', 'set', ...nasty.map(([key, value]) => `${key}=${value}`)]);
  for (const [key, value] of nasty) {
    assert.equal(await h.ok(['secrets', 'get', key, '--plain']), value, `${key} via KEY=VALUE`);
    await h.ok(['secrets', 'set', `${key}_STDIN`, '--stdin'], { stdin: value });
    writeFileSync(file, value);
    await h.ok(['secrets', 'set', `${key}_FILE`, '--from-file', file]);
  }
  const listed = JSON.parse(await h.ok(['secrets', 'list', '--reveal', '--json']));
  const stored = new Map(listed.secrets.map((s: { key: string; value: string }) => [s.key, s.value]));
  for (const [key, value] of nasty) {
    assert.equal(stored.get(`${key}_STDIN`), value, `${key} via --stdin`);
    assert.equal(stored.get(`${key}_FILE`), value, `${key} via --from-file`);
  }
});

test('set input errors are usage errors that name the problem, not the value', async (t) => {
  const h = await startHarness(t);
  await h.setupProject();
  await h.fails(['secrets', 'set'], 2, 'usage');
  await h.fails(['secrets', 'set', 'NOVALUE'], 2, 'usage');
  await h.fails(['secrets', 'set', 'A=1', 'A=2'], 2, 'usage');
  await h.fails(['secrets', 'set', 'A=1', '--stdin'], 2, 'usage');
  await h.fails(['secrets', 'set', 'A', '--stdin', '--from-file', 'x'], 2, 'usage');
  await h.fails(['secrets', 'set', 'A', '--from-file', join(h.root, 'missing')], 1, 'file_unreadable');
  writeFileSync(join(h.root, 'latin1'), Buffer.from([0x63, 0x61, 0x66, 0xe9]));
  await h.fails(['secrets', 'set', 'A', '--from-file', join(h.root, 'latin1')], 1, 'invalid_encoding');
  const result = await h.fails(['secrets', 'set', 'lower=hunter2'], 1, 'invalid_secret_key');
  assert.ok(!result.stderr.includes('hunter2'));
});

test('references resolve on read; --raw shows them as written', async (t) => {
  const h = await startHarness(t);
  await h.setupProject();
  await h.ok(['secrets', 'set', 'DB_HOST=prod.db', '--env', 'production']);
  await h.ok(['secrets', 'set', 'USER=app', 'URL=postgres://${USER}@${production.DB_HOST}/x', 'LITERAL=$${USER}']);
  assert.equal(await h.ok(['secrets', 'get', 'URL', '--plain']), 'postgres://app@prod.db/x');
  assert.equal(await h.ok(['secrets', 'get', 'URL', '--plain', '--raw']), 'postgres://${USER}@${production.DB_HOST}/x');
  assert.equal(await h.ok(['secrets', 'get', 'LITERAL', '--plain']), '${USER}');
  const raw = JSON.parse(await h.ok(['secrets', 'list', '--reveal', '--raw', '--json']));
  assert.equal(raw.secrets.find((s: { key: string }) => s.key === 'URL').value, 'postgres://${USER}@${production.DB_HOST}/x');

  await h.ok(['secrets', 'set', 'BROKEN=${MISSING}']);
  await h.fails(['secrets', 'get', 'BROKEN'], 1, 'reference_not_found');
  await h.ok(['secrets', 'set', 'LOOP_A=${LOOP_B}', 'LOOP_B=${LOOP_A}']);
  await h.fails(['secrets', 'get', 'LOOP_A'], 1, 'reference_cycle');
});

test('get --json prints the secret object; errors under --json are still one stderr line', async (t) => {
  const h = await startHarness(t);
  await h.setupProject();
  await h.ok(['secrets', 'set', 'A=1']);
  const secret = JSON.parse(await h.ok(['secrets', 'get', 'A', '--json']));
  assert.equal(secret.key, 'A');
  assert.equal(secret.value, '1');
  assert.equal(secret.version, 1);
  const missing = await h.cli(['secrets', 'get', 'NOPE', '--json']);
  assertOneLineError(missing, 1, 'secret_not_found');
  const set = JSON.parse(await h.ok(['--json', 'secrets', 'set', 'B=2']));
  assert.deepEqual(set.results, [{ key: 'B', version: 1, status: 'added' }]);
});

test('project and environment come from flags, then variables, then .keynest.json', async (t) => {
  const h = await startHarness(t);
  await h.setupProject(); // links the work directory to app/development
  // Values differ from environment names: the server's leak check greps its log, which names environments.
  await h.ok(['secrets', 'set', 'WHERE=value-in-dev']);
  await h.ok(['secrets', 'set', 'WHERE=value-in-staging', '--env', 'staging']);
  await h.ok(['secrets', 'set', 'WHERE=value-in-prod'], { env: { KEYNEST_ENV: 'production' } });

  const nested = h.dir('work/a/b');
  assert.equal(await h.ok(['secrets', 'get', 'WHERE', '--plain'], { cwd: nested }), 'value-in-dev');
  assert.equal(await h.ok(['secrets', 'get', 'WHERE', '--plain'], { cwd: nested, env: { KEYNEST_ENV: 'production' } }), 'value-in-prod');
  assert.equal(
    await h.ok(['secrets', 'get', 'WHERE', '--plain', '--env', 'staging'], { cwd: nested, env: { KEYNEST_ENV: 'production' } }),
    'value-in-staging',
  );

  const elsewhere = h.dir('elsewhere');
  const missing = await h.fails(['secrets', 'list'], 2, 'usage', { cwd: elsewhere });
  assert.match(missing.stderr, /--project/);
  const noEnv = await h.fails(['secrets', 'list', '--project', 'app'], 2, 'usage', { cwd: elsewhere });
  assert.match(noEnv.stderr, /--env/);
  assert.equal(await h.ok(['secrets', 'get', 'WHERE', '--plain'], { cwd: elsewhere, env: { KEYNEST_PROJECT: 'app', KEYNEST_ENV: 'staging' } }), 'value-in-staging');

  const linkOut = JSON.parse(await h.ok(['link', '--project', 'app', '--env', 'staging', '--json'], { cwd: elsewhere }));
  assert.equal(linkOut.path, join(elsewhere, '.keynest.json'));
  assert.equal(await h.ok(['secrets', 'get', 'WHERE', '--plain'], { cwd: elsewhere }), 'value-in-staging');
  await h.fails(['link', '--project', 'app'], 2, 'usage', { cwd: elsewhere });
});
