import { execFileSync } from 'node:child_process';
import type { Api } from './api.js';

/** A TOTP code made by Debian's oathtool, an implementation independent of ours. */
export function oathtool(secret: string, atMs: number = Date.now()): string {
  const when = new Date(atMs).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
  return execFileSync('oathtool', ['--totp', '-b', '-N', when, secret], { encoding: 'utf8' }).trim();
}

/**
 * Turns two-factor authentication on for a signed-in caller (enrol, confirm with a code from
 * oathtool at the server's time); returns the seed, for later codes. Needs a recent sign-in.
 */
export async function enrolTotp(call: Api, nowMs: number): Promise<string> {
  const enrol = await call('POST', '/api/v1/me/2fa/totp');
  if (enrol.status !== 200) throw new Error(`2FA enrolment failed: ${enrol.status} ${enrol.text}`);
  const confirmed = await call('POST', '/api/v1/me/2fa/totp/confirm', { code: oathtool(enrol.body.secret, nowMs) });
  if (confirmed.status !== 200) throw new Error(`2FA confirmation failed: ${confirmed.status} ${confirmed.text}`);
  return enrol.body.secret as string;
}
