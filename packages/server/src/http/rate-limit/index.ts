/**
 * The HTTP rate limiter (docs/rate-limits.md). Invariants:
 * - every route is limited unless it is a health probe (rules.ts `UNLIMITED_PATHS`); the rule
 *   governing a route for a key is fixed when the route is registered;
 * - counters live behind `RateLimitStore` (store.ts), passed in from outside: this instance's
 *   memory today, a shared store (Redis) in a cluster; nothing here knows which;
 * - a limit check reads no database: an org's plan allowance comes from a cache (orgs/quotas.ts);
 * - every refusal is `429 rate_limited` with Retry-After and is counted by limit name (the same
 *   counts as the sign-in brakes: metrics and the security status).
 */
export { registerRateLimits, PLAN_LIMIT, type LimitName, type RateLimitDeps } from './plugin.js';
export { DEFAULT_RATE_RULES, parseRateRules, ruleName, type RateRule, type RateKey } from './rules.js';
export { MemoryWindowStore, flexibleStore, type RateLimitStore, type RateVerdict, type RateWindow } from './store.js';
