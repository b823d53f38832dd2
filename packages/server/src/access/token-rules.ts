import { AppError } from '../errors.js';
import { formatRange, parseRange, type IpRange } from './ip-ranges.js';
import { heldAnywhere, type MemberAccess } from './member-access.js';
import { TOKEN_ACCESS_PERMISSIONS, TOKEN_GRANTABLE, TOKEN_TYPE_PERMISSIONS, type Permission, type TokenAccess, type TokenType } from './permissions.js';

/**
 * The pure rules of the token model (issue 4), apart from storage: what a type grants, how long a
 * token may live, which addresses it may come from, and what it may do once its creator's role
 * changed. Each answers a plain value or throws an AppError with a stable code.
 */

/** The permissions a new token gets: its type's, or the custom ones (only from TOKEN_GRANTABLE). */
export function tokenPermissions(type: TokenType, custom: readonly Permission[] | undefined): Permission[] {
  if (type !== 'custom') {
    if (custom !== undefined) throw new AppError('permission_not_grantable', `A ${type} token has fixed permissions; choose them only with type custom`);
    return [...TOKEN_TYPE_PERMISSIONS[type]];
  }
  if (!custom || custom.length === 0) throw new AppError('permission_not_grantable', 'A custom token needs at least one permission');
  for (const p of custom) {
    if (!TOKEN_GRANTABLE.includes(p)) throw new AppError('permission_not_grantable', `An API token cannot hold ${p}: tokens act on secrets, never on the organization`);
  }
  return [...new Set(custom)].sort();
}

/** The original read/write shorthand, as the type and permissions it stands for. */
export function fromAccess(access: TokenAccess): { type: TokenType; permissions: Permission[] } {
  return { type: access === 'read' ? 'read-only' : 'custom', permissions: [...TOKEN_ACCESS_PERMISSIONS[access]].sort() };
}

/**
 * When a new token expires. Every token does: `undefined` (not said) is refused unless the request
 * used the original shorthand, which gets the maximum; `null` ("never") is always refused.
 */
export function tokenExpiry(now: number, expiresInSeconds: number | null | undefined, opts: { maxTtlS: number; defaultToMax: boolean }): number {
  let ttl = expiresInSeconds;
  if (ttl === undefined && opts.defaultToMax) ttl = opts.maxTtlS;
  if (ttl === undefined || ttl === null) throw new AppError('token_expiry_required', `A token must expire: give expiresInSeconds (at most ${opts.maxTtlS})`);
  if (ttl > opts.maxTtlS) throw new AppError('token_ttl_too_long', `A token may live at most ${opts.maxTtlS} seconds (KEYNEST_TOKEN_MAX_TTL_S)`);
  return now + ttl * 1000;
}

/** Canonical CIDR texts of the allowed ranges (null: any address), or 400 invalid_ip_range. */
export function allowedRanges(texts: readonly string[] | null | undefined): string[] | null {
  if (!texts || texts.length === 0) return null;
  const out = new Set<string>();
  for (const text of texts) {
    const parsed = parseRange(text);
    if ('problem' in parsed) {
      const hint = parsed.suggestion ? ` (did you mean ${parsed.suggestion}?)` : '';
      throw new AppError('invalid_ip_range', `Not an IP address or CIDR range: ${parsed.problem}${hint}`);
    }
    out.add(formatRange(parsed.range));
  }
  return [...out];
}

/** Stored CIDR texts back into ranges; anything unparsable admits nobody (fail closed). */
export function compileRanges(json: string | null): IpRange[] | null {
  if (json === null) return null;
  const ranges: IpRange[] = [];
  for (const text of JSON.parse(json) as string[]) {
    const parsed = parseRange(text);
    if ('range' in parsed) ranges.push(parsed.range);
  }
  return ranges;
}

/**
 * What a token may do now: its own permissions cut down to what its creator holds anywhere now
 * (each use is then cut to the creator's access there: `can`), so a token never does more than
 * its creator could. A creator who left leaves a user token with nothing (null: dead); an org
 * token keeps what it was given, checked when it was created.
 */
export function effectivePermissions(own: readonly Permission[], owner: 'user' | 'org', creator: MemberAccess | null): Set<Permission> | null {
  if (creator === null) return owner === 'org' ? new Set(own) : null;
  const held = heldAnywhere(creator);
  return new Set(own.filter((p) => held.has(p)));
}
