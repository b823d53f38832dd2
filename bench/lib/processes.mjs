// Servers under test as child processes (bench/server-process.mjs), talked to by JSON lines.
import { spawn } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const benchDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;
const STDERR_KEPT_CHARS = 2000;

/**
 * Starts `server-process.mjs <kind> [...args]` and resolves once it prints its ready line.
 * The child's stderr is passed through (warnings and errors of the server are worth seeing).
 * `nodeArgs` go to node itself (e.g. --cpu-prof, or --import of an experiment's patch).
 */
export function startServerProcess(kind, args = [], { env = process.env, nodeArgs = [] } = {}) {
  const child = spawn(process.execPath, [...nodeArgs, path.join(benchDir, 'server-process.mjs'), kind, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env,
  });
  // Passed through (the server's warnings are worth seeing) and the end kept for error messages.
  let stderrTail = '';
  child.stderr.on('data', (d) => {
    process.stderr.write(d);
    stderrTail = (stderrTail + d).slice(-STDERR_KEPT_CHARS);
  });
  const lastWords = () => (stderrTail.trim() ? `: ${stderrTail.trim().split('\n').slice(-3).join(' | ')}` : '');
  const waiting = [];
  const early = [];
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    let msg;
    try {
      msg = JSON.parse(line);
    } catch {
      process.stderr.write(`[${kind}] ${line}\n`);
      return;
    }
    const next = waiting.shift();
    if (next) next.resolve(msg);
    else early.push(msg);
  });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  exited.then(({ code, signal }) => {
    for (const w of waiting.splice(0)) w.reject(new Error(`${kind} server process exited (code ${code}, signal ${signal})${lastWords()}`));
  });

  const nextMessage = (timeoutMs) =>
    new Promise((resolve, reject) => {
      if (early.length) return resolve(early.shift());
      if (child.exitCode !== null) return reject(new Error(`${kind} server process has exited (code ${child.exitCode})`));
      const timer = setTimeout(() => reject(new Error(`${kind} server process did not answer in ${timeoutMs} ms`)), timeoutMs);
      waiting.push({
        resolve: (m) => (clearTimeout(timer), resolve(m)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
    });

  const handle = {
    pid: child.pid,
    info: null,
    /** Sends one command line and waits for its one-line answer. */
    async command(line) {
      child.stdin.write(`${line}\n`);
      const answer = await nextMessage(STOP_TIMEOUT_MS);
      if (answer.error) throw new Error(`${kind} server process: ${answer.error}`);
      return answer;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      const result = await exited;
      clearTimeout(timer);
      if (result.code !== 0) throw new Error(`${kind} server process stopped with code ${result.code} (signal ${result.signal})${lastWords()}`);
    },
  };
  return nextMessage(START_TIMEOUT_MS).then(
    (ready) => {
      if (!ready.ready) throw new Error(`${kind} server process: unexpected first line ${JSON.stringify(ready)}`);
      handle.info = ready;
      return handle;
    },
    async (err) => {
      child.kill('SIGKILL');
      throw err;
    },
  );
}
