import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import dotenv from 'dotenv';
import { startHarness, type Harness } from './harness.test-util.js';
import { NASTY_VALUES } from './nasty-values.test-util.js';

async function storeNastyValues(h: Harness): Promise<void> {
  await h.setupProject();
  for (const [key, value] of Object.entries(NASTY_VALUES)) await h.ok(['secrets', 'set', key, '--stdin'], { stdin: value });
}

test('export dotenv: dotenv parses back exactly the stored values', async (t) => {
  const h = await startHarness(t);
  await storeNastyValues(h);
  const text = await h.ok(['export']);
  assert.equal(await h.ok(['export', '--format', 'dotenv']), text);
  assert.deepEqual({ ...dotenv.parse(text) }, NASTY_VALUES);
  assert.deepEqual({ ...dotenv.parse(text, { fast: true }) }, NASTY_VALUES);
});

test('export json and yaml hold the exact values', async (t) => {
  const h = await startHarness(t);
  await storeNastyValues(h);
  assert.deepEqual(JSON.parse(await h.ok(['export', '--format', 'json'])), NASTY_VALUES);
  assert.deepEqual(JSON.parse(await h.ok(['export', '--json'])), NASTY_VALUES, '--json alone means json');
  const yaml = await h.ok(['export', '--format', 'yaml']);
  const fromYaml = Object.fromEntries(
    yaml.trimEnd().split('\n').map((line) => {
      const match = /^([A-Z_][A-Z0-9_]*): (".*")$/.exec(line);
      assert.ok(match, line);
      return [match[1], JSON.parse(match[2]!)];
    }),
  );
  assert.deepEqual(fromYaml, NASTY_VALUES);
});

test('export shell: sourced by sh, every variable holds its exact value', async (t) => {
  const h = await startHarness(t);
  await storeNastyValues(h);
  const script = await h.ok(['export', '--format', 'shell']);
  const printed = execFileSync('sh', ['-c', `${script}\nnode -e 'process.stdout.write(JSON.stringify(process.env))'`], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH },
  });
  const env = JSON.parse(printed);
  for (const [key, value] of Object.entries(NASTY_VALUES)) assert.equal(env[key], value, key);
});

test('export docker: KEY=value lines, and a multi-line value is refused naming its key', async (t) => {
  const h = await startHarness(t);
  await h.setupProject();
  await h.ok(['secrets', 'set', 'A=x="y" # z', 'B= spaced ']);
  assert.equal(await h.ok(['export', '--format', 'docker']), 'A=x="y" # z\nB= spaced \n');
  await h.ok(['secrets', 'set', 'CERT', '--stdin'], { stdin: 'line one\nline two' });
  const refused = await h.fails(['export', '--format', 'docker'], 1, 'unrepresentable_value');
  assert.match(refused.stderr, /CERT/);
  assert.ok(!refused.stderr.includes('line one'));
});

test('export k8s: a Secret manifest with base64 data, named by --name or PROJECT-ENV', async (t) => {
  const h = await startHarness(t);
  await storeNastyValues(h);
  const manifest = await h.ok(['export', '--format', 'k8s']);
  assert.match(manifest, /^apiVersion: v1\nkind: Secret\nmetadata:\n  name: "app-development"\ntype: Opaque\ndata:\n/);
  for (const [key, value] of Object.entries(NASTY_VALUES)) {
    const line = new RegExp(`^  ${key}: "([A-Za-z0-9+/=]*)"$`, 'm').exec(manifest);
    assert.ok(line, key);
    assert.equal(Buffer.from(line[1]!, 'base64').toString('utf8'), value, key);
  }
  assert.match(await h.ok(['export', '--format', 'k8s', '--name', 'web-secrets']), /^  name: "web-secrets"$/m);
  await h.fails(['export', '--format', 'k8s', '--name', 'Not_Valid'], 2, 'usage');
  await h.fails(['export', '--name', 'x'], 2, 'usage');
  await h.fails(['export', '--format', 'toml'], 2, 'usage');
});

test('export resolves references unless --raw', async (t) => {
  const h = await startHarness(t);
  await h.setupProject();
  await h.ok(['secrets', 'set', 'HOST=db', 'URL=pg://${HOST}']);
  assert.equal(JSON.parse(await h.ok(['export', '--format', 'json'])).URL, 'pg://db');
  assert.equal(JSON.parse(await h.ok(['export', '--format', 'json', '--raw'])).URL, 'pg://${HOST}');
});

test('import a dotenv file: one atomic write, each key reported as added, changed or unchanged', async (t) => {
  const h = await startHarness(t);
  await h.setupProject();
  const file = join(h.root, '.env');
  writeFileSync(file, '# app settings\nexport PORT=8080\nNAME="my app"\nMULTI="a\\nb"\nRAW=\'${NOT_A_REF}\'\n');
  assert.equal(
    await h.ok(['import', file]),
    'added PORT (version 1)\nadded NAME (version 1)\nadded MULTI (version 1)\nadded RAW (version 1)\n',
  );
  assert.equal(await h.ok(['secrets', 'get', 'MULTI', '--plain']), 'a\nb');

  writeFileSync(file, 'PORT=9090\nNAME=my app\n');
  assert.equal(await h.ok(['import', file]), 'changed PORT (version 2)\nunchanged NAME (version 1)\n');

  const json = join(h.root, 'secrets.json');
  writeFileSync(json, JSON.stringify({ PORT: '9090', TOKEN: 'abc' }));
  const result = JSON.parse(await h.ok(['import', json, '--json']));
  assert.deepEqual(result.results, [
    { key: 'PORT', version: 2, status: 'unchanged' },
    { key: 'TOKEN', version: 1, status: 'added' },
  ]);

  writeFileSync(file, 'GOOD=1\nbad.key=2\n');
  const refused = await h.fails(['import', file], 1, 'invalid_secret_key');
  assert.match(refused.stderr, /bad\.key/);
  await h.fails(['secrets', 'get', 'GOOD'], 1, 'secret_not_found');
  writeFileSync(json, '{"A": 1}');
  await h.fails(['import', json], 1, 'invalid_file');
  writeFileSync(file, '# nothing\n');
  await h.fails(['import', file], 1, 'nothing_to_import');
  await h.fails(['import', file, '--format', 'xml'], 2, 'usage');
});

test('export dotenv then import gives back the same secrets, unchanged', async (t) => {
  const h = await startHarness(t);
  await storeNastyValues(h);
  const file = join(h.root, 'exported.env');
  writeFileSync(file, await h.ok(['export']));
  const lines = (await h.ok(['import', file])).trimEnd().split('\n');
  assert.equal(lines.length, Object.keys(NASTY_VALUES).length);
  for (const line of lines) assert.match(line, /^unchanged [A-Z_]+ \(version 1\)$/);
});
