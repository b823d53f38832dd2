/**
 * Durations for `tokens create --expires`: a number and a unit, possibly several (`1d12h`).
 * A bare number is refused: `--expires 30` could mean seconds or days, and a token that lives
 * 86,400 times longer than meant is a real risk.
 */
import { UsageError } from './errors.js';

const SECONDS_PER_UNIT: Record<string, number> = {
  s: 1,
  m: 60,
  h: 60 * 60,
  d: 24 * 60 * 60,
  w: 7 * 24 * 60 * 60,
  y: 365 * 24 * 60 * 60,
};

/** Seconds, or null for `never`. */
export function parseDuration(text: string): number | null {
  const trimmed = text.trim().toLowerCase();
  if (trimmed === 'never') return null;
  if (!/^(\d+[smhdwy])+$/.test(trimmed)) {
    throw new UsageError(`invalid duration "${text}": use a number and a unit (s, m, h, d, w, y), e.g. 30d, or never`);
  }
  let seconds = 0;
  for (const [, amount, unit] of trimmed.matchAll(/(\d+)([smhdwy])/g)) {
    seconds += Number(amount) * SECONDS_PER_UNIT[unit!]!;
  }
  if (seconds <= 0 || !Number.isSafeInteger(seconds)) {
    throw new UsageError(`invalid duration "${text}": it must be longer than zero`);
  }
  return seconds;
}

/** ISO-8601 as given, or a duration (7d) counted back from now. */
export function timeOf(flag: string, text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  if (/^\d+[smhdwy]/i.test(text)) {
    const seconds = parseDuration(text);
    if (seconds === null) throw new UsageError(`${flag} must be a time or a duration ago, not "${text}"`);
    return new Date(Date.now() - seconds * 1000).toISOString();
  }
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw new UsageError(`${flag} must be ISO-8601 (2026-11-01T09:00:00Z) or a duration ago (7d), not "${text}"`);
  return new Date(ms).toISOString();
}
