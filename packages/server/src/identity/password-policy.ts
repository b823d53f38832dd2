/**
 * Password policy: decides whether a new password (setup, sign-up, change, reset) is acceptable.
 * Invariants:
 * - a problem never carries the password or any slice of it, only the rule and policy numbers,
 *   because problems end up in responses and possibly in logs;
 * - lengths are Unicode code points (NIST SP 800-63B §5.1.1.2: "each Unicode code point SHALL be
 *   counted as a single character"); UTF-16 units would let 6 emoji pass a 12-character minimum,
 *   and grapheme clusters would depend on the ICU version shipped with Node;
 * - the password is only judged, never altered: what is hashed is what the user typed.
 */
import { zxcvbn, zxcvbnOptions, type Score } from '@zxcvbn-ts/core';
import { adjacencyGraphs, dictionary as commonDictionary } from '@zxcvbn-ts/language-common';
import { dictionary as englishDictionary, translations as englishTranslations } from '@zxcvbn-ts/language-en';

export type PasswordScore = Score;

export interface PasswordPolicy {
  minLength: number;
  /** Never above 256: bounds the hashing and checking work one request can cause. */
  maxLength: number;
  /** 0 = off; otherwise how many of lowercase / uppercase / digit / symbol must appear. */
  requireClasses: number;
  minScore: PasswordScore;
}

export const DEFAULT_PASSWORD_POLICY: Readonly<PasswordPolicy> = Object.freeze({
  minLength: 12,
  maxLength: 256,
  requireClasses: 0,
  minScore: 3,
});

export interface PasswordContext {
  email?: string;
  name?: string;
  orgName?: string;
}

export type CharacterClass = 'lowercase' | 'uppercase' | 'digit' | 'symbol';
export type PersonalInfoField = 'email' | 'name' | 'orgName';

export type PasswordProblem =
  | { rule: 'too_short'; message: string; minLength: number }
  | { rule: 'too_long'; message: string; maxLength: number }
  | { rule: 'contains_personal_info'; message: string; field: PersonalInfoField }
  | { rule: 'missing_classes'; message: string; required: number; missing: CharacterClass[] }
  | { rule: 'too_common'; message: string }
  | {
      rule: 'too_weak';
      message: string;
      score: PasswordScore;
      minScore: PasswordScore;
      warning: string | null;
      suggestions: string[];
    };

const HARD_MAX_LENGTH = 256;
const MIN_LENGTH_FLOOR = 8;
/**
 * zxcvbn's matching is superlinear in length (a 256-character password costs seconds). The length
 * rules have already run on the whole password by the time we score, so scoring a prefix only
 * bounds CPU per request; 100 code points of a strong password are already far beyond guessing.
 */
const SCORED_PREFIX_CODE_POINTS = 100;
/**
 * zxcvbn re-runs every dictionary over each l33t reading of the password, up to this many
 * (library default 100). Symbol-rich inputs hit the cap, and at 100 one check blocks the event
 * loop for ~0.5 s; 10 readings keep realistic l33t passwords scored the same.
 */
const L33T_MAX_SUBSTITUTIONS = 10;
/** Shorter fragments (initials, "Al", "IT") would reject far too many unrelated passwords. */
const MIN_PERSONAL_FRAGMENT = 3;

const CLASS_PATTERNS: ReadonlyArray<readonly [CharacterClass, RegExp]> = [
  ['lowercase', /\p{Ll}/u],
  ['uppercase', /\p{Lu}/u],
  ['digit', /\p{Nd}/u],
  // Combining marks are part of a letter (decomposed "é"), not a symbol.
  ['symbol', /[^\p{L}\p{N}\p{M}]/u],
];

const PERSONAL_INFO_LABEL: Record<PersonalInfoField, string> = {
  email: 'your email address',
  name: 'your name',
  orgName: "your organization's name",
};

export class PasswordChecker {
  readonly #policy: PasswordPolicy;
  readonly #commonPasswords: ReadonlySet<string>;

  constructor(policy: PasswordPolicy) {
    this.#policy = parsePasswordPolicy(policy);
    this.#commonPasswords = new Set(commonDictionary.passwords);
    // zxcvbn-ts v3 has no ZxcvbnFactory (that arrived in v4): `zxcvbn()` reads the library's own
    // singleton. Every checker writes the same values, so constructing more than one is harmless.
    zxcvbnOptions.setOptions({
      dictionary: { ...commonDictionary, ...englishDictionary, userInputs: [] },
      graphs: adjacencyGraphs,
      translations: englishTranslations,
      l33tMaxSubstitutions: L33T_MAX_SUBSTITUTIONS,
    });
  }

  check(password: string, context: PasswordContext): PasswordProblem | null {
    const { minLength, maxLength, requireClasses, minScore } = this.#policy;
    const length = countCodePoints(password);
    if (length < minLength) {
      return { rule: 'too_short', message: `Use at least ${minLength} characters.`, minLength };
    }
    if (length > maxLength) {
      return { rule: 'too_long', message: `Use at most ${maxLength} characters.`, maxLength };
    }

    const folded = fold(password);
    const personal = personalFragments(context);
    for (const { field, fragment } of personal) {
      if (folded.includes(fragment)) {
        const message = `The password must not contain ${PERSONAL_INFO_LABEL[field]}.`;
        return { rule: 'contains_personal_info', message, field };
      }
    }

    if (requireClasses > 0) {
      const missing = CLASS_PATTERNS.filter(([, re]) => !re.test(password)).map(([name]) => name);
      if (CLASS_PATTERNS.length - missing.length < requireClasses) {
        const message =
          `Use at least ${requireClasses} of: lowercase letters, uppercase letters, digits, symbols.`;
        return { rule: 'missing_classes', message, required: requireClasses, missing };
      }
    }

    if (this.#commonPasswords.has(folded)) {
      return { rule: 'too_common', message: 'This password is on a list of commonly used passwords.' };
    }

    // Always an array, even empty: v3 keeps the last call's user inputs until it is given new ones,
    // and zxcvbn is synchronous, so no other check can run between setting and using them.
    const userInputs = [...new Set(personal.flatMap((p) => [p.fragment, ...words(p.fragment)]))];
    const result = zxcvbn(codePointPrefix(password, SCORED_PREFIX_CODE_POINTS), userInputs);
    if (result.score < minScore) {
      const { warning, suggestions } = result.feedback;
      const message = ['This password is too easy to guess.', warning, ...suggestions]
        .filter((part): part is string => Boolean(part))
        .join(' ');
      return { rule: 'too_weak', message, score: result.score, minScore, warning, suggestions };
    }
    return null;
  }
}

/** Fills in defaults and enforces bounds; throws a plain Error naming the offending field. */
export function parsePasswordPolicy(partial: Partial<PasswordPolicy>): PasswordPolicy {
  for (const key of Object.keys(partial)) {
    // A misspelt key would otherwise silently leave the default in force.
    if (!Object.hasOwn(DEFAULT_PASSWORD_POLICY, key)) throw new Error(`password policy: unknown field "${key}"`);
  }
  const pick = <K extends keyof PasswordPolicy>(key: K): PasswordPolicy[K] =>
    partial[key] ?? DEFAULT_PASSWORD_POLICY[key];
  const minLength = integerIn('minLength', pick('minLength'), MIN_LENGTH_FLOOR, HARD_MAX_LENGTH);
  const maxLength = integerIn('maxLength', pick('maxLength'), minLength, HARD_MAX_LENGTH);
  const requireClasses = integerIn('requireClasses', pick('requireClasses'), 0, CLASS_PATTERNS.length);
  const minScore = integerIn('minScore', pick('minScore'), 0, 4) as PasswordScore;
  return { minLength, maxLength, requireClasses, minScore };
}

function integerIn(field: keyof PasswordPolicy, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new Error(`password policy: ${field} must be an integer from ${min} to ${max}, got ${String(value)}`);
  }
  return value;
}

/** NFKC so full-width or ligature look-alikes of a listed password or a name are still caught. */
function fold(text: string): string {
  return text.normalize('NFKC').toLowerCase();
}

function personalFragments(context: PasswordContext): { field: PersonalInfoField; fragment: string }[] {
  const fragments: { field: PersonalInfoField; fragment: string }[] = [];
  const add = (field: PersonalInfoField, raw: string | undefined): void => {
    const fragment = fold(raw?.trim() ?? '');
    if (countCodePoints(fragment) >= MIN_PERSONAL_FRAGMENT) fragments.push({ field, fragment });
  };
  add('email', context.email);
  const at = context.email?.lastIndexOf('@') ?? -1;
  if (at > 0) add('email', context.email?.slice(0, at));
  add('name', context.name);
  add('orgName', context.orgName);
  return fragments;
}

/** Parts of a name or address, so zxcvbn also penalizes "Smith" alone or "4lice" for "alice.smith". */
function words(fragment: string): string[] {
  return fragment.split(/[^\p{L}\p{N}]+/u).filter((w) => countCodePoints(w) >= MIN_PERSONAL_FRAGMENT);
}

function countCodePoints(text: string): number {
  let count = 0;
  for (const _ of text) count++;
  return count;
}

function codePointPrefix(text: string, codePoints: number): string {
  let end = 0;
  let count = 0;
  for (const ch of text) {
    if (count++ === codePoints) break;
    end += ch.length;
  }
  return text.slice(0, end);
}
