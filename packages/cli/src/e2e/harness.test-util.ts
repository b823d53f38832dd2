/**
 * End-to-end test harness: a real server (in this process, via @keynest/server's startTestServer)
 * and the built `keynest` binary run as a child process, with its own HOME, XDG_CONFIG_HOME and
 * working directory per test. Everything is torn down in the test's `after` hook: the server is
 * closed (which also fails if a stored secret value reached its log), children are killed and the
 * temporary directories removed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { startTestServer, type TestServer, type TestServerOptions } from '@keynest/server';
import { shellQuote } from '../formats/shell.js';

export const BIN = fileURLToPath(new URL('../../bin/keynest.js', import.meta.url));
export const PASSWORD = 'correct horse battery staple';
export const EMAIL = 'owner@example.com';

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  stdin?: string | Buffer;
  /** Added to (or, when undefined, removed from) the child's environment. */
  env?: Record<string, string | undefined>;
  cwd?: string;
}

export interface Harness {
  server: TestServer;
  /** Base of this test's temporary files. */
  root: string;
  home: string;
  configHome: string;
  /** The working directory commands run in by default. */
  cwd: string;
  credentialsFile: string;
  /** A new empty directory under root. */
  dir(name: string): string;
  cli(args: string[], options?: CliOptions): Promise<CliResult>;
  /** Runs and expects exit 0 with nothing on stderr; gives stdout. */
  ok(args: string[], options?: CliOptions): Promise<string>;
  /** Runs and expects `exitCode` with one `error: … (code)` line on stderr and nothing on stdout. */
  fails(args: string[], exitCode: number, errorCode: string | RegExp, options?: CliOptions): Promise<CliResult>;
  /** Starts the CLI and leaves it running, for tests that signal it. */
  start(args: string[], options?: CliOptions): ChildProcess;
  /**
   * Starts the CLI on a pseudo-terminal (util-linux `script`), for password prompts: what is
   * written to the child's stdin is typed on the terminal, its stdout shows the terminal.
   */
  startInTerminal(args: string[], options?: CliOptions): ChildProcess;
  /** `keynest setup` on the fresh server, which also logs in. */
  setup(): Promise<void>;
  /** setup, a project `app` (development, staging, production), and `.keynest.json` for app/development. */
  setupProject(): Promise<void>;
}

/** `serverOptions`: settings of the test's server (a GeoIP database, say). */
export async function startHarness(t: TestContext, serverOptions: TestServerOptions = {}): Promise<Harness> {
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'keynest-cli-e2e-')));
  const home = join(root, 'home');
  const configHome = join(root, 'config');
  const cwd = join(root, 'work');
  for (const path of [home, configHome, cwd]) mkdirSync(path);
  const children = new Set<ChildProcess>();
  let server: TestServer;
  try {
    server = await startTestServer(serverOptions);
  } catch (error) {
    rmSync(root, { recursive: true, force: true });
    throw error;
  }
  t.after(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    try {
      await server.close();
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  const childEnv = (extra: CliOptions['env'] = {}): NodeJS.ProcessEnv => {
    // Only what the CLI needs: no KEYNEST_* from the developer's shell may leak into a test.
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: home, XDG_CONFIG_HOME: configHome, LANG: 'C.UTF-8' };
    for (const [name, value] of Object.entries(extra)) {
      if (value === undefined) delete env[name];
      else env[name] = value;
    }
    return env;
  };

  const start = (args: string[], options: CliOptions = {}): ChildProcess => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: options.cwd ?? cwd,
      env: childEnv(options.env),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    children.add(child);
    child.once('exit', () => children.delete(child));
    child.stdin!.on('error', () => {});
    child.stdin!.end(options.stdin ?? '');
    return child;
  };

  const startInTerminal = (args: string[], options: CliOptions = {}): ChildProcess => {
    const commandLine = [process.execPath, BIN, ...args].map(shellQuote).join(' ');
    const child = spawn('script', ['--quiet', '--return', '--command', commandLine, '/dev/null'], {
      cwd: options.cwd ?? cwd,
      env: childEnv(options.env),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    children.add(child);
    child.once('exit', () => children.delete(child));
    return child;
  };

  const cli = (args: string[], options: CliOptions = {}): Promise<CliResult> => {
    const child = start(args, options);
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout!.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk));
    return new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code, signal) =>
        resolve({
          code,
          signal,
          stdout: Buffer.concat(stdout).toString('utf8'),
          stderr: Buffer.concat(stderr).toString('utf8'),
        }),
      );
    });
  };

  const harness: Harness = {
    server,
    root,
    home,
    configHome,
    cwd,
    credentialsFile: join(configHome, 'keynest', 'credentials.json'),
    dir(name) {
      const path = join(root, name);
      mkdirSync(path, { recursive: true });
      return path;
    },
    cli,
    start,
    startInTerminal,
    async ok(args, options) {
      const result = await cli(args, options);
      assert.equal(result.code, 0, `keynest ${args.join(' ')} failed: ${result.stderr}`);
      assert.equal(result.stderr, '', `keynest ${args.join(' ')} wrote to stderr`);
      return result.stdout;
    },
    async fails(args, exitCode, errorCode, options) {
      const result = await cli(args, options);
      assertOneLineError(result, exitCode, errorCode, `keynest ${args.join(' ')}`);
      return result;
    },
    async setup() {
      await harness.ok(
        ['setup', '--server', server.url, '--setup-token', server.setupToken, '--email', EMAIL, '--org', 'Acme', '--password-stdin'],
        { stdin: `${PASSWORD}\n` },
      );
    },
    async setupProject() {
      await harness.setup();
      await harness.ok(['projects', 'create', 'app']);
      await harness.ok(['link', '--project', 'app', '--env', 'development']);
    },
  };
  return harness;
}

export function assertOneLineError(result: CliResult, exitCode: number, errorCode: string | RegExp, what = 'keynest'): void {
  assert.equal(result.code, exitCode, `${what}: exit ${result.code}, stderr: ${result.stderr}`);
  assert.equal(result.stdout, '', `${what}: nothing on stdout when failing`);
  const match = /^error: (.+) \(([a-z_]+)\)\n$/.exec(result.stderr);
  assert.ok(match, `${what}: stderr is not one "error: … (code)" line: ${JSON.stringify(result.stderr)}`);
  if (typeof errorCode === 'string') assert.equal(match[2], errorCode, `${what}: ${result.stderr}`);
  else assert.match(match[2]!, errorCode, `${what}: ${result.stderr}`);
  assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
}

export function readCredentialsFile(harness: Harness): { server: string; accessToken: string; refreshToken: string; sessionExpiresAt: string; email: string; org: string } {
  return JSON.parse(readFileSync(harness.credentialsFile, 'utf8'));
}

/** Resolves with everything the child wrote once `marker` has appeared on its stdout. */
export function waitForOutput(child: ChildProcess, marker: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const onData = (chunk: Buffer) => {
      seen += chunk.toString('utf8');
      if (seen.includes(marker)) {
        child.stdout!.off('data', onData);
        resolve(seen);
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`exited (${code}) before printing ${marker}: ${seen}`)));
  });
}

export function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

/**
 * Types each answer on the terminal once its prompt has appeared (a string or a pattern, looked for
 * in what appeared since the previous answer); an answer may be computed from the screen so far.
 * Resolves with the exit and the whole screen.
 */
export async function answerPrompts(child: ChildProcess, answers: Array<[prompt: string | RegExp, typed: string | ((screen: string) => string)]>) {
  let screen = '';
  let searchFrom = 0;
  let next = 0;
  child.stdout!.on('data', (chunk: Buffer) => {
    screen += chunk.toString('utf8');
    const pending = answers[next];
    if (!pending) return;
    const rest = screen.slice(searchFrom);
    if (typeof pending[0] === 'string' ? rest.includes(pending[0]) : pending[0].test(rest)) {
      searchFrom = screen.length;
      next++;
      child.stdin!.write(typeof pending[1] === 'string' ? pending[1] : pending[1](screen));
    }
  });
  const exit = await exitOf(child);
  return { ...exit, screen };
}

/**
 * The newest mailed link (`kn_sgn_…`, `kn_inv_…`) to `to`: without SMTP the test server writes
 * mails to the outbox file in its data directory. Waits for the server's background work first.
 */
export async function mailedToken(harness: Harness, to: string, kind: 'sgn' | 'inv'): Promise<{ token: string; link: string }> {
  await harness.server.keynest.settled();
  // Invitation mails are not background work (the request does not wait for them): poll, up to 5 s.
  for (let i = 0; i < 250; i++) {
    let text = '';
    try {
      text = readFileSync(join(harness.server.dataDir, 'outbox.jsonl'), 'utf8');
    } catch {
      /* no mail yet */
    }
    const mail = text
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { to: string; text: string })
      .reverse()
      .find((m) => m.to === to && m.text.includes(`kn_${kind}_`));
    if (mail) {
      return { token: new RegExp(`kn_${kind}_[A-Za-z0-9_-]{43}`).exec(mail.text)![0], link: /^https?:\/\/\S+token=\S+$/m.exec(mail.text)![0] };
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`no kn_${kind}_ mail to ${to}`);
}

/** Whether any mail went to `to` (after the server's background work settled). */
export async function mailedTo(harness: Harness, to: string): Promise<boolean> {
  await harness.server.keynest.settled();
  try {
    return readFileSync(join(harness.server.dataDir, 'outbox.jsonl'), 'utf8').includes(`"to":${JSON.stringify(to)}`);
  } catch {
    return false;
  }
}

/** A request to the server with the session `keynest setup` stored (for settings the CLI has no command for). */
export async function asOwner(harness: Harness, method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${harness.server.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${readCredentialsFile(harness).accessToken}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: await res.json() };
}

/** Invites `email` as `role` and accepts on the invitee's own machine; gives the options to run as them. */
export async function joinByInvitation(h: Harness, email: string, role: string): Promise<CliOptions> {
  await h.ok(['invitations', 'create', email, '--role', role]);
  const home = h.dir(email.split('@')[0]!);
  const as = { env: { XDG_CONFIG_HOME: home, HOME: home, KEYNEST_SERVER: h.server.url }, stdin: 'Juniper-Comet-Basalt-7719\n' };
  await h.ok(['invitations', 'accept', (await mailedToken(h, email, 'inv')).token, '--password-stdin'], as);
  return as;
}
