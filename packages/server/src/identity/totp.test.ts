import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  base32Decode,
  base32Encode,
  newTotpSecret,
  otpauthUri,
  qrCodes,
  qrTerminal,
  totpCode,
  totpStep,
  verifyTotp,
} from './totp.js';

const PERIOD_MS = 30_000;
/** RFC 6238 Appendix B: the SHA-1 seed is the ASCII string "12345678901234567890". */
const RFC_SECRET = base32Encode(Buffer.from('12345678901234567890', 'ascii'));
const T0 = Date.UTC(2030, 0, 1, 12, 0, 0);

/** oath-toolkit's oathtool is an implementation written by others: agreeing with it is evidence. */
function oathtool(secret: string, timeMs: number): string {
  const now = new Date(timeMs).toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, ' UTC');
  return execFileSync('/usr/bin/oathtool', ['--totp', '--base32', '--digits=6', `--now=${now}`, secret], {
    encoding: 'utf8',
  }).trim();
}

describe('totpCode', () => {
  it('matches the RFC 6238 Appendix B SHA-1 vectors (last 6 of the 8 digits)', () => {
    const vectors: Array<[number, string]> = [
      [59, '94287082'],
      [1111111109, '07081804'],
      [1111111111, '14050471'],
      [1234567890, '89005924'],
      [2000000000, '69279037'],
      [20000000000, '65353130'],
    ];
    for (const [seconds, eightDigits] of vectors) {
      assert.equal(totpCode(RFC_SECRET, seconds * 1000), eightDigits.slice(2), `T=${seconds}`);
    }
  });

  it('agrees with oathtool for random secrets and times', () => {
    for (let i = 0; i < 60; i++) {
      const secret = i % 2 === 0 ? newTotpSecret() : base32Encode(randomBytes(randomInt(16, 65)));
      const timeMs = randomInt(0, 4_102_444_800) * 1000; // 1970..2100
      assert.equal(totpCode(secret, timeMs), oathtool(secret, timeMs), `${secret} @ ${timeMs}`);
    }
  });

  it('takes an explicit step in place of the one containing the time', () => {
    assert.equal(totpCode(RFC_SECRET, 0, totpStep(59_000)), '287082');
  });

  it('throws on a secret that is not base32 or is under 128 bits', () => {
    assert.throws(() => totpCode('not base32!', T0), TypeError);
    assert.throws(() => totpCode(base32Encode(randomBytes(15)), T0), RangeError);
    assert.throws(() => totpCode(RFC_SECRET, Number.NaN), RangeError);
    assert.throws(() => totpCode(RFC_SECRET, -1), RangeError);
  });
});

describe('newTotpSecret', () => {
  it('is 160 bits as 32 base32 characters, fresh each time', () => {
    const a = newTotpSecret();
    assert.match(a, /^[A-Z2-7]{32}$/);
    assert.equal(base32Decode(a)?.length, 20);
    assert.notEqual(a, newTotpSecret());
  });
});

describe('verifyTotp', () => {
  it('accepts oathtool codes for the previous, current and next step and refuses steps ±2', () => {
    for (let i = 0; i < 25; i++) {
      const secret = newTotpSecret();
      const timeMs = randomInt(60, 4_102_444_800) * 1000 + randomInt(0, 1000);
      const current = totpStep(timeMs);
      const inWindow = new Set<string>();
      for (const offset of [-1, 0, 1]) {
        const code = oathtool(secret, timeMs + offset * PERIOD_MS);
        inWindow.add(code);
        assert.deepEqual(verifyTotp(secret, code, timeMs, { lastUsedStep: null }), { step: current + offset });
      }
      for (const offset of [-2, 2]) {
        const code = oathtool(secret, timeMs + offset * PERIOD_MS);
        if (inWindow.has(code)) continue; // a one-in-a-million collision is not a failure
        assert.equal(verifyTotp(secret, code, timeMs, { lastUsedStep: null }), null, `offset ${offset}`);
      }
    }
  });

  it('widens and narrows with the window option', () => {
    const twoAhead = totpCode(RFC_SECRET, T0 + 2 * PERIOD_MS);
    assert.equal(verifyTotp(RFC_SECRET, twoAhead, T0, { window: 1, lastUsedStep: null }), null);
    assert.deepEqual(verifyTotp(RFC_SECRET, twoAhead, T0, { window: 2, lastUsedStep: null }), {
      step: totpStep(T0) + 2,
    });
    const next = totpCode(RFC_SECRET, T0 + PERIOD_MS);
    assert.equal(verifyTotp(RFC_SECRET, next, T0, { window: 0, lastUsedStep: null }), null);
  });

  it('refuses a replayed code: accepted once, refused with the returned step as lastUsedStep', () => {
    const secret = newTotpSecret();
    const code = totpCode(secret, T0);
    const first = verifyTotp(secret, code, T0, { lastUsedStep: null });
    assert.deepEqual(first, { step: totpStep(T0) });
    assert.equal(verifyTotp(secret, code, T0, { lastUsedStep: first!.step }), null);
    // still inside the window 29 s later, still refused
    assert.equal(verifyTotp(secret, code, T0 + PERIOD_MS - 1, { lastUsedStep: first!.step }), null);
  });

  it('refuses an older step once a newer one was used', () => {
    const secret = newTotpSecret();
    const newer = verifyTotp(secret, totpCode(secret, T0 + PERIOD_MS), T0, { lastUsedStep: null });
    assert.deepEqual(newer, { step: totpStep(T0) + 1 });
    assert.equal(verifyTotp(secret, totpCode(secret, T0), T0, { lastUsedStep: newer!.step }), null);
    assert.equal(verifyTotp(secret, totpCode(secret, T0 - PERIOD_MS), T0, { lastUsedStep: newer!.step }), null);
    // the following step is still usable
    assert.deepEqual(verifyTotp(secret, totpCode(secret, T0 + 2 * PERIOD_MS), T0 + PERIOD_MS, { lastUsedStep: newer!.step }), {
      step: totpStep(T0) + 2,
    });
  });

  it('accepts the right code with spaces, as apps display it', () => {
    const code = totpCode(RFC_SECRET, T0);
    const spaced = `${code.slice(0, 2)} ${code.slice(2, 4)} ${code.slice(4)}`;
    assert.deepEqual(verifyTotp(RFC_SECRET, spaced, T0, { lastUsedStep: null }), { step: totpStep(T0) });
    assert.deepEqual(verifyTotp(RFC_SECRET, ` ${code.slice(0, 3)} ${code.slice(3)} `, T0, { lastUsedStep: null }), {
      step: totpStep(T0),
    });
  });

  it('refuses malformed codes without throwing', () => {
    const code = totpCode(RFC_SECRET, T0);
    const malformed = [
      '',
      '   ',
      '12345',
      '1234567',
      `${code}0`,
      'abcdef',
      '12345a',
      '+12345',
      '-12345',
      '1e5000',
      code.replace(/[0-9]/g, (d) => String.fromCharCode(0xff10 + Number(d))), // full-width digits
      `${code}\u0000`,
      'x'.repeat(100_000),
    ];
    for (const bad of malformed) {
      assert.equal(verifyTotp(RFC_SECRET, bad, T0, { lastUsedStep: null }), null, JSON.stringify(bad.slice(0, 20)));
    }
    for (const notString of [null, undefined, 123456, {}]) {
      assert.equal(verifyTotp(RFC_SECRET, notString as unknown as string, T0, { lastUsedStep: null }), null);
    }
  });

  it('throws (fails closed) on a corrupt secret or options that would disable its checks', () => {
    const code = totpCode(RFC_SECRET, T0);
    assert.throws(() => verifyTotp('0000', code, T0, { lastUsedStep: null }), TypeError);
    assert.throws(() => verifyTotp(RFC_SECRET, code, T0, { lastUsedStep: Number.NaN }), RangeError);
    assert.throws(() => verifyTotp(RFC_SECRET, code, T0, { lastUsedStep: 1.5 }), RangeError);
    assert.throws(() => verifyTotp(RFC_SECRET, code, T0, { window: -1, lastUsedStep: null }), RangeError);
    assert.throws(() => verifyTotp(RFC_SECRET, code, T0, { window: 11, lastUsedStep: null }), RangeError);
    assert.throws(() => verifyTotp(RFC_SECRET, code, Number.NaN, { lastUsedStep: null }), RangeError);
  });

  it('never tries a negative step near the epoch', () => {
    assert.deepEqual(verifyTotp(RFC_SECRET, totpCode(RFC_SECRET, 0), 0, { lastUsedStep: null }), { step: 0 });
  });
});

describe('base32', () => {
  it('encodes the RFC 4648 section 10 vectors without padding and decodes them back', () => {
    const vectors: Array<[string, string]> = [
      ['', ''],
      ['f', 'MY'],
      ['fo', 'MZXQ'],
      ['foo', 'MZXW6'],
      ['foob', 'MZXW6YQ'],
      ['fooba', 'MZXW6YTB'],
      ['foobar', 'MZXW6YTBOI'],
    ];
    for (const [plain, encoded] of vectors) {
      assert.equal(base32Encode(Buffer.from(plain, 'ascii')), encoded);
      assert.equal(base32Decode(encoded)?.toString('ascii'), plain);
    }
  });

  it('round-trips random bytes', () => {
    for (let length = 0; length <= 64; length++) {
      const bytes = randomBytes(length);
      assert.deepEqual(base32Decode(base32Encode(bytes)), bytes);
    }
  });

  it('accepts lower case, spaces and = padding', () => {
    assert.equal(base32Decode('MZXW6YQ=')?.toString('ascii'), 'foob');
    assert.equal(base32Decode('mzxw 6ytb oi======')?.toString('ascii'), 'foobar');
    assert.equal(base32Decode('my======')?.toString('ascii'), 'f');
  });

  it('returns null for other characters, misplaced padding, impossible lengths and non-zero pad bits', () => {
    for (const bad of ['MZXW0', 'MZXW1', 'MZXW8', 'MZXW9', 'MZ!W6', 'MZXW6\u00e9', 'MZ=XW6', 'MZXW6\t', 'M', 'MZX', 'MZXW6Y', 'MZ']) {
      assert.equal(base32Decode(bad), null, bad);
    }
  });
});

describe('otpauthUri', () => {
  function parse(uri: string) {
    const url = new URL(uri);
    const rawLabel = url.pathname.slice(1);
    const parts = rawLabel.split(':');
    assert.equal(parts.length, 2, 'exactly one literal ":" separates issuer and account');
    return {
      url,
      issuer: decodeURIComponent(parts[0]!),
      account: decodeURIComponent(parts[1]!),
    };
  }

  it('carries the label, secret and parameters authenticator apps read', () => {
    const secret = newTotpSecret();
    const uri = otpauthUri({ secret, issuer: 'KeyNest', account: 'alice@example.com' });
    const { url, issuer, account } = parse(uri);
    assert.equal(url.protocol, 'otpauth:');
    assert.equal(url.host, 'totp');
    assert.equal(issuer, 'KeyNest');
    assert.equal(account, 'alice@example.com');
    assert.equal(url.searchParams.get('secret'), secret);
    assert.equal(url.searchParams.get('issuer'), 'KeyNest');
    assert.equal(url.searchParams.get('algorithm'), 'SHA1');
    assert.equal(url.searchParams.get('digits'), '6');
    assert.equal(url.searchParams.get('period'), '30');
  });

  it('round-trips issuers and accounts with spaces, @, :, URI delimiters and non-ASCII', () => {
    const secret = newTotpSecret();
    const issuer = 'Acme Corp: Zürich & Co + 東京 #1?/=';
    const account = 'jöhn doe:ops@exämple.com';
    const uri = otpauthUri({ secret, issuer, account });
    assert.doesNotMatch(uri, /[ +]/, 'spaces are %20, never + or raw');
    const parsed = parse(uri);
    assert.equal(parsed.issuer, issuer);
    assert.equal(parsed.account, account);
    assert.equal(parsed.url.searchParams.get('issuer'), issuer);
    assert.equal(parsed.url.searchParams.get('secret'), secret);
  });

  it('writes the secret in canonical form and refuses a bad one or an empty label part', () => {
    const secret = newTotpSecret();
    const uri = otpauthUri({ secret: secret.toLowerCase(), issuer: 'KeyNest', account: 'a' });
    assert.equal(new URL(uri).searchParams.get('secret'), secret);
    assert.throws(() => otpauthUri({ secret: 'bad!', issuer: 'KeyNest', account: 'a' }), TypeError);
    assert.throws(() => otpauthUri({ secret, issuer: '', account: 'a' }), RangeError);
    assert.throws(() => otpauthUri({ secret, issuer: 'KeyNest', account: '' }), RangeError);
  });
});

describe('QR codes', () => {
  const uri = otpauthUri({ secret: RFC_SECRET, issuer: 'KeyNest', account: 'alice@example.com' });

  it('renders PNG and SVG data URLs', async () => {
    const { png, svg } = await qrCodes(uri);
    const pngPrefix = 'data:image/png;base64,';
    assert.ok(png.startsWith(pngPrefix));
    const pngBytes = Buffer.from(png.slice(pngPrefix.length), 'base64');
    assert.deepEqual([...pngBytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const svgPrefix = 'data:image/svg+xml;base64,';
    assert.ok(svg.startsWith(svgPrefix));
    assert.match(Buffer.from(svg.slice(svgPrefix.length), 'base64').toString('utf8'), /<svg/);
  });

  it('renders for a terminal', async () => {
    const text = await qrTerminal(uri);
    assert.equal(typeof text, 'string');
    assert.ok(text.trim().length > 0);
  });
});
