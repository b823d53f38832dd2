import { ConfigError } from '../../errors.js';
import type { RateWindow } from './store.js';

/** Whom a rule counts: the client address, the signed-in user, the API token, or the org. */
export const RATE_KEYS = ['ip', 'user', 'token', 'org'] as const;
export type RateKey = (typeof RATE_KEYS)[number];

/** Named sets of routes a rule can cover at once (docs/rate-limits.md lists their members). */
export const ROUTE_GROUPS = ['auth', 'read', 'write'] as const;
export type RouteGroup = (typeof ROUTE_GROUPS)[number];

/**
 * What a rule covers: every route (`*`), a group, or one route pattern as registered (with its
 * method, or every method when none is given).
 */
export type RateScope = { kind: 'all' } | { kind: 'group'; group: RouteGroup } | { kind: 'route'; method: string | null; url: string };

/** One rule: `window` null means "no limit here" (it switches off a broader rule for that key). */
export interface RateRule {
  /** As written (`*`, `auth`, `GET /api/v1/projects`): names the rule in metrics and refusals. */
  scope: string;
  key: RateKey;
  window: RateWindow | null;
}

/**
 * The defaults, in force unless KEYNEST_RATE_LIMITS says otherwise. Generous for normal use (a
 * dashboard page, a fleet of CI jobs), tight where a burst means guessing: every authentication
 * route together from one address. Sign-in also keeps its own brakes (identity/throttle.ts: per
 * address, per account+address with refunds on success, and the lockout), which answer first.
 */
export const DEFAULT_RATE_RULES: readonly RateRule[] = [
  { scope: '*', key: 'ip', window: { points: 12_000, durationS: 60 } },
  { scope: '*', key: 'user', window: { points: 1_200, durationS: 60 } },
  { scope: '*', key: 'token', window: { points: 6_000, durationS: 60 } },
  { scope: 'auth', key: 'ip', window: { points: 60, durationS: 60 } },
];

/** Load balancers probe these as often as they like; a refused probe would take an instance out. */
export const UNLIMITED_PATHS: ReadonlySet<string> = new Set(['/healthz', '/readyz']);

/**
 * The `auth` group: where a caller proves who they are or spends a mailed code, so a burst is a
 * guess. Every route under /api/v1/auth/, setup, and the changes of a password or second factor.
 */
export function groupsOf(method: string, url: string): RouteGroup[] {
  const read = method === 'GET' || method === 'HEAD';
  const auth =
    url.startsWith('/api/v1/auth/') ||
    (url === '/api/v1/setup' && !read) ||
    (url.startsWith('/api/v1/me/2fa') && !read) ||
    url === '/api/v1/me/password' ||
    url === '/api/v1/me/email/verification';
  return auth ? ['auth', read ? 'read' : 'write'] : [read ? 'read' : 'write'];
}

export function scopeOf(text: string): RateScope | null {
  if (text === '*') return { kind: 'all' };
  if ((ROUTE_GROUPS as readonly string[]).includes(text)) return { kind: 'group', group: text as RouteGroup };
  const m = /^(?:(GET|HEAD|POST|PUT|PATCH|DELETE) )?(\/[\x21-\x7e]*)$/.exec(text);
  return m ? { kind: 'route', method: m[1] ?? null, url: m[2]! } : null;
}

/** How specific a rule is for a route it covers: the most specific one per key wins. */
function specificity(scope: RateScope, method: string, url: string, groups: readonly RouteGroup[]): number {
  switch (scope.kind) {
    case 'all':
      return 1;
    case 'group':
      // `auth` is narrower than `read`/`write`, which it overlaps.
      return groups.includes(scope.group) ? (scope.group === 'auth' ? 3 : 2) : 0;
    case 'route':
      if (scope.url !== url) return 0;
      return scope.method === null ? 4 : scope.method === method ? 5 : 0;
  }
}

/** For each key, the rule that governs `method url`: the most specific one covering it (none when that one is "off"). */
export function rulesForRoute(rules: readonly RateRule[], method: string, url: string): RateRule[] {
  if (UNLIMITED_PATHS.has(url)) return [];
  const groups = groupsOf(method, url);
  const out: RateRule[] = [];
  for (const key of RATE_KEYS) {
    let best: RateRule | null = null;
    let bestRank = 0;
    for (const r of rules) {
      if (r.key !== key) continue;
      const rank = specificity(scopeOf(r.scope)!, method, url, groups);
      // Later rules win ties: an override replaces a default of the same scope.
      if (rank > 0 && rank >= bestRank) {
        best = r;
        bestRank = rank;
      }
    }
    if (best?.window) out.push(best);
  }
  return out;
}

const MAX_POINTS = 100_000_000;
const MAX_DURATION_S = 86_400;

/**
 * KEYNEST_RATE_LIMITS: rules separated by `;` (or new lines), each `SCOPE@KEY=POINTS/SECONDS` or
 * `SCOPE@KEY=off`, laid over the defaults (a rule with the same scope and key replaces the default).
 * SCOPE is `*`, a group (`auth`, `read`, `write`) or a route pattern as the API documents it,
 * optionally after its method: `GET /api/v1/projects/:project/environments/:env/secrets/:key@token=100/1`.
 */
export function parseRateRules(raw: string | undefined, name = 'KEYNEST_RATE_LIMITS'): RateRule[] {
  const rules: RateRule[] = [...DEFAULT_RATE_RULES];
  if (raw === undefined) return rules;
  const parts = raw
    .split(/[;\n]/)
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const [i, part] of parts.entries()) {
    const fail = (why: string): never => {
      throw new ConfigError(name, `rule ${i + 1} ("${part}"): ${why}; write SCOPE@KEY=POINTS/SECONDS or SCOPE@KEY=off, e.g. auth@ip=30/60 (docs/rate-limits.md)`);
    };
    const m = /^(.+)@([a-z]+)\s*=\s*(\S+)$/.exec(part);
    if (!m) fail('not in the form SCOPE@KEY=LIMIT');
    const [, scopeText, keyText, limitText] = m!;
    const scope = scopeText!.trim();
    if (!scopeOf(scope)) fail(`scope must be *, ${ROUTE_GROUPS.join(', ')}, or a route pattern such as "GET /api/v1/projects"`);
    if (!(RATE_KEYS as readonly string[]).includes(keyText!)) fail(`key must be one of ${RATE_KEYS.join(', ')}`);
    let window: RateWindow | null = null;
    if (limitText !== 'off') {
      const l = /^(\d{1,9})\/(\d{1,6})$/.exec(limitText!);
      const points = Number(l?.[1]);
      const durationS = Number(l?.[2]);
      if (!l || points < 1 || points > MAX_POINTS || durationS < 1 || durationS > MAX_DURATION_S) {
        fail(`limit must be POINTS/SECONDS with 1 to ${MAX_POINTS} points per 1 to ${MAX_DURATION_S} seconds, or off`);
      }
      window = { points, durationS };
    }
    const key = keyText as RateKey;
    const same = rules.findIndex((r) => r.scope === scope && r.key === key);
    if (same >= 0) rules.splice(same, 1);
    rules.push({ scope, key, window });
  }
  return rules;
}

/** A rule's name in metrics, the security status and refusals (`http/auth/ip`). */
export const ruleName = (r: Pick<RateRule, 'scope' | 'key'>): `http/${string}` => `http/${r.scope}/${r.key}`;
