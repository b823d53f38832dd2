import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';

/** The machine's Redis (started by the machine, or by .ci/run). */
export const SHARED_REDIS_URL = process.env.KEYNEST_TEST_REDIS_URL || 'redis://127.0.0.1:6379';

/** Answers PING within `timeoutMs`? A bare RESP exchange: no client library state to clean up. */
export function redisAnswers(url: string, timeoutMs = 2000): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect({ host: u.hostname, port: Number(u.port || 6379) });
    let text = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (d: Buffer) => {
      text += d.toString();
      if (text.includes('\r\n')) done(text.startsWith('+PONG'));
    });
  });
}

/**
 * The shared Redis for a test file, or a reason to skip it. In CI (CI=true) an unreachable Redis
 * is an error, not a skip: .ci/run starts it, so a skip there would hide a broken cluster.
 */
export async function sharedRedisOrSkip(): Promise<{ url: string; skip: false } | { url: undefined; skip: string }> {
  if (await redisAnswers(SHARED_REDIS_URL)) return { url: SHARED_REDIS_URL, skip: false };
  const message = `Redis at ${new URL(SHARED_REDIS_URL).host} is unreachable`;
  if (process.env.CI === 'true' || process.env.CI === '1') throw new Error(`${message}, and CI requires the cluster tests to run (.ci/run starts it)`);
  return { url: undefined, skip: `${message}: start it (redis-server) to run the cluster tests` };
}

/** A key prefix of its own per test, so that runs sharing one Redis never see each other's keys. */
export function redisPrefix(): string {
  return `t_${randomBytes(6).toString('hex')}:`;
}

export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

/** A redis-server of the test's own on a free port, to stop and start without touching the shared one. */
export interface PrivateRedis {
  url: string;
  /** Kills it (as a crash or a network cut would look to the instances). */
  stop(): Promise<void>;
  /** Starts it again on the same port, empty. */
  start(): Promise<void>;
}

export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | null = null;
  const start = async () => {
    const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    child = proc;
    const spawnFailed = new Promise<never>((_, reject) => proc.once('error', (err) => reject(new Error(`redis-server could not be started (apt-get install redis-server): ${err.message}`))));
    const until = Date.now() + 10_000;
    for (;;) {
      const up = await Promise.race([redisAnswers(url, 500), spawnFailed]);
      if (up) return;
      if (Date.now() > until) throw new Error('redis-server did not answer within 10 s');
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const stop = async () => {
    const proc = child;
    child = null;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGKILL');
    await exited;
  };
  await start();
  return { url, stop, start };
}
