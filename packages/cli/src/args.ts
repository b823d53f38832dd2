/**
 * Command-line parsing on node:util parseArgs. Every command accepts the global options (--server,
 * --json, --help), wherever they stand on the line, so `keynest --json secrets list` and
 * `keynest secrets list --json` mean the same.
 */
import { parseArgs } from 'node:util';
import { HelpRequest, UsageError } from './errors.js';

/** The subset of parseArgs option settings the CLI uses (node:util does not export its own type). */
export interface OptionConfig {
  type: 'string' | 'boolean';
  short?: string;
  /** May be given more than once (`--permission a --permission b`): the values come as a list. */
  multiple?: boolean;
}
export type OptionsConfig = Record<string, OptionConfig>;

type OptionValue<C extends OptionConfig> = C['multiple'] extends true ? string[] : C['type'] extends 'boolean' ? boolean : string;

export type ParsedValues<O extends OptionsConfig> = { [K in keyof O]?: OptionValue<O[K]> } & {
  server?: string;
  json?: boolean;
  help?: boolean;
};

export interface ParsedCommand<O extends OptionsConfig> {
  values: ParsedValues<O>;
  positionals: string[];
  globals: Globals;
}

export const GLOBAL_OPTIONS = {
  server: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies OptionsConfig;

export interface Globals {
  server: string | undefined;
  json: boolean;
}

/** Options that take a value, which a scan for the (sub)command name must step over. */
export function valueOptionNames(options: OptionsConfig): Set<string> {
  const names = new Set<string>();
  const all: OptionsConfig = { ...GLOBAL_OPTIONS, ...options };
  for (const [name, config] of Object.entries(all)) {
    if (config.type !== 'string') continue;
    names.add(`--${name}`);
    if (config.short) names.add(`-${config.short}`);
  }
  return names;
}

/**
 * Splits `[options] NAME rest...` into the first positional and everything else (in order), so a
 * dispatcher can pick the command and hand the rest, options included, to that command's parser.
 */
export function splitCommand(argv: readonly string[], valueOptions: Set<string>): { name?: string; rest: string[] } {
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (token === '--') break;
    if (token.startsWith('-') && token !== '-') {
      if (valueOptions.has(token)) i++;
      continue;
    }
    return { name: token, rest: [...argv.slice(0, i), ...argv.slice(i + 1)] };
  }
  return { rest: [...argv] };
}

/** True when -h/--help stands before any `--`: help wins over every other check. */
export function wantsHelp(argv: readonly string[]): boolean {
  for (const token of argv) {
    if (token === '--') return false;
    if (token === '--help' || token === '-h') return true;
  }
  return false;
}

export function parseCommand<const O extends OptionsConfig>(
  argv: readonly string[],
  options: O,
  usage: string,
): ParsedCommand<O> {
  if (wantsHelp(argv)) throw new HelpRequest(usage);
  try {
    const parsed = parseArgs({
      args: argv,
      options: { ...GLOBAL_OPTIONS, ...options },
      allowPositionals: true,
      strict: true,
    });
    const values = parsed.values as ParsedValues<O>;
    const globals: Globals = { server: values.server, json: values.json === true };
    return { values, positionals: parsed.positionals, globals };
  } catch (error) {
    if (error instanceof Error && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS')) {
      throw new UsageError(error.message);
    }
    throw error;
  }
}

/** Exactly `count` positionals, named in the usage error when missing or extra. */
export function expectPositionals(positionals: string[], names: string[]): string[] {
  if (positionals.length < names.length) {
    throw new UsageError(`missing ${names.slice(positionals.length).join(' ')}`);
  }
  if (positionals.length > names.length) {
    throw new UsageError(`unexpected argument: ${positionals[names.length]}`);
  }
  return positionals;
}

/** A non-negative integer option such as --if-version or --limit. */
export function parseCount(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d{1,15}$/.test(text)) throw new UsageError(`${flag} must be a whole number, not "${text}"`);
  return Number(text);
}
