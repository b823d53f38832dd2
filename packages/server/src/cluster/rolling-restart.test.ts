import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { api, setupOwner } from '../test-support/api.js';
import { clusterSkip, pollUntil } from '../test-support/cluster.js';
import { createProject, createToken, putSecret, secretsPath } from '../test-support/fixtures.js';
import { startLoadBalancer } from '../test-support/load-balancer.js';
import { freePort, redisPrefix, sharedRedisOrSkip } from '../test-support/redis.js';

// Real `keynest serve` processes (runServer, as the CLI runs it), so that SIGTERM is the signal a
// rolling restart sends, behind a round-robin load balancer, under continuous load.
const shared = clusterSkip ? { url: undefined, skip: clusterSkip } : await sharedRedisOrSkip();
const serverIndex = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../index.js');
const pgUrl = process.env.KEYNEST_TEST_DATABASE_URL;
const CONCURRENCY = 8;

interface Instance {
  port: number;
  child: ChildProcess;
  exited: Promise<number | null>;
  /** The latest output (a window: under load the request log is long). */
  output(): string;
}

function spawnInstance(port: number, env: Record<string, string>, dataDir: string): Promise<Instance & { setupToken: string | undefined }> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', `import { runServer } from ${JSON.stringify(serverIndex)}; await runServer();`], {
    env: { PATH: process.env.PATH ?? '', KEYNEST_DATA_DIR: dataDir, KEYNEST_PORT: String(port), KEYNEST_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const take = (d: Buffer) => {
    out = (out + d.toString()).slice(-65536);
  };
  child.stdout!.on('data', take);
  child.stderr!.on('data', take);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const instance: Instance = { port, child, exited, output: () => out };
  return (async () => {
    await pollUntil(
      async () => {
        if (child.exitCode !== null) throw new Error(`instance on ${port} exited at start: ${out}`);
        const res = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null);
        return res?.status === 200;
      },
      `instance on port ${port} ready`,
      30_000,
    );
    return { ...instance, setupToken: /--setup-token (kn_setup_[A-Za-z0-9_-]+)/.exec(out)?.[1] };
  })();
}

describe('a rolling restart of two instances under load', { skip: shared.skip }, () => {
  const schema = `r_${randomBytes(5).toString('hex')}`;
  const dirs: string[] = [];
  const running: Instance[] = [];
  after(async () => {
    for (const i of running) i.child.kill('SIGKILL');
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    if (!pgUrl) return;
    const client = new pg.Client({ connectionString: pgUrl });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS ${client.escapeIdentifier(schema)} CASCADE`);
    await client.end();
  });

  it('SIGTERM drains one instance at a time: /readyz turns 503, answers say Connection: close, exit 0; not one request fails', async (t) => {
    const t0 = Date.now();
    const mark = (what: string) => t.diagnostic(`${what} at ${Date.now() - t0} ms`);
    const env = {
      KEYNEST_DATABASE_URL: pgUrl!,
      KEYNEST_DATABASE_SCHEMA: schema,
      KEYNEST_ROOT_KEY: randomBytes(32).toString('base64'),
      KEYNEST_REDIS_URL: shared.url!,
      KEYNEST_REDIS_PREFIX: redisPrefix(),
      KEYNEST_DRAIN_GRACE_MS: '1000',
    };
    const ports = [await freePort(), await freePort()];
    const dataDir = () => {
      const d = mkdtempSync(path.join(tmpdir(), 'keynest-roll-'));
      dirs.push(d);
      return d;
    };
    const start = async (port: number) => {
      const instance = await spawnInstance(port, env, dataDir());
      running.push(instance);
      return instance;
    };
    const first = await start(ports[0]!);
    const owner = api({ url: `http://127.0.0.1:${first.port}` }, await setupOwner({ url: `http://127.0.0.1:${first.port}`, setupToken: first.setupToken! }));
    await createProject(owner, 'app');
    await putSecret(owner, 'app', 'development', 'KEY', 'rolling-value');
    const { token } = await createToken(owner, { project: 'app', environment: 'development', access: 'read' });
    mark('first set up');
    const instances = [first, await start(ports[1]!)];
    mark('second started');

    const lb = await startLoadBalancer(ports);
    const failures: string[] = [];
    let ok = 0;
    let stop = false;
    const loops = Array.from({ length: CONCURRENCY }, async () => {
      while (!stop) {
        try {
          const res = await fetch(`${lb.url}${secretsPath('app', 'development', 'KEY')}`, { headers: { authorization: `Bearer ${token}` } });
          const body = await res.text();
          if (res.status === 200 && body.includes('rolling-value')) ok++;
          else failures.push(`${res.status} ${body.slice(0, 200)}`);
        } catch (err) {
          failures.push(`client error: ${(err as Error).message}`);
        }
      }
    });
    const served = (port: number) => lb.answered.get(port) ?? 0;
    const moreServed = async (port: number, n: number) => {
      const target = served(port) + n;
      await pollUntil(async () => served(port) >= target || failures.length > 0, `${n} more answers from ${port}`, 30_000);
    };

    try {
      await moreServed(ports[0]!, 50);
      await moreServed(ports[1]!, 50);
      for (let i = 0; i < 2; i++) {
        const port = ports[i]!;
        const old = instances[i]!;
        const closingBefore = lb.closing.get(port) ?? 0;
        old.child.kill('SIGTERM');
        // Draining: the load balancer's probe sees 503 while the instance still answers.
        await pollUntil(async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null))?.status === 503, 'readyz 503 while draining', 5000);
        assert.equal(await old.exited, 0, old.output());
        mark(`instance ${i} exited`);
        assert.ok((lb.closing.get(port) ?? 0) > closingBefore, 'answers during the drain asked the load balancer to close its connections');
        await moreServed(ports[1 - i]!, 50);
        instances[i] = await start(port);
        mark(`instance ${i} restarted`);
        await moreServed(port, 50);
        mark(`instance ${i} served 50 more`);
      }
    } finally {
      stop = true;
      await Promise.all(loops);
      await lb.close();
      for (const i of instances) {
        i.child.kill('SIGTERM');
        await i.exited;
      }
    }
    t.diagnostic(`${ok} answered; retried: ${JSON.stringify([...lb.retried])}`);
    assert.deepEqual(failures.slice(0, 5), [], `${failures.length} of ${ok + failures.length} requests failed`);
    assert.ok(ok >= 300, `only ${ok} requests`);
  });
});
