import { execFileSync } from 'node:child_process';

/** A TOTP code made by Debian's oathtool, an implementation independent of ours. */
export function oathtool(secret: string, atMs: number = Date.now()): string {
  const when = new Date(atMs).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
  return execFileSync('oathtool', ['--totp', '-b', '-N', when, secret], { encoding: 'utf8' }).trim();
}
