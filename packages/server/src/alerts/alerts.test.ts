import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestServer } from '../testing.js';
import { addMember, createProject, putSecret, secretsPath } from '../test-support/fixtures.js';
import { api, assertError, OWNER, setupOwner, signIn, type Api } from '../test-support/api.js';
import { cityRecord, writeMmdbFile } from '../test-support/mmdb.js';
import { startServerWithMail, type ReceivedMail, type startSmtpServer } from '../test-support/smtp.js';
import { oathtool } from '../test-support/totp.js';
import { webhookSignature } from '../audit/sinks/webhook.js';
import { eventually, startWebhookReceiver } from '../test-support/receivers.js';
import { alertsCaughtUp } from './test-util.js';

const ADMIN = { email: 'admin@example.com', password: 'Harbor-Violet-Engine-3307' };
const DEV = { email: 'dev@example.com', password: 'Saffron-Kettle-Orbit-8841' };
const VIEWER = { email: 'viewer@example.com', password: 'Lumen-Cobalt-Ridge-2290' };

interface Alert {
  id: string;
  rule: string;
  subject: string;
  summary: string;
  details: Record<string, unknown>;
  count: number;
}

describe('security alerts on the audit stream', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'keynest-alerts-'));
  let srv: TestServer;
  let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
  let owner: Api;
  let orgId: string;

  /** Sign-in attempts "from" an address, through the trusted proxy on loopback. */
  const attempt = (email: string, password: string, ip: string) => api(srv)('POST', '/api/v1/auth/login', { email, password }, { headers: { 'x-forwarded-for': ip } });
  const alerts = async (rule?: string): Promise<Alert[]> => {
    await alertsCaughtUp(srv);
    const res = await owner('GET', `/api/v1/alerts${rule ? `?rule=${rule}` : ''}`);
    assert.equal(res.status, 200, res.text);
    return res.body.alerts as Alert[];
  };
  const alertMails = async (): Promise<ReceivedMail[]> => {
    await alertsCaughtUp(srv);
    // Mails go out after the alert committed: give the SMTP round trip a moment.
    for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 10));
    return [...smtp.alerts];
  };

  before(async () => {
    const geo = writeMmdbFile(dir, 'GeoLite2-City.mmdb', [
      { network: '198.51.100.0/24', record: cityRecord({ countryCode: 'DE', country: 'Germany', city: 'Berlin' }) },
      { network: '192.0.2.0/24', record: cityRecord({ countryCode: 'JP', country: 'Japan', city: 'Tokyo' }) },
    ]);
    ({ srv, smtp } = await startServerWithMail({
      env: {
        KEYNEST_GEOIP_DB: geo,
        KEYNEST_TRUST_PROXY: '127.0.0.1',
        KEYNEST_LOCKOUT_THRESHOLD: '15',
        KEYNEST_LOGIN_RATE_IP: '1000/60',
        KEYNEST_LOGIN_RATE_ACCOUNT_IP: '1000/60',
        KEYNEST_WEBHOOK_ALLOW_HTTP: 'true',
        KEYNEST_WEBHOOK_ALLOW_PRIVATE: 'true',
      },
    }));
    owner = api(srv, await setupOwner(srv));
    orgId = (await owner('GET', '/api/v1/me')).body.principal.org.id;
    const now = Date.now();
    await addMember(srv.db, { orgId, role: 'admin', ...ADMIN, now });
    await addMember(srv.db, { orgId, role: 'developer', ...DEV, now });
    await addMember(srv.db, { orgId, role: 'viewer', ...VIEWER, now });
  });
  after(async () => {
    await srv.close();
    await smtp.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('more than 10 failed sign-ins from one address: one alert per rule, mailed to owners and admins once, repeats counted', async () => {
    for (let i = 0; i < 11; i++) assertError(await attempt(DEV.email, `wrong-password-${i}`, '203.0.113.50'), 401, 'invalid_credentials');
    const byIp = await alerts('failed_sign_ins_ip');
    assert.equal(byIp.length, 1);
    assert.equal(byIp[0]!.subject, '203.0.113.50');
    assert.equal(byIp[0]!.summary, '11 failed sign-ins from 203.0.113.50 within 5 minutes');
    assert.equal(byIp[0]!.count, 1);
    assert.equal((await alerts('failed_sign_ins')).length, 1, 'and the org-wide count fired too');

    const mails = await alertMails();
    assert.deepEqual(mails.flatMap((m) => m.rcptTo).sort(), [ADMIN.email, ADMIN.email, OWNER.email, OWNER.email], 'owners and admins, not the developer');
    const ipMail = mails.find((m) => m.headers.get('subject') === 'KeyNest security alert: failed_sign_ins_ip')!;
    assert.match(ipMail.body, /11 failed sign-ins from 203\.0\.113\.50 within 5 minutes/);
    assert.ok(!mails.some((m) => m.body.includes('wrong-password')), 'a tried password in a mail');

    // Three more: the same alerts, counted, not mailed again.
    for (let i = 0; i < 3; i++) assertError(await attempt(DEV.email, `wrong-again-${i}`, '203.0.113.50'), 401, 'invalid_credentials');
    const again = await alerts('failed_sign_ins_ip');
    assert.equal(again.length, 1);
    assert.equal(again[0]!.count, 4);
    assert.equal((await alertMails()).length, mails.length);

    // Recorded in the audit log (once per alert, not per repeat), and never about a tried password.
    const fired = await srv.db.selectFrom('audit_events').selectAll().where('action', '=', 'alert.fire').execute();
    assert.deepEqual(fired.map((r) => [r.actor_type, r.target_name, r.org_id]).sort(), [['system', 'failed_sign_ins', orgId], ['system', 'failed_sign_ins_ip', orgId]].sort());
    assert.ok(!JSON.stringify(await alerts()).includes('wrong-'), 'a tried password in an alert');
  });

  it('a lockout fires its own alert', async () => {
    // The developer has 14 failures behind them; the 15th locks the account.
    assertError(await attempt(DEV.email, 'wrong-last', '203.0.113.51'), 401, 'invalid_credentials');
    const locked = await alerts('lockout');
    assert.equal(locked.length, 1);
    assert.equal(locked[0]!.summary, `Account ${DEV.email} locked after failed sign-ins`);
  });

  it('sign-ins at accounts that do not exist belong to no org: no org alert', async () => {
    const before = (await alerts()).length;
    for (let i = 0; i < 12; i++) assertError(await attempt(`ghost-${i}@example.com`, 'whatever-pass', '203.0.113.60'), 401, 'invalid_credentials');
    assert.equal((await alerts()).length, before);
  });

  it('an admin token, an admin turning 2FA off and an allowlist change each fire; a read-only token does not; the org webhook gets each, signed', async (t) => {
    const receiver = await startWebhookReceiver();
    t.after(() => receiver.close());
    const sink = await owner('POST', '/api/v1/audit/sinks', { url: receiver.url, label: 'alerts' });
    assert.equal(sink.status, 201, sink.text);
    const signingSecret = sink.body.secret as string;
    await createProject(owner, 'app');
    const token = (type: string) => owner('POST', '/api/v1/tokens', { name: `t-${type}`, type, scope: [{ project: 'app' }], expiresInSeconds: 3600 });
    assert.equal((await token('read-only')).status, 201);
    assert.equal((await alerts('admin_token_created')).length, 0);
    const admin = await token('admin');
    assert.equal(admin.status, 201, admin.text);
    const tokenAlerts = await alerts('admin_token_created');
    assert.equal(tokenAlerts.length, 1);
    assert.equal(tokenAlerts[0]!.summary, `Admin API token "t-admin" created by ${OWNER.email}`);
    assert.ok(!JSON.stringify(tokenAlerts).includes(admin.body.token), 'the token itself in an alert');

    const asAdmin = api(srv, await signIn(srv, ADMIN));
    const secret = (await asAdmin('POST', '/api/v1/me/2fa/totp')).body.secret as string;
    assert.equal((await asAdmin('POST', '/api/v1/me/2fa/totp/confirm', { code: oathtool(secret) })).status, 200);
    // The next step's code: the one just used for confirming may not be used twice.
    const off = await asAdmin('POST', '/api/v1/me/2fa/disable', { password: ADMIN.password, totp: oathtool(secret, Date.now() + 30_000) });
    assert.equal(off.status, 204, off.text);
    const twoFactor = await alerts('admin_2fa_disabled');
    assert.equal(twoFactor.length, 1);
    assert.equal(twoFactor[0]!.summary, `Two-factor authentication turned off for admin ${ADMIN.email}`);

    assert.equal((await owner('POST', '/api/v1/org/allowlist/entries', { cidr: '10.0.0.0/8' })).status, 201);
    const allowlist = await alerts('allowlist_changed');
    assert.equal(allowlist.length, 1);
    assert.equal(allowlist[0]!.summary, `IP allowlist changed by ${OWNER.email} (entry_added)`);

    // The org's webhook got each alert once, in a body signed like its audit deliveries.
    await eventually(() => posted().length === 3, 'three alerts at the webhook');
    assert.deepEqual(posted().map((p) => p.alert.rule), ['admin_token_created', 'admin_2fa_disabled', 'allowlist_changed']);
    for (const d of receiver.deliveries.filter((x) => JSON.parse(x.body).alert)) {
      const t = /^t=(\d+),/.exec(String(d.headers['x-keynest-signature']))![1]!;
      assert.equal(d.headers['x-keynest-signature'], webhookSignature(signingSecret, Number(t), d.body));
    }
    assert.ok(!receiver.deliveries.some((d) => d.body.includes(admin.body.token)), 'the admin token itself at the webhook');
    function posted(): { sink: string; alert: Alert }[] {
      return receiver.deliveries.map((d) => JSON.parse(d.body) as { sink: string; alert?: Alert }).filter((b): b is { sink: string; alert: Alert } => b.alert !== undefined);
    }
  });

  it('a sign-in from a country the member never signed in from before', async () => {
    const first = await attempt(VIEWER.email, VIEWER.password, '198.51.100.7');
    assert.equal(first.status, 200, first.text);
    assert.equal((await attempt(VIEWER.email, VIEWER.password, '198.51.100.8')).status, 200);
    assert.equal((await alerts('new_country')).length, 0, 'the first country is where a member starts');
    assert.equal((await attempt(VIEWER.email, VIEWER.password, '192.0.2.9')).status, 200);
    const found = await alerts('new_country');
    assert.equal(found.length, 1);
    assert.equal(found[0]!.summary, `${VIEWER.email} signed in from Japan for the first time`);
  });

  it('more than 20 refused requests in a minute', async () => {
    await putSecret(owner, 'app', 'production', 'API_KEY', 'alert-denied-value');
    const viewer = api(srv, await signIn(srv, VIEWER));
    for (let i = 0; i < 21; i++) assertError(await viewer('GET', secretsPath('app', 'production', 'API_KEY')), 403, 'forbidden');
    const denied = await alerts('permission_denials');
    assert.equal(denied.length, 1);
    assert.equal(denied[0]!.summary, '21 refused requests within 1 minute');
    assert.ok(!JSON.stringify(denied).includes('alert-denied-value'));
  });

  it('an org tunes its rules: threshold and window, on and off, recorded; bad changes refused', async () => {
    const rules = (await owner('GET', '/api/v1/alerts/rules')).body.rules as { rule: string; enabled: boolean; threshold: number | null; windowS: number | null; custom: boolean }[];
    assert.deepEqual(rules.find((r) => r.rule === 'failed_sign_ins_ip'), { rule: 'failed_sign_ins_ip', description: 'More than THRESHOLD failed sign-ins to the org from one IP address within WINDOW', enabled: true, threshold: 10, windowS: 300, custom: false });

    const set = await owner('PUT', '/api/v1/alerts/rules/failed_sign_ins_ip', { threshold: 2, windowS: 60 });
    assert.equal(set.status, 200, set.text);
    assert.deepEqual([set.body.rule.threshold, set.body.rule.windowS, set.body.rule.custom], [2, 60, true]);
    for (let i = 0; i < 3; i++) assertError(await attempt(ADMIN.email, `nope-${i}`, '203.0.113.70'), 401, 'invalid_credentials');
    assert.ok((await alerts('failed_sign_ins_ip')).some((a) => a.subject === '203.0.113.70' && a.summary === '3 failed sign-ins from 203.0.113.70 within 1 minute'));

    assert.equal((await owner('PUT', '/api/v1/alerts/rules/failed_sign_ins_ip', { enabled: false })).status, 200);
    for (let i = 0; i < 3; i++) assertError(await attempt(ADMIN.email, `nope-off-${i}`, '203.0.113.71'), 401, 'invalid_credentials');
    assert.ok(!(await alerts('failed_sign_ins_ip')).some((a) => a.subject === '203.0.113.71'), 'a rule turned off does not fire');

    const changes = await srv.db.selectFrom('audit_events').selectAll().where('action', '=', 'alert.rule_update').orderBy('id').execute();
    assert.deepEqual(JSON.parse(changes[0]!.details), { enabledBefore: true, enabled: true, thresholdBefore: 10, threshold: 2, windowSBefore: 300, windowS: 60 });
    assert.equal(JSON.parse(changes[1]!.details).enabled, false);

    assertError(await owner('PUT', '/api/v1/alerts/rules/no_such_rule', { enabled: false }), 404, 'alert_rule_not_found');
    assertError(await owner('PUT', '/api/v1/alerts/rules/lockout', { threshold: 3 }), 400, 'alert_rule_not_counting');
    assertError(await owner('PUT', '/api/v1/alerts/rules/lockout', {}), 400, 'validation_failed');
    assertError(await owner('PUT', '/api/v1/alerts/rules/failed_sign_ins', { windowS: 0 }), 400, 'validation_failed');
    assertError(await api(srv, await signIn(srv, VIEWER))('PUT', '/api/v1/alerts/rules/lockout', { enabled: false }), 403, 'forbidden');
  });
});
