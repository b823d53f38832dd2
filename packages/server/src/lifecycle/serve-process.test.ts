import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, existsSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { eventually, startWebhookReceiver } from '../test-support/receivers.js';

// The real process: `runServer()` as `keynest serve` runs it, driven through signals and HTTP.
const serverIndex = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../index.js');
const pgUrl = process.env.KEYNEST_TEST_DATABASE_URL || undefined;
const schemas: string[] = [];

interface Running {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
  waitFor(pattern: RegExp): Promise<RegExpMatchArray>;
}

function start(dataDir: string, env: Record<string, string> = {}): Running {
  const schema = `p_${randomBytes(5).toString('hex')}`;
  if (pgUrl) schemas.push(schema);
  const child = spawn(process.execPath, ['--input-type=module', '-e', `import { runServer } from ${JSON.stringify(serverIndex)}; await runServer();`], {
    env: {
      PATH: process.env.PATH ?? '',
      KEYNEST_DATA_DIR: dataDir,
      KEYNEST_PORT: '0',
      KEYNEST_LOG_LEVEL: 'info',
      // No load balancer to wait for here (cluster/rolling-restart.test.ts tests the grace).
      KEYNEST_DRAIN_GRACE_MS: '0',
      ...(pgUrl ? { KEYNEST_DATABASE_URL: pgUrl, KEYNEST_DATABASE_SCHEMA: schema } : {}),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const waiters: { re: RegExp; resolve: (m: RegExpMatchArray) => void }[] = [];
  const check = () => {
    for (const w of [...waiters]) {
      const m = w.re.exec(out);
      if (m) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  };
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    check();
  });
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor: (re) =>
      new Promise((resolve, reject) => {
        waiters.push({ re, resolve });
        check();
        void exited.then(() => reject(new Error(`process exited before ${re}: ${err}`)));
      }),
  };
}

after(async () => {
  if (!pgUrl || schemas.length === 0) return;
  const client = new pg.Client({ connectionString: pgUrl });
  await client.connect();
  for (const s of schemas) await client.query(`DROP SCHEMA IF EXISTS ${client.escapeIdentifier(s)} CASCADE`);
  await client.end();
});

describe('keynest serve (the process)', () => {
  it('on first start creates a 0600 root key, prints a one-time setup token and writes it to a 0600 file', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'keynest-proc-'));
    const srv = start(dataDir);
    try {
      const [, url] = await srv.waitFor(/"url":"(http:\/\/127\.0\.0\.1:\d+)"/);
      const [, token] = await srv.waitFor(/--setup-token (kn_setup_[A-Za-z0-9_-]+)/);
      const keyFile = path.join(dataDir, 'root.key');
      assert.equal(statSync(keyFile).mode & 0o777, 0o600);
      assert.equal(Buffer.from(readFileSync(keyFile, 'utf8').trim(), 'base64').length, 32);
      if (!pgUrl) {
        // The database and its WAL are the owner's alone, like the directory that holds them.
        assert.equal(statSync(dataDir).mode & 0o777, 0o700);
        for (const f of ['keynest.db', 'keynest.db-wal']) assert.equal(statSync(path.join(dataDir, f)).mode & 0o777, 0o600, f);
      }
      const tokenFile = path.join(dataDir, 'setup-token');
      assert.equal(statSync(tokenFile).mode & 0o777, 0o600);
      assert.equal(readFileSync(tokenFile, 'utf8').trim(), token);
      assert.match(srv.stdout(), /BACK IT UP/);
      // The token is printed for the operator but never goes through the logger.
      const logLines = srv.stdout().split('\n').filter((l) => l.startsWith('{'));
      assert.ok(logLines.length > 0);
      assert.ok(!logLines.some((l) => l.includes(token!)), 'setup token in a log line');
      const health = await fetch(`${url}/healthz`);
      assert.equal(health.status, 200);
      const setup = await fetch(`${url}/api/v1/setup`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ setupToken: token, email: 'owner@example.com', password: 'a long enough password', orgName: 'Acme' }),
      });
      assert.equal(setup.status, 201);
      assert.equal(existsSync(tokenFile), false, 'setup-token file removed once used');
      srv.child.kill('SIGTERM');
      assert.equal(await srv.exited, 0);

      // A restart reuses the root key and, being set up, prints no new setup token.
      const again = start(dataDir, pgUrl ? { KEYNEST_DATABASE_SCHEMA: schemas.at(-1)! } : {});
      await again.waitFor(/"url":"(http:\/\/127\.0\.0\.1:\d+)"/);
      again.child.kill('SIGTERM');
      assert.equal(await again.exited, 0);
      assert.doesNotMatch(again.stdout(), /setup-token/);
      assert.doesNotMatch(again.stdout(), /created a new root key/);
    } finally {
      srv.child.kill('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('drains on SIGTERM: a request in flight completes, then the process exits 0 and refuses new connections', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'keynest-proc-'));
    const srv = start(dataDir);
    try {
      const [, url] = await srv.waitFor(/"url":"(http:\/\/127\.0\.0\.1:\d+)"/);
      const [, token] = await srv.waitFor(/--setup-token (kn_setup_[A-Za-z0-9_-]+)/);
      const body = JSON.stringify({ setupToken: token, email: 'owner@example.com', password: 'a long enough password', orgName: 'Acme' });
      // Send the headers and half the body, so the request is in flight when the signal arrives.
      const u = new URL(`${url}/api/v1/setup`);
      const answer = new Promise<{ status: number; text: string }>((resolve, reject) => {
        const req = http.request(
          { host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
          (res) => {
            let text = '';
            res.on('data', (d: Buffer) => (text += d.toString()));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
          },
        );
        req.on('error', reject);
        req.write(body.slice(0, 20));
        void srv.waitFor(/incoming request/).then(async () => {
          srv.child.kill('SIGTERM');
          await srv.waitFor(/shutting down/);
          req.end(body.slice(20));
        });
      });
      const res = await answer;
      assert.equal(res.status, 201, res.text);
      assert.equal(await srv.exited, 0);
      await assert.rejects(fetch(`${url}/healthz`));
    } finally {
      srv.child.kill('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('killed (SIGKILL) while its audit webhook is down, the next start delivers what waited, from the cursor; SIGHUP does not end it', async (t) => {
    const receiver = await startWebhookReceiver();
    t.after(() => receiver.close());
    const dataDir = mkdtempSync(path.join(tmpdir(), 'keynest-proc-'));
    const env = {
      KEYNEST_AUDIT_SINK_WEBHOOK_URL: receiver.url,
      KEYNEST_AUDIT_SINK_WEBHOOK_SECRET: 'crash-test-webhook-secret-0123456789',
      KEYNEST_WEBHOOK_ALLOW_HTTP: 'true',
      KEYNEST_AUDIT_SINK_RETRY_MIN_MS: '10',
      KEYNEST_AUDIT_SINK_RETRY_MAX_MS: '100',
      KEYNEST_AUDIT_SINK_FILE: path.join(dataDir, 'audit', 'keynest-audit.jsonl'),
    };
    const srv = start(dataDir, env);
    let again: Running | undefined;
    const ids = (deliveries: typeof receiver.deliveries) => deliveries.flatMap((d) => (JSON.parse(d.body) as { records: { id: number }[] }).records.map((r) => r.id));
    try {
      const [, url] = await srv.waitFor(/"url":"(http:\/\/127\.0\.0\.1:\d+)"/);
      const [, token] = await srv.waitFor(/--setup-token (kn_setup_[A-Za-z0-9_-]+)/);
      const setup = await fetch(`${url}/api/v1/setup`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ setupToken: token, email: 'owner@example.com', password: 'a long enough password', orgName: 'Acme' }),
      });
      assert.equal(setup.status, 201);
      const { accessToken } = (await setup.json()) as { accessToken: string };
      await eventually(() => receiver.accepted().length > 0, 'the first records');
      receiver.respond = () => 503;
      const created = await fetch(`${url}/api/v1/projects`, { method: 'POST', headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' }, body: '{"name":"app"}' });
      assert.equal(created.status, 201, 'a request succeeds while the sink is down');
      await eventually(() => receiver.deliveries.some((d) => d.status === 503), 'a refused delivery');
      srv.child.kill('SIGKILL');
      await srv.exited;
      const waiting = ids(receiver.deliveries.filter((d) => d.status === 503));
      const deliveredBefore = new Set(ids(receiver.deliveries.filter((d) => d.status === 200)));
      assert.ok(waiting.some((id) => !deliveredBefore.has(id)), 'records were waiting when the process died');

      receiver.respond = () => 200;
      again = start(dataDir, { ...env, ...(pgUrl ? { KEYNEST_DATABASE_SCHEMA: schemas.at(-1)! } : {}) });
      const [, url2] = await again.waitFor(/"url":"(http:\/\/127\.0\.0\.1:\d+)"/);
      // PostgreSQL: the killed process's lease on the sink lapses first (30 s); SQLite takes it over at once.
      await eventually(() => waiting.every((id) => receiver.accepted().some((r) => r.id === id)), 'the records that waited', pgUrl ? 45_000 : 5000);
      const seen = [...new Set(receiver.accepted().map((r) => Number(r.id)))];
      assert.deepEqual(seen, Array.from({ length: seen.length }, (_, i) => i + 1), 'every record, in order, none missing');
      // logrotate's habit: SIGHUP reopens the file sink; the process lives on.
      again.child.kill('SIGHUP');
      assert.equal((await fetch(`${url2}/healthz`)).status, 200);
      again.child.kill('SIGTERM');
      assert.equal(await again.exited, 0);
    } finally {
      srv.child.kill('SIGKILL');
      again?.child.kill('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('a bad setting stops start-up with one line naming the variable', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'keynest-proc-'));
    try {
      for (const [name, value] of [
        ['KEYNEST_PORT', 'eighty'],
        ['KEYNEST_ROOT_KEY', 'c2hvcnQ='],
        ['KEYNEST_LOG_LEVEL', 'loud'],
        ['KEYNEST_GEOIP_DB', path.join(dataDir, 'no-such-GeoLite2-City.mmdb')],
      ] as const) {
        const srv = start(dataDir, { [name]: value });
        assert.equal(await srv.exited, 78);
        const lines = srv.stderr().trim().split('\n');
        assert.equal(lines.length, 1, srv.stderr());
        assert.match(lines[0]!, new RegExp(`^keynest: invalid setting ${name}: `));
      }
      const dbUrl = start(dataDir, { KEYNEST_DATABASE_URL: 'mysql://user:hunter2secret@db/x' });
      assert.equal(await dbUrl.exited, 78);
      assert.match(dbUrl.stderr(), /KEYNEST_DATABASE_URL/);
      assert.doesNotMatch(dbUrl.stderr(), /hunter2secret/);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
