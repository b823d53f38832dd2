/**
 * Reads a .env file the way the `dotenv` package does (its linear `fast` parser, which agrees with its
 * default parser on every well-formed file), so `keynest import` stores what `dotenv` would have
 * loaded. The CLI may not depend on dotenv at run time, hence this port; dotenv-parse.test.ts holds it
 * to dotenv's answers on a corpus and on random input.
 */

const HASH = 0x23;
const EQUALS = 0x3d;
const COLON = 0x3a;
const BACKSLASH = 0x5c;
const DOUBLE_QUOTE = 0x22;
const QUOTES = new Set([0x22, 0x27, 0x60]);

/** dotenv's whitespace, the same set as JavaScript's `\s`. */
function isSpace(c: number): boolean {
  if (c <= 32) return c === 32 || (c >= 9 && c <= 13);
  return (
    c === 160 || c === 5760 || (c >= 8192 && c <= 8202) || c === 8232 || c === 8233 ||
    c === 8239 || c === 8287 || c === 12288 || c === 65279
  );
}

function isLineBreak(c: number): boolean {
  return c === 10 || c === 8232 || c === 8233;
}

function isKeyChar(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 45 || c === 46 || c === 95;
}

/** Entries in file order; a key given twice keeps its first position and its last value, as dotenv does. */
export function parseDotenv(input: string): Map<string, string> {
  const text = input.includes('\r') ? input.replace(/\r\n?/g, '\n') : input;
  const length = text.length;
  const at = (i: number): number => (i < length ? text.charCodeAt(i) : 0);
  const endOfLine = (from: number): number => {
    let i = from;
    while (i < length && !isLineBreak(text.charCodeAt(i))) i++;
    return i;
  };
  const entries = new Map<string, string>();

  let i = 0;
  while (i < length) {
    while (i < length && isSpace(at(i))) i++;
    if (i >= length) break;
    if (at(i) === HASH) {
      i = endOfLine(i);
      continue;
    }

    // `export KEY=…`: the word is dropped only when a key follows it.
    let afterExport = -1;
    if (text.startsWith('export', i) && i + 6 < length && isSpace(at(i + 6))) {
      let j = i + 7;
      while (j < length && isSpace(at(j))) j++;
      if (isKeyChar(at(j))) {
        afterExport = i + 6;
        i = j;
      }
    }

    const keyStart = i;
    while (i < length && isKeyChar(at(i))) i++;
    if (i === keyStart) {
      i = endOfLine(i);
      continue;
    }
    const key = text.slice(keyStart, i);
    const keyEnd = i;
    while (i < length && isSpace(at(i))) i++;
    if (at(i) === EQUALS) {
      i++;
    } else if (at(i) === COLON && i === keyEnd && i + 1 < length && isSpace(at(i + 1))) {
      i += 2;
    } else {
      i = endOfLine(afterExport === -1 ? keyEnd : afterExport);
      continue;
    }

    const read = readValue(text, i);
    i = read.next;
    entries.set(key, read.value);
  }
  return entries;
}

interface ReadValue {
  value: string;
  next: number;
}

function readValue(text: string, valueStart: number): ReadValue {
  const length = text.length;
  let first = valueStart;
  while (first < length && isSpace(text.charCodeAt(first))) first++;
  const opening = first < length ? text.charCodeAt(first) : 0;

  const quoted = QUOTES.has(opening) ? readQuoted(text, first) : null;
  let value: string;
  let next: number;
  if (quoted) {
    ({ value, next } = quoted);
  } else {
    ({ value, next } = readUnquoted(text, valueStart));
  }
  // Only double-quoted values know escapes, and only these two.
  if (opening === DOUBLE_QUOTE && (quoted !== null || first < next) && value.includes('\\')) {
    value = value.replace(/\\n/g, '\n').replace(/\\r/g, '\r');
  }
  return { value, next };
}

/**
 * The closing quote is the last candidate (a quote followed by the end of its line or a comment) up
 * to the first quote not preceded by a backslash. Null when there is no candidate: the value is then
 * read as unquoted.
 */
function readQuoted(text: string, open: number): ReadValue | null {
  const length = text.length;
  const quote = text[open]!;
  let close = -1;
  let after = -1;
  for (let s = text.indexOf(quote, open + 1); s !== -1; s = text.indexOf(quote, s + 1)) {
    const escaped = text.charCodeAt(s - 1) === BACKSLASH;
    let w = s + 1;
    while (w < length && !isLineBreak(text.charCodeAt(w)) && isSpace(text.charCodeAt(w))) w++;
    if (w === length || isLineBreak(text.charCodeAt(w)) || text.charCodeAt(w) === HASH) {
      close = s;
      after = w;
    }
    if (!escaped) break;
  }
  if (close === -1) return null;
  let next = after;
  if (text.charCodeAt(next) === HASH) {
    while (next < length && !isLineBreak(text.charCodeAt(next))) next++;
  }
  return { value: text.slice(open + 1, close), next };
}

function readUnquoted(text: string, valueStart: number): ReadValue {
  const length = text.length;
  let lineEnd = text.indexOf('\n', valueStart);
  if (lineEnd === -1) lineEnd = length;
  let end = text.indexOf('#', valueStart);
  if (end === -1 || end > lineEnd) end = lineEnd;

  let from = valueStart;
  let to = end;
  while (from < to && isSpace(text.charCodeAt(from))) from++;
  while (to > from && isSpace(text.charCodeAt(to - 1))) to--;
  let value = text.slice(from, to);
  const first = text.charCodeAt(from);
  if (value.includes('\u2028') || value.includes('\u2029')) {
    // dotenv strips a quoted span between these line separators too; kept for identical answers.
    value = value.replace(/^(['"`])([\s\S]*)\1$/gm, '$2');
  } else if (to - from >= 2 && QUOTES.has(first) && text.charCodeAt(to - 1) === first) {
    value = text.slice(from + 1, to - 1);
  }

  let next = end;
  if (end < lineEnd) {
    while (next < length && !isLineBreak(text.charCodeAt(next))) next++;
  }
  return { value, next };
}
