#!/usr/bin/env node
// The whole test suite: build, then every test file once against SQLite and once against
// PostgreSQL (KEYNEST_TEST_DATABASE_URL, default the local server's `test` database).
// In CI (CI=true) an unreachable PostgreSQL fails the run; elsewhere it is skipped with a warning
// unless KEYNEST_TEST_REQUIRE_POSTGRES=1.
// Usage: npm test [-- --only sqlite|postgres] [-- --no-build] [-- FILTER...]   (FILTER: substrings of test file paths)
import { spawnSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const onlyIdx = args.indexOf('--only');
const only = onlyIdx >= 0 ? args.splice(onlyIdx, 2)[1] : undefined;
const noBuild = args.includes('--no-build');
const filters = args.filter((a) => a !== '--no-build');
const pgUrl = process.env.KEYNEST_TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
const inCi = process.env.CI === 'true' || process.env.CI === '1';

function build() {
  const r = spawnSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-b'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error('test: the build failed');
    process.exit(1);
  }
}

function testFiles() {
  const out = [];
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.test.js')) out.push(p);
    }
  };
  for (const pkg of readdirSync(path.join(root, 'packages'))) {
    const dist = path.join(root, 'packages', pkg, 'dist');
    try {
      walk(dist);
    } catch {
      /* a package without tests */
    }
  }
  return out.filter((f) => filters.length === 0 || filters.some((s) => f.includes(s))).sort();
}

async function postgresReachable() {
  const { default: pg } = await import(path.join(root, 'node_modules/pg/lib/index.js'));
  const client = new pg.Client({ connectionString: pgUrl, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch (err) {
    console.error(`test: PostgreSQL at ${new URL(pgUrl).host} is unreachable: ${err.message}`);
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

function run(label, files, env) {
  const tapDir = mkdtempSync(path.join(tmpdir(), 'keynest-tap-'));
  const tapFile = path.join(tapDir, 'out.tap');
  console.log(`\n=== ${label}: ${files.length} test files ===`);
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [
        '--test',
        '--test-concurrency=4',
        '--test-reporter=spec',
        '--test-reporter-destination=stdout',
        '--test-reporter=tap',
        `--test-reporter-destination=${tapFile}`,
        ...files,
      ],
      { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } },
    );
    child.on('exit', (code) => {
      const tap = readFileSync(tapFile, 'utf8');
      rmSync(tapDir, { recursive: true, force: true });
      const count = (name) => Number((tap.match(new RegExp(`^# ${name} (\\d+)$`, 'm')) ?? [])[1] ?? 0);
      resolve({ label, code: code ?? 1, pass: count('pass'), fail: count('fail'), skipped: count('skipped') + count('todo'), tests: count('tests') });
    });
  });
}

if (!noBuild) build();
const files = testFiles();
if (files.length === 0) {
  console.error('test: no test files found');
  process.exit(1);
}
const results = [];
if (only !== 'postgres') results.push(await run('SQLite', files, { KEYNEST_TEST_DATABASE_URL: '' }));
if (only !== 'sqlite') {
  if (await postgresReachable()) {
    results.push(await run(`PostgreSQL (${new URL(pgUrl).host}${new URL(pgUrl).pathname})`, files, { KEYNEST_TEST_DATABASE_URL: pgUrl }));
  } else if (inCi || process.env.KEYNEST_TEST_REQUIRE_POSTGRES === '1') {
    console.error('test: FAILED — the PostgreSQL run is required here (CI) and the server is unreachable');
    process.exit(1);
  } else {
    console.warn('test: WARNING — PostgreSQL run SKIPPED (server unreachable). Set KEYNEST_TEST_DATABASE_URL or start PostgreSQL.');
  }
}
console.log('');
for (const r of results) console.log(`${r.label}: ${r.pass} passed, ${r.fail} failed, ${r.skipped} skipped (exit ${r.code})`);
const pass = results.reduce((n, r) => n + r.pass, 0);
const fail = results.reduce((n, r) => n + r.fail, 0);
const bad = results.some((r) => r.code !== 0) || fail > 0;
console.log(`${pass} passed, ${fail} failed`);
process.exit(bad ? 1 : 0);
