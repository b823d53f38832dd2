import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { describe, it, type TestContext } from 'node:test';
import { manualClock } from '../test-support/clock.js';
import { startSmtpServer } from '../test-support/smtp.js';
import { createLogger, type Logger } from '../logger.js';
import { createMailer, MAIL_KINDS, MailDeliveryError, type Mail, type Mailer, type MailKind } from './mailer.js';
import { composeMail, renderMail, type MailParams } from './templates.js';

const FROM = 'KeyNest <keynest@example.test>';
const TO = 'alice@example.test';
const SMTP_USER = 'mailer-user';
const SMTP_PASS = 'Sm7p-pa55word-9f1c';
const RESET_LINK = 'https://keynest.example.test/reset?token=rst_Q2hlY2tUaGlzVG9rZW4gaXMgbm90IGxvZ2dlZA';
/** Longer than 76 characters per line, so nodemailer sends it quoted-printable: the test decodes it. */
const resetMail = (): Mail => composeMail(TO, 'password_reset', { link: RESET_LINK, expiresInMinutes: 60 });

/** The shared test SMTP server, plus mailers for it that are closed at the end of the test. */
async function startSmtp(t: TestContext, auth?: { user: string; pass: string; echoPassword?: boolean }) {
  const smtp = await startSmtpServer(auth);
  const mailers: Mailer[] = [];
  // Mailers first: the server would otherwise wait out its closeTimeout for their pooled connections.
  t.after(async () => {
    await Promise.all(mailers.map((m) => m.close()));
    await smtp.close();
  });
  const mailer = (smtpUrl: string, log: Logger): Mailer => {
    const m = createMailer({ smtpUrl, from: FROM, outboxFile: '/nonexistent/outbox', log });
    mailers.push(m);
    return m;
  };
  return { port: smtp.port, received: smtp.received, mailer };
}

function captureLog() {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  return { log: createLogger('trace', sink), text: () => lines.join(''), entries: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'keynest-mail-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe('mailer over SMTP', () => {
  it('delivers to the recipient, from the configured sender, with the subject and text', async (t) => {
    const smtp = await startSmtp(t);
    const { log } = captureLog();
    const mailer = smtp.mailer(`smtp://127.0.0.1:${smtp.port}`, log);
    const mail = resetMail();
    await mailer.send(mail);

    assert.equal(smtp.received.length, 1);
    const got = smtp.received[0]!;
    assert.deepEqual(got.rcptTo, [TO]);
    assert.equal(got.mailFrom, 'keynest@example.test');
    assert.equal(got.headers.get('to'), TO);
    assert.equal(got.headers.get('from'), FROM);
    assert.equal(got.headers.get('subject'), mail.subject);
    assert.match(got.headers.get('content-type') ?? '', /^text\/plain/);
    assert.equal(got.body.trimEnd(), mail.text.trimEnd());
    assert.ok(got.body.includes(RESET_LINK));
  });

  it('signs in with the credentials of the URL (percent-encoded ones too)', async (t) => {
    const pass = `${SMTP_PASS}@:/`;
    const smtp = await startSmtp(t, { user: SMTP_USER, pass });
    const { log, text } = captureLog();
    const url = `smtp://${SMTP_USER}:${encodeURIComponent(pass)}@127.0.0.1:${smtp.port}`;
    const mailer = smtp.mailer(url, log);
    await mailer.send(resetMail());
    await mailer.send(composeMail('bob@example.test', 'password_changed', { at: new Date(), ip: '203.0.113.9' }));
    assert.deepEqual(smtp.received.map((r) => r.rcptTo), [[TO], ['bob@example.test']]);
    assert.ok(!text().includes(pass) && !text().includes(encodeURIComponent(pass)), text());
  });

  it('a server that requires sign-in refuses the mail when the URL has no credentials', async (t) => {
    const smtp = await startSmtp(t, { user: SMTP_USER, pass: SMTP_PASS });
    const mailer = smtp.mailer(`smtp://127.0.0.1:${smtp.port}`, captureLog().log);
    await assert.rejects(mailer.send(resetMail()), MailDeliveryError);
    assert.equal(smtp.received.length, 0);
  });

  it('a wrong password rejects, and neither the error nor the log names the credentials', async (t) => {
    const smtp = await startSmtp(t, { user: SMTP_USER, pass: SMTP_PASS, echoPassword: true });
    const { log, text } = captureLog();
    const wrong = 'Wr0ng-pa55word-c0ffee';
    const url = `smtp://${SMTP_USER}:${wrong}@127.0.0.1:${smtp.port}`;
    const mailer = smtp.mailer(url, log);

    const err = await mailer.send(resetMail()).then(
      () => assert.fail('the send should have been refused'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof MailDeliveryError);
    assert.equal(err.code, 'EAUTH');
    assert.equal(err.responseCode, 535);
    assert.match(err.message, /bad credentials/, 'the reason is kept');
    assert.equal(err.cause, undefined, 'nodemailer\u2019s error (with the AUTH command) is not attached');
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const leaks = [wrong, SMTP_USER, b64(wrong), b64(`\0${SMTP_USER}\0${wrong}`), url];
    for (const leak of leaks) {
      assert.ok(!err.message.includes(leak), `error message holds ${leak}: ${err.message}`);
      assert.ok(!err.stack?.includes(leak), `error stack holds ${leak}`);
      assert.ok(!text().includes(leak), `log holds ${leak}`);
    }
    assert.ok(text().includes('mail not sent'));
    assert.equal(smtp.received.length, 0);
  });

  it('sends to exactly one address: a list, a display name or a line break in `to` is refused', async (t) => {
    const smtp = await startSmtp(t);
    const mailer = smtp.mailer(`smtp://127.0.0.1:${smtp.port}`, captureLog().log);
    for (const to of ['victim@example.test, attacker@evil.test', 'victim@example.test;attacker@evil.test', 'Victim <attacker@evil.test>', 'victim@example.test\r\nBcc: attacker@evil.test', '']) {
      await assert.rejects(mailer.send({ ...resetMail(), to }), (e: unknown) => e instanceof MailDeliveryError && e.code === 'invalid_recipient');
    }
    assert.equal(smtp.received.length, 0);
  });

  it('logs the transport by host and port only, and refuses sends after close', async (t) => {
    const smtp = await startSmtp(t, { user: SMTP_USER, pass: SMTP_PASS });
    const { log, text, entries } = captureLog();
    const mailer = smtp.mailer(`smtp://${SMTP_USER}:${SMTP_PASS}@127.0.0.1:${smtp.port}`, log);
    const started = entries().find((e) => e.msg === 'mail transport: SMTP');
    assert.deepEqual([started?.smtpHost, started?.smtpPort], ['127.0.0.1', smtp.port]);
    assert.ok(!text().includes(SMTP_PASS) && !text().includes(SMTP_USER), text());
    await mailer.close();
    await assert.rejects(mailer.send(resetMail()), /closed/);
  });

  it('refuses a URL that is not smtp:// or smtps://, without echoing it', () => {
    const log = captureLog().log;
    for (const smtpUrl of ['http://user:Secret-9@host', 'not a url Secret-9']) {
      assert.throws(
        () => createMailer({ smtpUrl, from: FROM, outboxFile: '/nonexistent/outbox', log }),
        (e: unknown) => e instanceof Error && !e.message.includes('Secret-9'),
      );
    }
  });
});

describe('mailer without SMTP: the outbox file', () => {
  it('appends one JSON line per mail, to a file only its owner can read', async (t) => {
    const outboxFile = path.join(tempDir(t), 'outbox.jsonl');
    const clock = manualClock();
    const mailer = createMailer({ smtpUrl: undefined, from: FROM, outboxFile, log: captureLog().log, clock });
    const first = resetMail();
    const second = composeMail('bob@example.test', 'email_verification', { link: 'https://keynest.example.test/verify?t=v1', code: '482913', expiresInHours: 1 });
    await mailer.send(first);
    clock.advance(1000);
    await mailer.send(second);
    await mailer.close();

    assert.equal(statSync(outboxFile).mode & 0o777, 0o600);
    const lines = readFileSync(outboxFile, 'utf8').split('\n');
    assert.equal(lines.pop(), '', 'every line ends with a newline');
    assert.equal(lines.length, 2);
    const [a, b] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(a, { at: new Date(clock() - 1000).toISOString(), to: TO, subject: first.subject, text: first.text, kind: 'password_reset' });
    assert.deepEqual(b, { at: new Date(clock()).toISOString(), to: 'bob@example.test', subject: second.subject, text: second.text, kind: 'email_verification' });
  });

  it('tightens an existing outbox file back to 0600 and keeps what it held', async (t) => {
    const outboxFile = path.join(tempDir(t), 'outbox.jsonl');
    writeFileSync(outboxFile, '{"earlier":true}\n');
    chmodSync(outboxFile, 0o644);
    const mailer = createMailer({ smtpUrl: undefined, from: FROM, outboxFile, log: captureLog().log });
    await mailer.send(resetMail());
    assert.equal(statSync(outboxFile).mode & 0o777, 0o600);
    assert.equal(readFileSync(outboxFile, 'utf8').split('\n').length, 3);
  });

  it('does not follow a symbolic link planted in place of the outbox', async (t) => {
    const dir = tempDir(t);
    const elsewhere = path.join(dir, 'elsewhere.txt');
    writeFileSync(elsewhere, '');
    const outboxFile = path.join(dir, 'outbox.jsonl');
    symlinkSync(elsewhere, outboxFile);
    const mailer = createMailer({ smtpUrl: undefined, from: FROM, outboxFile, log: captureLog().log });
    await assert.rejects(mailer.send(resetMail()), (e: NodeJS.ErrnoException) => e.code === 'ELOOP');
    assert.equal(readFileSync(elsewhere, 'utf8'), '');
  });

  it('keeps lines whole when sends overlap', async (t) => {
    const outboxFile = path.join(tempDir(t), 'outbox.jsonl');
    const mailer = createMailer({ smtpUrl: undefined, from: FROM, outboxFile, log: captureLog().log });
    await Promise.all(Array.from({ length: 20 }, (_, i) => mailer.send({ ...resetMail(), to: `user${i}@example.test` })));
    const lines = readFileSync(outboxFile, 'utf8').trimEnd().split('\n');
    assert.deepEqual(lines.map((l) => (JSON.parse(l) as { to: string }).to).sort(), Array.from({ length: 20 }, (_, i) => `user${i}@example.test`).sort());
  });
});

describe('what the mailer logs', () => {
  const code = '739204';
  const verifyLink = 'https://keynest.example.test/verify?token=evt_SuperSecretVerificationToken';
  const mails = (): Mail[] => [resetMail(), composeMail(TO, 'email_verification', { link: verifyLink, code, expiresInHours: 1 })];

  const assertLogClean = (text: string, sent: Mail[]) => {
    for (const m of sent) {
      for (const leak of [m.subject, m.text, RESET_LINK, verifyLink, code, 'rst_Q2hlY2tUaGlzVG9rZW4', 'evt_SuperSecret']) {
        assert.ok(!text.includes(leak), `log holds ${JSON.stringify(leak)}:\n${text}`);
      }
      // No line of the body either, not even a short one.
      for (const line of m.text.split('\n').filter((l) => l.length > 20)) assert.ok(!text.includes(line), `log holds body line ${line}`);
    }
  };

  it('over SMTP: kind and recipient, at info, and nothing of the content or the password', async (t) => {
    const smtp = await startSmtp(t, { user: SMTP_USER, pass: SMTP_PASS });
    const { log, text, entries } = captureLog();
    const mailer = smtp.mailer(`smtp://${SMTP_USER}:${SMTP_PASS}@127.0.0.1:${smtp.port}`, log);
    const sent = mails();
    for (const m of sent) await mailer.send(m);

    const records = entries().filter((e) => e.msg === 'mail sent');
    assert.deepEqual(records.map((e) => [e.kind, e.to, e.level]), [['password_reset', TO, 30], ['email_verification', TO, 30]]);
    assertLogClean(text(), sent);
    assert.ok(!text().includes(SMTP_PASS), 'log holds the SMTP password');
  });

  it('to the outbox: kind and recipient, at info, and nothing of the content', async (t) => {
    const outboxFile = path.join(tempDir(t), 'outbox.jsonl');
    const { log, text, entries } = captureLog();
    const mailer = createMailer({ smtpUrl: undefined, from: FROM, outboxFile, log });
    const sent = mails();
    for (const m of sent) await mailer.send(m);

    const records = entries().filter((e) => e.msg === 'mail queued to outbox');
    assert.deepEqual(records.map((e) => [e.kind, e.to, e.level]), [['password_reset', TO, 30], ['email_verification', TO, 30]]);
    assertLogClean(text(), sent);
  });
});

describe('mail templates', () => {
  const at = new Date(Date.UTC(2030, 0, 2, 9, 41, 30));
  const samples: { [K in MailKind]: { params: MailParams[K]; facts: string[] } } = {
    account_locked: { params: { lockedUntil: new Date(Date.UTC(2030, 0, 2, 9, 56)), ip: '203.0.113.7' }, facts: ['203.0.113.7', '2030-01-02 09:56 UTC'] },
    new_sign_in: {
      params: { at, ip: '198.51.100.23', device: 'Firefox on Linux', location: { countryCode: 'DE', country: 'Germany', city: 'Berlin' } },
      facts: ['198.51.100.23', 'Firefox on Linux', '2030-01-02 09:41 UTC', 'Location:   Berlin, Germany (DE)'],
    },
    backup_code_used: { params: { at, ip: '2001:db8::1', remaining: 3 }, facts: ['2001:db8::1', 'Backup codes left: 3', '2030-01-02 09:41 UTC'] },
    two_factor_enabled: { params: { at, ip: '192.0.2.4' }, facts: ['192.0.2.4', '2030-01-02 09:41 UTC', 'turned on'] },
    two_factor_disabled: { params: { at, ip: '192.0.2.5' }, facts: ['192.0.2.5', '2030-01-02 09:41 UTC', 'turned off'] },
    password_changed: { params: { at, ip: '192.0.2.6' }, facts: ['192.0.2.6', '2030-01-02 09:41 UTC'] },
    password_reset: { params: { link: RESET_LINK, expiresInMinutes: 30 }, facts: [RESET_LINK, '30 minutes'] },
    email_verification: { params: { link: 'https://keynest.example.test/verify?t=abc', code: '482913', expiresInHours: 1 }, facts: ['https://keynest.example.test/verify?t=abc', '482913', '1 hour'] },
    invitation: {
      params: { orgName: 'Acme Corp', inviterEmail: 'carol@acme.test', link: 'https://keynest.example.test/invite?t=inv1', code: 'kn_inv_1', expiresInDays: 7 },
      facts: ['Acme Corp', 'carol@acme.test', 'https://keynest.example.test/invite?t=inv1', 'keynest invitations accept kn_inv_1', '7 days'],
    },
    signup_verification: {
      params: { orgName: 'Acme Corp', link: 'https://keynest.example.test/signup?t=sgn1', code: 'kn_sgn_1', expiresInHours: 24 },
      facts: ['Acme Corp', 'https://keynest.example.test/signup?t=sgn1', 'keynest signup verify kn_sgn_1', '24 hours'],
    },
    signup_account_exists: { params: { signInUrl: 'https://keynest.example.test' }, facts: ['https://keynest.example.test', 'already has an account', 'forgot your password'] },
    emergency_access_code: {
      params: { at, ip: '198.51.100.9', orgNames: ['Acme Corp'], code: 'kn_eac_1', expiresInMinutes: 15, allowanceMinutes: 60 },
      facts: ['Acme Corp', '198.51.100.9', 'keynest emergency-access confirm --email YOUR-EMAIL --code kn_eac_1', '15 minutes', '60 minutes', '2030-01-02 09:41 UTC'],
    },
    emergency_access_granted: {
      params: { at, ip: '198.51.100.9', orgNames: ['Acme Corp'], until: new Date(Date.UTC(2030, 0, 2, 10, 41)) },
      facts: ['Acme Corp', '198.51.100.9', '2030-01-02 10:41 UTC', 'audit log'],
    },
    security_alert: {
      params: { orgName: 'Acme Corp', rule: 'failed_sign_ins_ip', description: 'More than 10 failed sign-ins', summary: '11 failed sign-ins from 203.0.113.9 within 5 minutes', at, ip: '203.0.113.9' },
      facts: ['Acme Corp', '11 failed sign-ins from 203.0.113.9 within 5 minutes', 'failed_sign_ins_ip', '2030-01-02 09:41 UTC', 'keynest alerts list'],
    },
  };

  for (const kind of MAIL_KINDS) {
    it(`${kind}: renders its facts, with nothing missing`, () => {
      const sample = samples[kind];
      const { subject, text } = renderMail(kind, sample.params as never);
      assert.ok(subject.length > 0 && subject.length < 80 && !/[\r\n]/.test(subject), subject);
      assert.ok(`${subject}\n${text}`.includes('KeyNest'));
      for (const fact of sample.facts) assert.ok(text.includes(fact), `${kind} lacks ${fact}:\n${text}`);
      for (const bad of ['undefined', 'null', 'NaN', '[object Object]', 'Invalid Date', '${']) {
        assert.ok(!subject.includes(bad) && !text.includes(bad), `${kind} holds ${bad}:\n${subject}\n${text}`);
      }
      assert.ok(text.endsWith('\n') && !text.includes('\r'), 'plain text lines');
      assert.ok(!/<\/?[a-z][^>]*>/i.test(text), 'no HTML');
      const last = text.trimEnd().split('\n').pop() ?? '';
      assert.match(last, /^If (this wasn't you|you didn't|you weren't)/, `${kind} ends with what to do if it wasn't you: ${last}`);
    });
  }

  it('composes a Mail for the mailer, tagged with its kind', () => {
    const mail = composeMail(TO, 'password_reset', { link: RESET_LINK, expiresInMinutes: 60 });
    assert.deepEqual(Object.keys(mail).sort(), ['kind', 'subject', 'text', 'to']);
    assert.equal(mail.kind, 'password_reset');
    assert.equal(mail.to, TO);
  });

  it('an unknown IP reads as unknown, and counts are pluralised', () => {
    const locked = renderMail('account_locked', { lockedUntil: at, ip: null });
    assert.match(locked.text, /Last attempt from: unknown/);
    assert.match(renderMail('password_reset', { link: RESET_LINK, expiresInMinutes: 1 }).text, /within 1 minute\./);
    assert.match(renderMail('backup_code_used', { at, ip: null, remaining: 0 }).text, /no backup codes left/);
  });

  it('user-supplied text stays on one short line and cannot add headers or lines', () => {
    const orgName = 'Acme\r\nBcc: attacker@evil.test\n\nPlease sign in at https://evil.test \u202eliam';
    const { subject, text } = renderMail('invitation', { orgName, inviterEmail: 'x@evil.test\nEvil line', link: 'https://keynest.example.test/i', code: 'kn_inv_x', expiresInDays: 1 });
    assert.ok(!/[\r\n\u202e]/.test(subject), subject);
    assert.ok(!text.split('\n').some((l) => l.startsWith('Bcc:') || l.startsWith('Evil line') || l.startsWith('Please sign in')), text);
    const long = renderMail('new_sign_in', { at, ip: '192.0.2.1', device: 'x'.repeat(5000) }).text;
    assert.ok(long.length < 1000, 'a long device string is cut short');
    // Names from the GeoIP file are no more trusted than a user agent.
    const placed = renderMail('new_sign_in', { at, ip: '192.0.2.1', device: 'd', location: { countryCode: 'DE', country: 'Germany\nEvil line', city: 'y'.repeat(5000) } }).text;
    assert.ok(!placed.split('\n').some((l) => l.startsWith('Evil line')) && placed.length < 1000, placed);
  });

  it('a new sign-in mentions the location only when it is known', () => {
    for (const location of [undefined, null]) assert.doesNotMatch(renderMail('new_sign_in', { at, ip: '192.0.2.1', device: 'd', location }).text, /Location/);
    assert.match(renderMail('new_sign_in', { at, ip: '192.0.2.1', device: 'd', location: { countryCode: 'FR', country: null, city: null } }).text, /^Location: {3}FR, estimated from the IP address$/m);
  });
});
