import { UsageError } from '../errors.js';

/**
 * The token a mailed link carries: the `kn_…` token itself, or the whole link (whose `token`
 * parameter is taken), so a user may paste either.
 */
export function tokenFromArgument(argument: string, kind: 'sgn' | 'inv'): string {
  let token = argument.trim();
  if (/^https?:\/\//i.test(token)) {
    try {
      token = new URL(token).searchParams.get('token') ?? '';
    } catch {
      token = '';
    }
  }
  if (!token.startsWith(`kn_${kind}_`)) throw new UsageError(`expected the kn_${kind}_… token from the mail (or the whole link)`);
  return token;
}
