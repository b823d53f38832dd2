import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestServer } from '../testing.js';
import { api, OWNER, setupOwner, type Api } from '../test-support/api.js';
import { manualClock } from '../test-support/clock.js';
import { startServer } from '../test-support/server.js';
import { startServerWithMail, startSmtpServer, type ReceivedMail } from '../test-support/smtp.js';
import { oathtool } from '../test-support/totp.js';

const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';

/** Mails are sent after the request answered: wait until `count` have arrived. */
async function mails(received: ReceivedMail[], count: number): Promise<ReceivedMail[]> {
  for (let i = 0; i < 100 && received.length < count; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(received.length, count, `expected ${count} mails, got: ${received.map((m) => m.headers.get('subject')).join(' | ')}`);
  return received;
}

describe('security notices by mail (real SMTP server in-process)', () => {
  const clock = manualClock();
  let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
  let srv: TestServer;
  let owner: Api;
  const login = (body: Record<string, unknown>, ua = FIREFOX) => api(srv)('POST', '/api/v1/auth/login', body, { headers: { 'user-agent': ua } });

  before(async () => {
    ({ srv, smtp } = await startServerWithMail({ clock, env: { KEYNEST_MAIL_FROM: 'keynest@example.test', KEYNEST_STEP_UP_S: '86400' } }));
    owner = api(srv, await setupOwner(srv));
  });
  after(async () => {
    await srv.close();
    await smtp.close();
  });

  it('a sign-in from a new device mails the user; the same device again does not', async () => {
    assert.equal((await login({ email: OWNER.email, password: OWNER.password })).status, 200);
    const [m] = await mails(smtp.received, 1);
    assert.deepEqual(m!.rcptTo, [OWNER.email]);
    assert.match(m!.headers.get('subject') ?? '', /sign-in/i);
    assert.match(m!.body, /Firefox on Linux/);
    assert.match(m!.body, /127\.0\.0\.1/);
    assert.equal((await login({ email: OWNER.email, password: OWNER.password })).status, 200);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(smtp.received.length, 1, 'no mail for a known device');
  });

  it('a lock mails the account owner; locking an unknown email mails nobody', async () => {
    for (let i = 0; i < 5; i++) await login({ email: OWNER.email, password: `wrong-${i}` });
    const all = await mails(smtp.received, 2);
    assert.match(all[1]!.headers.get('subject') ?? '', /lock/i);
    for (let i = 0; i < 5; i++) await login({ email: 'nobody@example.com', password: `wrong-${i}` });
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(smtp.received.length, 2);
    clock.advance(15 * 60_000);
  });

  it('2FA on, a backup code used, 2FA off and a password change each mail the user, without codes or passwords', async () => {
    const enrol = await owner('POST', '/api/v1/me/2fa/totp');
    const confirmed = await owner('POST', '/api/v1/me/2fa/totp/confirm', { code: oathtool(enrol.body.secret, clock()) });
    const codes: string[] = confirmed.body.backupCodes;
    await mails(smtp.received, 3);
    assert.equal((await login({ email: OWNER.email, password: OWNER.password, backupCode: codes[0] })).status, 200);
    const used = (await mails(smtp.received, 4))[3]!;
    assert.match(used.body, /9/, 'says how many backup codes are left');
    assert.equal((await owner('POST', '/api/v1/me/2fa/disable', { password: OWNER.password, backupCode: codes[1] })).status, 204);
    await mails(smtp.received, 5);
    const next = 'Granite-Pelican-Harbor-7731';
    assert.equal((await owner('POST', '/api/v1/me/password', { currentPassword: OWNER.password, newPassword: next })).status, 200);
    const all = await mails(smtp.received, 6);
    const subjects = all.map((m) => m.headers.get('subject') ?? '');
    assert.match(subjects[2]!, /two-factor/i);
    assert.match(subjects[4]!, /two-factor/i);
    assert.match(subjects[5]!, /password/i);
    const everything = all.map((m) => `${[...m.headers.values()].join('\n')}\n${m.body}`).join('\n');
    for (const secret of [OWNER.password, next, enrol.body.secret, ...codes]) assert.ok(!everything.includes(secret), 'no mail carries a password, seed or code');
  });

  it('the log records that mails were sent, never their content', () => {
    const log = srv.logText();
    assert.match(log, /mail sent/);
    for (const m of smtp.received) assert.ok(!log.includes(m.headers.get('subject') ?? '\u0000'), 'no subject in the log');
  });
});

describe('without SMTP, mails go to the outbox file', () => {
  let srv: TestServer;
  after(() => srv.close());
  it('appends JSON lines to <data-dir>/outbox.jsonl, mode 0600', async () => {
    srv = await startServer();
    await setupOwner(srv);
    assert.equal((await api(srv)('POST', '/api/v1/auth/login', { email: OWNER.email, password: OWNER.password }, { headers: { 'user-agent': FIREFOX } })).status, 200);
    const file = path.join(srv.dataDir, 'outbox.jsonl');
    let text = '';
    for (let i = 0; i < 100 && !text; i++) {
      await new Promise((r) => setTimeout(r, 20));
      try {
        text = readFileSync(file, 'utf8');
      } catch {
        // not written yet
      }
    }
    const lines = text.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines.length, 1);
    assert.equal(lines[0].to, OWNER.email);
    assert.equal(lines[0].kind, 'new_sign_in');
    assert.equal(statSync(file).mode & 0o777, 0o600);
  });
});
