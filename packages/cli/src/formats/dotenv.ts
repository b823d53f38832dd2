/**
 * Writes secrets as a .env file that the `dotenv` package parses back to exactly the stored values,
 * with both of its parsers (the default one and `{ fast: true }`).
 *
 * dotenv has no general escape mechanism, so each value gets the first quoting that provably holds it:
 * - `"…"`: dotenv turns `\n` and `\r` into newline and carriage return and does nothing else, so a
 *   value holding a literal backslash-n cannot go in double quotes, and an unescaped `"` cannot either;
 * - `'…'` and `` `…` ``: taken verbatim (raw newlines allowed), so they fail only on their own quote
 *   character and on carriage returns, which dotenv folds into newlines;
 * - `"…"` holding bare `"`: dotenv falls back to reading the rest of the line and stripping the outer
 *   quotes, which works as long as the line holds no `#` (it would start a comment);
 * - unquoted: for plain one-line values, which also covers a trailing backslash (`C:\dir\`).
 * A quoted value ending in a backslash escapes its own closing quote, so dotenv keeps scanning for a
 * later one; those are written last and the text after them is checked (see closesCleanly).
 * A value that fits none of these is refused with an error naming the key: writing it anyway would
 * hand the user a file that silently loads a different value.
 */
import { UnrepresentableValueError, type ExportEntry } from './entry.js';

type Quote = '"' | "'" | '`';

/** dotenv's whitespace (its `g`), which is also JavaScript's `\s`. */
const WHITESPACE = /\s/;
/** Characters after which dotenv considers a line ended. */
const LINE_BREAK = /[\n\u2028\u2029]/;

export function formatDotenv(entries: ExportEntry[]): string {
  const lines: string[] = [];
  const escapedClose: ExportEntry[] = [];
  for (const entry of entries) {
    const encoded = encodeValue(entry.value);
    if (encoded === null) escapedClose.push(entry);
    else lines.push(`${entry.key}=${encoded}\n`);
  }
  // Values whose closing quote ends up escaped go last, each written after the text that follows it
  // is known, so the quote can be chosen to stop dotenv's scan where the value ends.
  let tail = '';
  for (const { key, value } of escapedClose.reverse()) {
    const quote = (["'", '`'] as const).find(
      (q) => fitsVerbatimQuotes(value, q, true) && closesCleanly(`\n${tail}`, q),
    );
    if (quote === undefined) throw unrepresentable(key);
    tail = `${key}=${quote}${value}${quote}\n${tail}`;
  }
  return lines.join('') + tail;
}

/** The quoted or bare form of a value that reads back exactly wherever it stands, or null. */
export function encodeValue(value: string): string | null {
  const escaped = value.replace(/\n/g, '\\n').replace(/\r/g, '\\r');
  const doubleQuotable = !/\\[nr]/.test(value) && !value.endsWith('\\');
  if (doubleQuotable && !hasBare(escaped, '"')) return `"${escaped}"`;
  for (const quote of ["'", '`'] as const) {
    if (fitsVerbatimQuotes(value, quote, false)) return `${quote}${value}${quote}`;
  }
  // The fallback read of `"a"b"`: one line, no comment, no inner quote that could pass for the closing one.
  if (doubleQuotable && !escaped.includes('#') && !/"\s*[\u2028\u2029]/.test(escaped)) return `"${escaped}"`;
  if (isBare(value)) return value;
  return null;
}

function fitsVerbatimQuotes(value: string, quote: Quote, allowTrailingBackslash: boolean): boolean {
  if (value.includes('\r') || hasBare(value, quote)) return false;
  return allowTrailingBackslash || !value.endsWith('\\');
}

/** True when `quote` occurs in `content` without a backslash right before it. */
function hasBare(content: string, quote: Quote): boolean {
  for (let i = content.indexOf(quote); i !== -1; i = content.indexOf(quote, i + 1)) {
    if (i === 0 || content[i - 1] !== '\\') return true;
  }
  return false;
}

/** Unquoted values are trimmed, cut at `#` and at the line's end, and unquoted if they look quoted. */
function isBare(value: string): boolean {
  return (
    value !== '' &&
    value === value.trim() &&
    !/[#\r\n\u2028\u2029]/.test(value) &&
    !/^['"`]/.test(value)
  );
}

/**
 * After a closing quote that is preceded by a backslash, dotenv reads on to the next occurrence of the
 * same quote. The value ends where we meant it to only if that next occurrence does not exist, or is
 * unescaped (which stops the scan) and is not itself followed by the end of a line or a comment
 * (which would make it the closing quote instead). `after` is the text after the closing quote.
 */
function closesCleanly(after: string, quote: Quote): boolean {
  const next = after.indexOf(quote);
  if (next === -1) return true;
  if (after[next - 1] === '\\') return false;
  let i = next + 1;
  while (i < after.length && WHITESPACE.test(after[i]!) && !LINE_BREAK.test(after[i]!)) i++;
  return !(i === after.length || LINE_BREAK.test(after[i]!) || after[i] === '#');
}

function unrepresentable(key: string): UnrepresentableValueError {
  return new UnrepresentableValueError(
    key,
    `the value of ${key} cannot be written so that dotenv reads it back exactly ` +
      '(it combines quote characters with "#", backslash-n or carriage returns); use --format json',
  );
}
