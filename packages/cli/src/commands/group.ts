/** Dispatch for commands with subcommands (`keynest secrets set …`). */
import { splitCommand, valueOptionNames, wantsHelp, type OptionsConfig } from '../args.js';
import { HelpRequest, UsageError } from '../errors.js';
import type { Io } from '../io.js';

type Subcommand = (argv: string[], io: Io) => Promise<number>;

export async function dispatch(
  group: string,
  argv: string[],
  io: Io,
  subcommands: Record<string, Subcommand>,
  usage: string,
  /** The group's options, so `keynest secrets --project p set …` finds `set`. */
  options: OptionsConfig = {},
): Promise<number> {
  const { name, rest } = splitCommand(argv, valueOptionNames(options));
  if (name === undefined) {
    if (wantsHelp(argv)) throw new HelpRequest(usage);
    throw new UsageError(`missing subcommand: keynest ${group} ${Object.keys(subcommands).join('|')}`);
  }
  const subcommand = Object.hasOwn(subcommands, name) ? subcommands[name] : undefined;
  if (!subcommand) {
    throw new UsageError(`unknown subcommand "${group} ${name}": use one of ${Object.keys(subcommands).join(', ')}`);
  }
  return subcommand(rest, io);
}
