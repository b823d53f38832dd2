import type { ExportEntry } from './entry.js';

/**
 * `export KEY='value'` lines for `source` or `eval` in any POSIX shell. Inside single quotes nothing
 * is special, not even a newline, so the only character to handle is the quote itself: close the
 * quote, write an escaped quote, reopen (`'\''`).
 */
export function formatShell(entries: ExportEntry[]): string {
  return entries.map(({ key, value }) => `export ${key}=${shellQuote(value)}\n`).join('');
}

export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}
