import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { EMAIL, PASSWORD, exitOf, readCredentialsFile, startHarness, answerPrompts } from './harness.test-util.js';

const TOTP_PERIOD_MS = 30_000;
const BACKUP_CODE = /^[A-Z2-7]{4}(-[A-Z2-7]{4}){3}$/;

/** The code for one RFC 6238 step, made by Debian's oathtool (independent of the server's code). */
function totp(secret: string, step: number): string {
  const at = `@${(step * TOTP_PERIOD_MS) / 1000 + 1}`;
  return execFileSync('oathtool', ['--totp', '-b', '-N', at, secret], { encoding: 'utf8' }).trim();
}

/**
 * The current step, with at least `marginMs` of it left. The server accepts one step either side of
 * its own and never a step at or before the last one used, so a test takes S-1, S, S+1 in turn
 * instead of waiting for new codes; only the first needs the server still to be in step S.
 */
async function currentStep(marginMs = 3_000): Promise<number> {
  const left = TOTP_PERIOD_MS - (Date.now() % TOTP_PERIOD_MS);
  if (left < marginMs) await sleep(left + 50);
  return Math.floor(Date.now() / TOTP_PERIOD_MS);
}


const withPassword = { stdin: `${PASSWORD}\n` };

test('2fa: enable for scripts, sign in with a TOTP or a backup code, replace the codes, disable', async (t) => {
  const h = await startHarness(t);
  await h.setup();
  const login = ['login', '--server', h.server.url, '--email', EMAIL, '--password-stdin'];
  assert.deepEqual(JSON.parse(await h.ok(['2fa', 'status', '--json'])), { enabled: false, backupCodesRemaining: 0 });
  assert.equal(await h.ok(['2fa', 'status']), 'Two-factor authentication is off.\n');
  await h.fails(['2fa', 'confirm', '123456'], 1, 'two_factor_not_started');
  await h.fails(['2fa', 'enable'], 2, 'usage'); // no terminal to ask for the code on

  const enrolment = JSON.parse(await h.ok(['2fa', 'enable', '--json']));
  assert.deepEqual(Object.keys(enrolment).sort(), ['secret', 'uri']);
  assert.match(enrolment.uri, new RegExp(`^otpauth://totp/KeyNest:.*secret=${enrolment.secret}&`));
  const step = await currentStep();
  const wrong = totp(enrolment.secret, step + 5);
  await h.fails(['2fa', 'confirm', wrong], 1, 'invalid_two_factor_code');
  const { backupCodes } = JSON.parse(await h.ok(['2fa', 'confirm', totp(enrolment.secret, step - 1), '--json']));
  assert.equal(backupCodes.length, 10);
  for (const code of backupCodes) assert.match(code, BACKUP_CODE);
  await h.fails(['2fa', 'enable', '--json'], 1, 'two_factor_enabled');
  assert.deepEqual(JSON.parse(await h.ok(['2fa', 'status', '--json'])), { enabled: true, backupCodesRemaining: 10 });
  assert.equal(await h.ok(['2fa', 'status']), 'Two-factor authentication is on (10 backup codes left).\n');

  // Without a code and without a terminal, login says what to pass, and stores nothing.
  await h.ok(['logout']);
  const refused = await h.fails(login, 1, 'two_factor_required', withPassword);
  assert.match(refused.stderr, /--totp CODE/);
  assert.match(refused.stderr, /--backup-code CODE/);
  assert.throws(() => statSync(h.credentialsFile), { code: 'ENOENT' });
  await h.fails([...login, '--totp', '1', '--backup-code', '2'], 2, 'usage', withPassword);

  const code = totp(enrolment.secret, step);
  assert.match(await h.ok([...login, '--totp', code], withPassword), /^Logged in to /);
  assert.match(readCredentialsFile(h).accessToken, /^eyJ/);
  // The session shows the 2FA level its sign-in reached.
  assert.match(await h.ok(['sessions', 'list']), /^\*\s+ses_\S+\s+KeyNest CLI.*\s+code\s+\d{4}-/m);
  await h.ok(['logout']);
  await h.fails([...login, '--totp', code], 1, 'invalid_two_factor_code', withPassword); // replayed

  await h.ok([...login, '--backup-code', backupCodes[0], '--json'], withPassword);
  await h.ok(['logout']);
  await h.fails([...login, '--backup-code', backupCodes[0]], 1, 'invalid_two_factor_code', withPassword);
  await h.ok([...login, '--backup-code', backupCodes[1]], withPassword);
  assert.equal(await h.ok(['2fa', 'status']), 'Two-factor authentication is on (8 backup codes left).\n');

  // Replacing the backup codes: they are never shown again, so it takes --regenerate and re-authentication.
  const regenerate = ['2fa', 'backup-codes', '--regenerate', '--password-stdin'];
  const noFlag = await h.fails(['2fa', 'backup-codes'], 2, 'usage');
  assert.match(noFlag.stderr, /--regenerate/);
  await h.fails(regenerate, 2, 'usage', withPassword); // no code, and stdin is not a terminal
  await h.fails([...regenerate, '--backup-code', backupCodes[2]], 1, 'invalid_credentials', { stdin: 'not the password' });
  const replaced = JSON.parse(await h.ok([...regenerate, '--backup-code', backupCodes[2], '--json'], withPassword)).backupCodes;
  assert.equal(replaced.length, 10);
  for (const fresh of replaced) assert.ok(!backupCodes.includes(fresh));
  const text = await h.ok([...regenerate, '--backup-code', replaced[0]], withPassword);
  assert.match(text, /will not be shown again/);
  const shown = [...text.matchAll(/^ {2}([A-Z2-7-]{19})$/gm)].map((m) => m[1]);
  assert.equal(shown.length, 10);

  // The old codes stopped working; a fresh TOTP turns 2FA off.
  const disable = ['2fa', 'disable', '--password-stdin'];
  await h.fails(disable, 2, 'usage', withPassword);
  await h.fails([...disable, '--backup-code', backupCodes[3]], 1, 'invalid_credentials', withPassword);
  assert.equal(await h.ok([...disable, '--totp', totp(enrolment.secret, step + 1)], withPassword), 'Two-factor authentication is off.\n');
  assert.deepEqual(JSON.parse(await h.ok(['2fa', 'status', '--json'])), { enabled: false, backupCodesRemaining: 0 });
  await h.fails([...disable, '--backup-code', shown[0]!], 1, 'two_factor_not_enabled', withPassword);
  await h.ok(['logout']);
  await h.ok(login, withPassword);
});

test('2fa enable on a terminal shows the QR code and secret, asks for a code; login asks for one too', async (t) => {
  const h = await startHarness(t);
  await h.setup();
  const step = await currentStep();
  let secret = '';
  const enabled = await answerPrompts(h.startInTerminal(['2fa', 'enable']), [
    [
      'Code from your authenticator app: ',
      (screen) => {
        secret = /secret=([A-Z2-7]+)/.exec(screen)![1]!;
        return `${totp(secret, step - 1)}\r`;
      },
    ],
  ]);
  assert.equal(enabled.code, 0, enabled.screen);
  assert.match(enabled.screen, /Scan this QR code/);
  assert.match(enabled.screen, /[▀▄█]{10}/, 'a QR code drawn with block characters');
  assert.ok(enabled.screen.includes(`Secret: ${secret.match(/.{1,4}/g)!.join(' ')}`), 'the secret in groups of four');
  assert.match(enabled.screen, /Store these now, somewhere safe: they will not be shown again/);
  const backupCodes = [...enabled.screen.matchAll(/^ {2}([A-Z2-7]{4}(?:-[A-Z2-7]{4}){3})\r?$/gm)].map((m) => m[1]!);
  assert.equal(backupCodes.length, 10);
  assert.equal(await h.ok(['2fa', 'status']), 'Two-factor authentication is on (10 backup codes left).\n');

  await h.ok(['logout']);
  const args = ['login', '--server', h.server.url, '--email', EMAIL];
  const cancelled = await answerPrompts(h.startInTerminal(args), [
    ['Password: ', () => `${PASSWORD}\r`],
    ['Authentication code: ', () => '\u0003'],
  ]);
  assert.equal(cancelled.code, 130, cancelled.screen);
  assert.throws(() => statSync(h.credentialsFile), { code: 'ENOENT' });

  const withCode = await answerPrompts(h.startInTerminal(args), [
    ['Password: ', () => `${PASSWORD}\r`],
    ['Authentication code: ', () => `${totp(secret, step)}\r`],
  ]);
  assert.equal(withCode.code, 0, withCode.screen);
  assert.match(withCode.screen, new RegExp(`Logged in to ${h.server.url} as ${EMAIL}`));
  assert.ok(!withCode.screen.includes(PASSWORD), 'the password is not echoed');

  await h.ok(['logout']);
  const withBackupCode = await answerPrompts(h.startInTerminal(args), [
    ['Password: ', () => `${PASSWORD}\r`],
    ['Authentication code: ', () => `${backupCodes[0]!.toLowerCase()}\r`],
  ]);
  assert.equal(withBackupCode.code, 0, withBackupCode.screen);

  // disable asks for the password and the code on the terminal as well.
  const disabled = await answerPrompts(h.startInTerminal(['2fa', 'disable']), [
    ['Password: ', () => `${PASSWORD}\r`],
    ['Authentication code: ', () => `${backupCodes[1]}\r`],
  ]);
  assert.equal(disabled.code, 0, disabled.screen);
  assert.match(disabled.screen, /Two-factor authentication is off\./);
});

test('2fa --help on the command and each subcommand; usage errors exit 2', async (t) => {
  const h = await startHarness(t);
  for (const command of [['2fa'], ['2fa', 'status'], ['2fa', 'enable'], ['2fa', 'confirm'], ['2fa', 'disable'], ['2fa', 'backup-codes']]) {
    for (const flag of ['--help', '-h']) {
      assert.match(await h.ok([...command, flag]), /^Usage: keynest 2fa/, `keynest ${command.join(' ')} ${flag}`);
    }
  }
  assert.match(await h.ok(['--help']), /^ {2}2fa status\|enable\|confirm\|disable\|backup-codes$/m);
  assert.match(await h.ok(['login', '--help']), /--totp CODE.*\n.*--backup-code CODE/);
  await h.fails(['2fa'], 2, 'usage');
  await h.fails(['2fa', 'nope'], 2, 'usage');
  await h.fails(['2fa', 'status', 'extra'], 2, 'usage');
  await h.fails(['2fa', 'confirm'], 2, 'usage');
  await h.fails(['2fa', 'backup-codes'], 2, 'usage');
  await h.fails(['2fa', 'disable', '--totp', '1', '--backup-code', '2'], 2, 'usage');
  await h.fails(['2fa', 'disable', '--password-stdin', '--totp', ''], 2, 'usage');
  await h.fails(['2fa', 'status'], 1, 'not_logged_in', { env: { KEYNEST_SERVER: h.server.url } });
});
