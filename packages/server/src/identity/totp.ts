/**
 * Time-based one-time passwords for two-factor sign-in: RFC 6238 TOTP over RFC 4226 HOTP, with the
 * parameters every mainstream authenticator app assumes (SHA-1, 6 digits, 30 s). Pure: the caller
 * passes the time and the last accepted step, and stores what `verifyTotp` returns.
 *
 * Invariants:
 * - a code is accepted at most once per secret, and never after a newer one (the caller persists the
 *   returned step as `lastUsedStep`);
 * - "no" is `null`; only faults (a corrupt stored secret, a nonsensical time or option) throw;
 * - code comparison does not leak, through timing, how much of a guess was right.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import QRCode from 'qrcode';

export const TOTP_DIGITS = 6;
export const TOTP_PERIOD_S = 30;
export const TOTP_DEFAULT_WINDOW_STEPS = 1;
/** A wide window multiplies the guesses one attempt covers; beyond this it is a misconfiguration. */
export const TOTP_MAX_WINDOW_STEPS = 10;
/** RFC 4226 §4 R6 asks for 128 bits at least; we issue 160 (RFC 4226's recommendation). */
const MIN_SECRET_BYTES = 16;
const NEW_SECRET_BYTES = 20;
const QR_ERROR_CORRECTION = 'M';

const BASE32_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 §6, unpadded: the Key Uri Format and authenticator apps expect no `=`. */
export function base32Encode(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = ((buffer << 8) | byte) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += BASE32_ALPHABET[(buffer >>> bits) & 31];
    }
  }
  if (bits > 0) out += BASE32_ALPHABET[(buffer << (5 - bits)) & 31];
  return out;
}

/**
 * Lenient about what people type or paste (case, spaces, trailing `=`), strict about everything
 * else: returns `null` for any other character, `=` before the end, a length no encoding produces,
 * or non-zero padding bits — so each byte string has exactly one accepted spelling.
 */
export function base32Decode(text: string): Buffer | null {
  const cleaned = text.replace(/ /g, '').toUpperCase().replace(/=+$/, '');
  const remainder = cleaned.length % 8;
  if (remainder === 1 || remainder === 3 || remainder === 6) return null;
  const out: number[] = [];
  let buffer = 0;
  let bits = 0;
  for (const char of cleaned) {
    const value = BASE32_ALPHABET.indexOf(char);
    if (value < 0) return null;
    buffer = ((buffer << 5) | value) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((buffer >>> bits) & 0xff);
    }
  }
  if ((buffer & ((1 << bits) - 1)) !== 0) return null;
  return Buffer.from(out);
}

/** A fresh 160-bit seed from the CSPRNG, in the base32 form apps and `otpauth://` URIs take. */
export function newTotpSecret(): string {
  return base32Encode(randomBytes(NEW_SECRET_BYTES));
}

/** The RFC 6238 time step (counter) that contains `timeMs`. */
export function totpStep(timeMs: number): number {
  if (!Number.isFinite(timeMs) || timeMs < 0) throw new RangeError('TOTP time must be a non-negative number of ms');
  return Math.floor(timeMs / (TOTP_PERIOD_S * 1000));
}

/**
 * The code for `step`, which defaults to the step containing `timeMs`. Throws on a secret that does
 * not decode or is under 128 bits: a stored secret that is wrong is a fault, not a wrong code.
 */
export function totpCode(secretBase32: string, timeMs: number, step: number = totpStep(timeMs)): string {
  return hotp(decodeSecret(secretBase32), step);
}

export interface VerifyTotpOptions {
  /** Steps accepted either side of the current one, for clock drift and typing time. */
  window?: number;
  /** The step returned by the last successful verification for this secret, or null if none. */
  lastUsedStep: number | null;
}

/**
 * Returns the matched step (to be stored as the next `lastUsedStep`) or `null`. Steps at or before
 * `lastUsedStep` are never tried, so a captured code cannot be replayed, nor an older one used after a
 * newer. Spaces in the code are ignored because apps display "123 456".
 */
export function verifyTotp(
  secretBase32: string,
  code: string,
  timeMs: number,
  opts: VerifyTotpOptions,
): { step: number } | null {
  const window = opts.window ?? TOTP_DEFAULT_WINDOW_STEPS;
  if (!Number.isInteger(window) || window < 0 || window > TOTP_MAX_WINDOW_STEPS) {
    throw new RangeError(`TOTP window must be an integer from 0 to ${TOTP_MAX_WINDOW_STEPS}`);
  }
  // A NaN here would make every `step <= lastUsedStep` false and switch replay protection off.
  const last = opts.lastUsedStep;
  if (last !== null && !Number.isSafeInteger(last)) throw new RangeError('lastUsedStep must be an integer or null');
  const key = decodeSecret(secretBase32);
  const current = totpStep(timeMs);

  if (typeof code !== 'string') return null;
  const typed = code.replace(/\s/g, '');
  if (!/^[0-9]{6}$/.test(typed)) return null;
  const given = Buffer.from(typed, 'ascii');

  // Every candidate is compared, without an early exit, so timing does not tell which step matched.
  let matched: number | null = null;
  for (let step = current - window; step <= current + window; step++) {
    if (step < 0 || (last !== null && step <= last)) continue;
    if (timingSafeEqual(Buffer.from(hotp(key, step), 'ascii'), given)) matched = step;
  }
  // If two steps share a code, the later one is kept: it burns more and never reopens a replay.
  return matched === null ? null : { step: matched };
}

export interface OtpauthUriInput {
  secret: string;
  issuer: string;
  account: string;
}

/**
 * The Key Uri Format (google-authenticator wiki): label `Issuer:account`, each half percent-encoded
 * so that a `:` inside either becomes %3A and only the separator stays literal; `issuer` is repeated
 * as a parameter because apps trust it over the label. Parameters spell out the defaults since some
 * apps read a missing one as "unsupported".
 */
export function otpauthUri({ secret, issuer, account }: OtpauthUriInput): string {
  if (issuer.length === 0 || account.length === 0) throw new RangeError('otpauth issuer and account must not be empty');
  const canonicalSecret = base32Encode(decodeSecret(secret));
  const label = `${encodeURIComponent(issuer)}:${encodeURIComponent(account)}`;
  const params = [
    `secret=${canonicalSecret}`,
    `issuer=${encodeURIComponent(issuer)}`,
    'algorithm=SHA1',
    `digits=${TOTP_DIGITS}`,
    `period=${TOTP_PERIOD_S}`,
  ].join('&');
  return `otpauth://totp/${label}?${params}`;
}

/** The enrolment QR code as data URLs a page can put straight into `<img src>`. */
export async function qrCodes(uri: string): Promise<{ png: string; svg: string }> {
  const png = await QRCode.toDataURL(uri, { type: 'image/png', errorCorrectionLevel: QR_ERROR_CORRECTION });
  const svgText = await QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: QR_ERROR_CORRECTION });
  const svg = `data:image/svg+xml;base64,${Buffer.from(svgText, 'utf8').toString('base64')}`;
  return { png, svg };
}

/** The enrolment QR code drawn with block characters, for `keynest` CLI enrolment over SSH. */
export function qrTerminal(uri: string): Promise<string> {
  return QRCode.toString(uri, { type: 'terminal', small: true, errorCorrectionLevel: QR_ERROR_CORRECTION });
}

function decodeSecret(secretBase32: string): Buffer {
  const key = base32Decode(secretBase32);
  if (key === null) throw new TypeError('TOTP secret is not valid base32');
  if (key.length < MIN_SECRET_BYTES) throw new RangeError(`TOTP secret must be at least ${MIN_SECRET_BYTES} bytes`);
  return key;
}

/** RFC 4226 §5.3: HMAC-SHA-1 over the 8-byte big-endian counter, dynamic truncation, mod 10^digits. */
function hotp(key: Buffer, counter: number): string {
  if (!Number.isSafeInteger(counter) || counter < 0) throw new RangeError('HOTP counter must be a non-negative integer');
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac('sha1', key).update(message).digest();
  const offset = mac[mac.length - 1]! & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 10 ** TOTP_DIGITS).padStart(TOTP_DIGITS, '0');
}
