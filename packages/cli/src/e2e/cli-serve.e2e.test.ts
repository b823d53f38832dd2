import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { BIN, assertOneLineError, exitOf, type CliResult } from './harness.test-util.js';

const CLI_PACKAGE = dirname(dirname(BIN));
const SDK_PACKAGE = join(CLI_PACKAGE, '..', 'sdk');

function tempDir(t: import('node:test').TestContext): string {
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'keynest-serve-')));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  return root;
}

function runNode(args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  return new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
}

test('keynest serve without the server package installed: one line, exit 1', async (t) => {
  // An install of the CLI and the SDK alone, as a CI runner that only needs `keynest run` has.
  const root = tempDir(t);
  const cli = join(root, 'node_modules', '@keynest', 'cli');
  mkdirSync(dirname(cli), { recursive: true });
  for (const part of ['bin', 'dist', 'package.json']) cpSync(join(CLI_PACKAGE, part), join(cli, part), { recursive: true });
  symlinkSync(SDK_PACKAGE, join(root, 'node_modules', '@keynest', 'sdk'));

  const result = await runNode([join(cli, 'bin', 'keynest.js'), 'serve'], { PATH: process.env.PATH, HOME: root });
  assertOneLineError(result, 1, 'server_not_installed');
  assert.match(result.stderr, /@keynest\/server is not installed/);
  // Everything else still works without it.
  const help = await runNode([join(cli, 'bin', 'keynest.js'), 'run', '--help'], { PATH: process.env.PATH, HOME: root });
  assert.equal(help.code, 0);
});

test('keynest serve starts a server with the given options and stops on SIGTERM', async (t) => {
  const root = tempDir(t);
  const dataDir = join(root, 'data');
  const child = spawn(process.execPath, [BIN, 'serve', '--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir], {
    env: { PATH: process.env.PATH, HOME: root, KEYNEST_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const look = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      const match = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(output);
      if (match) resolve(match[1]!);
    };
    child.stdout.on('data', look);
    child.stderr.on('data', look);
    child.once('exit', (code) => reject(new Error(`serve exited (${code}) before listening: ${output}`)));
  });
  const health = await fetch(`${url}/healthz`);
  assert.equal(health.status, 200);
  assert.deepEqual(await health.json(), { status: 'ok' });
  assert.ok(output.includes(dataDir), 'the data directory given was used');

  child.kill('SIGTERM');
  assert.deepEqual(await exitOf(child), { code: 0, signal: null });
});

test('keynest serve checks its own options', async () => {
  const env = { PATH: process.env.PATH, HOME: tmpdir() };
  assertOneLineError(await runNode([BIN, 'serve', '--port', 'http'], env), 2, 'usage');
  assertOneLineError(await runNode([BIN, 'serve', '--port', '70000'], env), 2, 'usage');
  assertOneLineError(await runNode([BIN, 'serve', 'extra'], env), 2, 'usage');
});
