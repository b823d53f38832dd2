/**
 * `keynest 2fa`: TOTP two-factor authentication for your own sign-in. The seed and the backup codes
 * are shown once, when made; turning 2FA off or replacing the backup codes needs the password and a
 * current code, as the server requires.
 */
import { createInterface } from 'node:readline';
import { KeyNestApiError, type TwoFactorProof } from '@keynest/sdk';
import { expectPositionals, parseCommand, type Globals } from '../args.js';
import { connect } from '../config/context.js';
import { CliError, UsageError } from '../errors.js';
import { emit, type Io } from '../io.js';
import { readPassword } from '../stdin.js';
import { dispatch } from './group.js';

const USAGE = `Usage: keynest 2fa <subcommand>

  status         whether two-factor authentication is on, and how many backup codes are left
  enable         add an authenticator app: shows a QR code and the secret, asks for a code from
                 the app, then prints your backup codes
  confirm CODE   finish "keynest 2fa enable --json" with a code from the app
  disable [--password-stdin] [--totp CODE | --backup-code CODE]
                 turn two-factor authentication off
  backup-codes --regenerate [--password-stdin] [--totp CODE | --backup-code CODE]
                 replace your backup codes (the old ones stop working)

disable and backup-codes ask for your password on the terminal (or read it from stdin with
--password-stdin) and need a current code: --totp CODE from the app or --backup-code CODE, else the
code is asked for on the terminal.
Scripts: keynest 2fa enable --json prints {"secret", "uri"} without asking; add the secret to the
authenticator, then run keynest 2fa confirm CODE --json.
Once it is on, keynest login asks for a code (or takes --totp CODE or --backup-code CODE).
`;

const PROOF_OPTIONS = {
  'password-stdin': { type: 'boolean' },
  totp: { type: 'string' },
  'backup-code': { type: 'string' },
} as const;

const BACKUP_CODES_OPTIONS = { ...PROOF_OPTIONS, regenerate: { type: 'boolean' } } as const;

export function run(argv: string[], io: Io): Promise<number> {
  return dispatch(
    '2fa',
    argv,
    io,
    { status, enable, confirm, disable, 'backup-codes': backupCodes },
    USAGE,
    BACKUP_CODES_OPTIONS,
  );
}

async function status(argv: string[], io: Io): Promise<number> {
  const { positionals, globals } = parseCommand(argv, {}, USAGE);
  expectPositionals(positionals, []);
  const { client } = connect(io, globals, { auth: true });
  const state = await client.twoFactorStatus();
  emit(io, globals, state, () =>
    state.enabled
      ? `Two-factor authentication is on (${plural(state.backupCodesRemaining, 'backup code')} left).`
      : 'Two-factor authentication is off.',
  );
  return 0;
}

async function enable(argv: string[], io: Io): Promise<number> {
  const { positionals, globals } = parseCommand(argv, {}, USAGE);
  expectPositionals(positionals, []);
  // Checked before enrolment starts: starting it again would replace a seed already in an app.
  if (!globals.json && !io.stdin.isTTY) {
    throw new UsageError('no terminal to ask for a code: use keynest 2fa enable --json, then keynest 2fa confirm CODE');
  }
  const { client } = connect(io, globals, { auth: true });
  const { secret, uri } = await client.beginTotpEnrolment();
  if (globals.json) {
    emit(io, globals, { secret, uri }, () => '');
    return 0;
  }
  const qr = io.stdout.isTTY ? await terminalQr(uri) : null;
  io.stdout.write(
    [
      ...(qr ? ['Scan this QR code with your authenticator app:', qr.trimEnd(), ''] : []),
      `${qr ? 'Or add' : 'Add'} the account by hand (time-based, SHA-1, 6 digits, 30 seconds):`,
      `  Secret: ${groupsOfFour(secret, ' ')}`,
      `  URI:    ${uri}`,
      '',
    ].join('\n'),
  );
  const code = await promptCode(io, 'Code from your authenticator app: ');
  let codes: string[];
  try {
    codes = await client.confirmTotp(code);
  } catch (error) {
    if (error instanceof KeyNestApiError && error.code === 'invalid_two_factor_code') {
      // The enrolment stays pending: another code finishes it without scanning again.
      throw new CliError(error.code, `${error.message}; enter another with keynest 2fa confirm CODE`);
    }
    throw error;
  }
  printBackupCodes(io, globals, codes, 'Two-factor authentication is on.');
  return 0;
}

async function confirm(argv: string[], io: Io): Promise<number> {
  const { positionals, globals } = parseCommand(argv, {}, USAGE);
  const [code] = expectPositionals(positionals, ['CODE']);
  const { client } = connect(io, globals, { auth: true });
  const codes = await client.confirmTotp(code!);
  printBackupCodes(io, globals, codes, 'Two-factor authentication is on.');
  return 0;
}

async function disable(argv: string[], io: Io): Promise<number> {
  const { values, positionals, globals } = parseCommand(argv, PROOF_OPTIONS, USAGE);
  expectPositionals(positionals, []);
  const factor = proofFactor(io, values);
  const { client } = connect(io, globals, { auth: true });
  await client.disableTwoFactor(await readProof(io, values, factor));
  emit(io, globals, { enabled: false }, () => 'Two-factor authentication is off.');
  return 0;
}

async function backupCodes(argv: string[], io: Io): Promise<number> {
  const { values, positionals, globals } = parseCommand(argv, BACKUP_CODES_OPTIONS, USAGE);
  expectPositionals(positionals, []);
  if (!values.regenerate) {
    throw new UsageError(
      'backup codes are shown only when made: add --regenerate to replace them (the old ones stop working); keynest 2fa status counts those left',
    );
  }
  const factor = proofFactor(io, values);
  const { client } = connect(io, globals, { auth: true });
  const codes = await client.regenerateBackupCodes(await readProof(io, values, factor));
  printBackupCodes(io, globals, codes, 'New backup codes made; the old ones no longer work.');
  return 0;
}

interface SecondFactorFlags {
  totp?: string | undefined;
  'backup-code'?: string | undefined;
}
type ProofFlags = SecondFactorFlags & { 'password-stdin'?: boolean | undefined };
type SecondFactor = { totp: string } | { backupCode: string };

/** --totp or --backup-code, at most one of them; null when neither was given. */
export function secondFactorFromFlags(values: SecondFactorFlags): SecondFactor | null {
  const { totp, 'backup-code': backupCode } = values;
  if (totp !== undefined && backupCode !== undefined) throw new UsageError('give --totp or --backup-code, not both');
  if (totp !== undefined) {
    if (totp.trim() === '') throw new UsageError('--totp needs a code');
    return { totp: totp.trim() };
  }
  if (backupCode !== undefined) {
    if (backupCode.trim() === '') throw new UsageError('--backup-code needs a code');
    return { backupCode: backupCode.trim() };
  }
  return null;
}

/** A typed code is an authenticator code when it is six digits ("123 456" too), else a backup code. */
export function secondFactorFromTyped(code: string): SecondFactor {
  return /^[0-9]{6}$/.test(code.replace(/\s/g, '')) ? { totp: code } : { backupCode: code };
}

/** Whether a code may be asked for: stdin is a terminal and was not taken for the password. */
export function canPromptForCode(io: Io, passwordFromStdin: boolean): boolean {
  return !passwordFromStdin && io.stdin.isTTY === true;
}

/**
 * Asks for a one-time code on the terminal. Typing is shown: the code is short-lived and is
 * refused once used, unlike the password.
 */
export function promptCode(io: Io, question: string): Promise<string> {
  const prompt = createInterface({ input: io.stdin, output: io.stderr, terminal: true });
  return new Promise<string>((resolve, reject) => {
    let answered = false;
    prompt.once('SIGINT', () => {
      answered = true;
      prompt.close();
      io.stderr.write('\n');
      reject(new CliError('cancelled', 'cancelled', 130));
    });
    prompt.once('close', () => {
      if (!answered) reject(new CliError('cancelled', 'no code given'));
    });
    prompt.question(question, (typed) => {
      answered = true;
      prompt.close();
      const code = typed.trim();
      if (code === '') reject(new CliError('cancelled', 'no code given'));
      else resolve(code);
    });
  });
}

/** The code given for re-authentication, or null to ask for it; a usage error when neither can be. */
function proofFactor(io: Io, values: ProofFlags): SecondFactor | null {
  const given = secondFactorFromFlags(values);
  if (given === null && !canPromptForCode(io, values['password-stdin'] === true)) {
    throw new UsageError('pass --totp CODE (from your authenticator app) or --backup-code CODE: a current code is needed');
  }
  return given;
}

/** The password and a current code, for the routes that re-authenticate. */
async function readProof(io: Io, values: ProofFlags, factor: SecondFactor | null): Promise<TwoFactorProof> {
  const password = await readPassword(io, { fromStdin: values['password-stdin'] === true, confirm: false });
  return { password, ...(factor ?? secondFactorFromTyped(await promptCode(io, 'Authentication code: '))) };
}

function printBackupCodes(io: Io, globals: Globals, codes: string[], headline: string): void {
  emit(io, globals, { backupCodes: codes }, () =>
    [
      headline,
      'Your backup codes; each signs you in once in place of a code from the app:',
      '',
      ...codes.map((code) => `  ${code}`),
      '',
      'Store these now, somewhere safe: they will not be shown again.',
    ].join('\n'),
  );
}

/** What the CLI needs of the optional `qrcode` package. */
interface QrCodeModule {
  toString(text: string, options: { type: 'terminal'; small: boolean; errorCorrectionLevel: 'M' }): Promise<string>;
}

const QR_PACKAGE = 'qrcode';

/** The URI as a QR code in block characters, or null when `qrcode` is not installed: it is optional. */
async function terminalQr(uri: string): Promise<string | null> {
  // A variable specifier keeps TypeScript from making the CLI's build depend on the package.
  const specifier: string = QR_PACKAGE;
  try {
    const loaded = (await import(specifier)) as { default?: unknown };
    // A CommonJS package: its exports are the default export (named ones only when Node detects them).
    const qr = (Object.hasOwn(loaded, 'toString') ? loaded : loaded.default) as Partial<QrCodeModule> | undefined;
    if (!qr || !Object.hasOwn(qr, 'toString') || typeof qr.toString !== 'function') return null;
    // Medium error correction, as the server's enrolment QR codes use.
    return await qr.toString(uri, { type: 'terminal', small: true, errorCorrectionLevel: 'M' });
  } catch {
    return null;
  }
}

function groupsOfFour(text: string, separator: string): string {
  return (text.match(/.{1,4}/g) ?? []).join(separator);
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}
