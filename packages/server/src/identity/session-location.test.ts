import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigError } from '../errors.js';
import type { TestServer } from '../testing.js';
import { api, OWNER, setupOwner, type Api } from '../test-support/api.js';
import { cityRecord, writeMmdbFile } from '../test-support/mmdb.js';
import { startServer } from '../test-support/server.js';
import { startServerWithMail, startSmtpServer, type ReceivedMail } from '../test-support/smtp.js';

const BERLIN = { countryCode: 'DE', country: 'Germany', city: 'Berlin' };
const TOKYO = { countryCode: 'JP', country: 'Japan', city: 'Tokyo' };

interface Listed {
  current: boolean;
  ip: string | null;
  location: unknown;
}

/** Signs in as the owner "from" `ip` (through the trusted proxy on loopback), with its own user agent. */
async function signInFrom(srv: TestServer, ip: string | null, userAgent: string): Promise<Api> {
  const headers: Record<string, string> = { 'user-agent': userAgent, ...(ip === null ? {} : { 'x-forwarded-for': ip }) };
  const res = await api(srv)('POST', '/api/v1/auth/login', { email: OWNER.email, password: OWNER.password }, { headers });
  assert.equal(res.status, 200, res.text);
  return api(srv, res.body.accessToken);
}

async function currentSession(call: Api): Promise<Listed> {
  const res = await call('GET', '/api/v1/me/sessions');
  assert.equal(res.status, 200, res.text);
  const current = (res.body.sessions as Listed[]).find((s) => s.current);
  assert.ok(current, res.text);
  return current;
}

/** Mails are sent after the sign-in answered: wait for the one to `ip`'s sign-in. */
async function signInMail(received: ReceivedMail[], ip: string): Promise<ReceivedMail> {
  for (let i = 0; i < 200; i++) {
    const m = received.find((r) => r.body.includes(`IP address: ${ip}\n`));
    if (m) return m;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail(`no sign-in mail for ${ip}: ${received.map((r) => r.body).join('\n---\n')}`);
}

describe('session locations from a GeoIP database (KEYNEST_GEOIP_DB)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'keynest-geo-'));
  let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
  let srv: TestServer;
  before(async () => {
    const db = writeMmdbFile(dir, 'GeoLite2-City.mmdb', [
      { network: '203.0.113.0/24', record: cityRecord(BERLIN) },
      { network: '2001:db8:1::/48', record: cityRecord({ ...TOKYO, continent: 'AS' }) },
    ]);
    ({ srv, smtp } = await startServerWithMail({ env: { KEYNEST_GEOIP_DB: db, KEYNEST_TRUST_PROXY: '127.0.0.1' } }));
    await setupOwner(srv);
  });
  after(async () => {
    await srv.close();
    await smtp.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a sign-in from an address the database knows lists its location, and keeps it in the session row', async () => {
    const berlin = await currentSession(await signInFrom(srv, '203.0.113.7', 'geo-test/berlin'));
    assert.equal(berlin.ip, '203.0.113.7');
    assert.deepEqual(berlin.location, BERLIN);
    const tokyo = await currentSession(await signInFrom(srv, '2001:db8:1::5', 'geo-test/tokyo'));
    assert.deepEqual(tokyo.location, TOKYO);
    const row = await srv.db.selectFrom('sessions').select('location').where('ip', '=', '203.0.113.7').executeTakeFirstOrThrow();
    assert.deepEqual(JSON.parse(row.location!), BERLIN);
  });

  it('an address the database does not know (or loopback, or private) has no location', async () => {
    for (const [ip, ua] of [
      ['198.51.100.1', 'geo-test/unknown'],
      ['10.1.2.3', 'geo-test/private'],
      [null, 'geo-test/loopback'],
    ] as const) {
      assert.equal((await currentSession(await signInFrom(srv, ip, ua))).location, null, String(ip));
    }
  });

  it('the sessions list shows every session with its own location', async () => {
    const res = await (await signInFrom(srv, '203.0.113.8', 'geo-test/list'))('GET', '/api/v1/me/sessions');
    const byIp = new Map((res.body.sessions as Listed[]).map((s) => [s.ip, s.location]));
    assert.deepEqual(byIp.get('203.0.113.8'), BERLIN);
    assert.deepEqual(byIp.get('2001:db8:1::5'), TOKYO);
    assert.equal(byIp.get('198.51.100.1'), null);
  });

  it('the new-sign-in mail says where the sign-in came from, when that is known', async () => {
    await signInFrom(srv, '203.0.113.9', 'geo-test/mail');
    const placed = await signInMail(smtp.received, '203.0.113.9');
    assert.match(placed.body, /^Location: {3}Berlin, Germany \(DE\), estimated from the IP address$/m);
    const unplaced = await signInMail(smtp.received, '198.51.100.1');
    assert.doesNotMatch(unplaced.body, /Location/);
  });
});

describe('without KEYNEST_GEOIP_DB', () => {
  let srv: TestServer;
  after(() => srv.close());
  it('sessions have no location, whatever the address', async () => {
    srv = await startServer({ env: { KEYNEST_TRUST_PROXY: '127.0.0.1' } });
    await setupOwner(srv);
    assert.equal((await currentSession(await signInFrom(srv, '203.0.113.7', 'geo-test/none'))).location, null);
  });
});

describe('a KEYNEST_GEOIP_DB that is not a usable database', () => {
  it('stops the start with a message naming the variable', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'keynest-geo-bad-'));
    try {
      const notMmdb = path.join(dir, 'GeoLite2-City.mmdb');
      writeFileSync(notMmdb, 'this is not a database');
      for (const file of [notMmdb, path.join(dir, 'missing.mmdb')]) {
        await assert.rejects(startServer({ dataDir: dir, env: { KEYNEST_GEOIP_DB: file } }), (err: unknown) => {
          assert.ok(err instanceof ConfigError, String(err));
          assert.equal(err.variable, 'KEYNEST_GEOIP_DB');
          assert.match(err.message, /^KEYNEST_GEOIP_DB: /);
          assert.ok(err.message.includes(file) && !err.message.includes('\n'), err.message);
          return true;
        });
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
