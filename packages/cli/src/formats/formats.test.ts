import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { formatDocker } from './docker.js';
import { formatJson } from './json.js';
import { defaultK8sName, formatK8s, isValidK8sName } from './k8s.js';
import { formatShell } from './shell.js';
import { formatYaml } from './yaml.js';
import { UnrepresentableValueError, type ExportEntry } from './entry.js';
import { EXPORT_FORMATS, formatSecrets } from './index.js';

const NASTY: ExportEntry[] = [
  { key: 'PLAIN', value: 'plain' },
  { key: 'QUOTES', value: 'single \' double " back ` end' },
  { key: 'MULTILINE', value: 'line 1\nline 2\n\n' },
  { key: 'BACKSLASH', value: 'C:\\dir\\ \\n \\' },
  { key: 'DOLLAR', value: '$HOME ${X} $(whoami) `id`' },
  { key: 'HASH', value: '# not a comment' },
  { key: 'EQUALS', value: 'a=b=c' },
  { key: 'UNICODE', value: 'é 日本 😀 \u2028 \u0085 \u007f' },
  { key: 'SPACES', value: '  padded  ' },
  { key: 'EMPTY', value: '' },
  { key: 'YES', value: 'no' },
];

test('json is a pretty object that parses back to the same values', () => {
  const text = formatJson(NASTY);
  assert.deepEqual(JSON.parse(text), Object.fromEntries(NASTY.map((e) => [e.key, e.value])));
  assert.match(text, /^\{\n  "PLAIN": "plain",\n/);
  assert.equal(formatJson([]), '{}\n');
});

/** YAML's printable characters (YAML 1.2, 5.1), less the line breaks YAML 1.1 knew. */
const YAML_PRINTABLE = /^[\t\n\r\x20-\x7e\u00a0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\u{10000}-\u{10ffff}]*$/u;

test('yaml writes one KEY: "escaped" line per secret, each a valid double-quoted scalar', () => {
  const text = formatYaml(NASTY);
  const lines = text.split('\n');
  assert.equal(lines.pop(), '');
  assert.equal(lines.length, NASTY.length);
  lines.forEach((line, i) => {
    const match = /^("?)([A-Z_][A-Z0-9_]*)\1: (".*")$/.exec(line);
    assert.ok(match, `line ${i} is not KEY: "value": ${line}`);
    assert.equal(match[2], NASTY[i]!.key);
    assert.match(match[3]!, YAML_PRINTABLE);
    // Every escape JSON.stringify writes is also a YAML escape with the same meaning.
    assert.equal(JSON.parse(match[3]!), NASTY[i]!.value);
  });
  assert.ok(lines.includes('"YES": "no"'), 'a key YAML would read as a boolean is quoted');
  assert.equal(formatYaml([]), '{}\n');
});

test('shell export, sourced by sh, sets exactly the stored values', () => {
  const script = formatShell(NASTY);
  for (const { key, value } of NASTY) {
    const printed = execFileSync('sh', ['-c', `${script}\nprintf '%s' "$${key}"`], { encoding: 'utf8' });
    assert.equal(printed, value, `sh read ${key} back differently`);
  }
  assert.equal(formatShell([{ key: 'A', value: "it's" }]), "export A='it'\\''s'\n");
});

test('docker writes KEY=value lines taken literally', () => {
  assert.equal(
    formatDocker([{ key: 'A', value: 'x="y" # z' }, { key: 'B', value: ' spaced ' }]),
    'A=x="y" # z\nB= spaced \n',
  );
});

test('docker refuses a value with a newline, naming the key and not the value', () => {
  for (const value of ['two\nlines', 'cr\rhere']) {
    assert.throws(() => formatDocker([{ key: 'CERT', value }]), (error: unknown) => {
      assert.ok(error instanceof UnrepresentableValueError);
      assert.equal(error.key, 'CERT');
      assert.ok(!error.message.includes(value));
      return true;
    });
  }
});

test('k8s writes a Secret manifest with base64 data', () => {
  const text = formatK8s([{ key: 'A', value: 'é\n' }, { key: 'ON', value: '' }], 'app-prod');
  assert.equal(
    text,
    [
      'apiVersion: v1',
      'kind: Secret',
      'metadata:',
      '  name: "app-prod"',
      'type: Opaque',
      'data:',
      `  A: "${Buffer.from('é\n').toString('base64')}"`,
      '  "ON": ""',
      '',
    ].join('\n'),
  );
  assert.match(formatK8s([], 'x'), /\ndata: \{\}\n$/);
});

test('k8s names: the default is a valid name made from project and environment', () => {
  assert.equal(defaultK8sName('My App', 'production'), 'my-app-production');
  assert.equal(defaultK8sName('__', '__'), 'keynest-secrets');
  assert.ok(isValidK8sName(defaultK8sName('x'.repeat(300), 'Prod!')));
  assert.ok(isValidK8sName('app.example-1'));
  for (const bad of ['App', '-app', 'app-', 'a_b', '', 'a'.repeat(254)]) assert.ok(!isValidK8sName(bad), bad);
});

test('every listed format has a formatter', () => {
  for (const format of EXPORT_FORMATS) {
    assert.equal(typeof formatSecrets(format, [{ key: 'A', value: 'b' }], 'name'), 'string');
  }
});
