/**
 * The `keynest` command: picks the command, loads only that command's module (start-up time matters
 * for `keynest run`, which wraps every process start), runs it, and turns any failure into exactly
 * one line on stderr and a non-zero exit status. Stack traces are never shown: they can be long, and
 * nothing in them helps a user who typed a command.
 */
import { GLOBAL_OPTIONS, splitCommand, valueOptionNames, wantsHelp } from './args.js';
import { COMMAND_NAMES, loadCommand, topLevelUsage } from './commands/index.js';
import { errorLine } from './error-line.js';
import { EXIT_ERROR, HelpRequest, UsageError } from './errors.js';
import { processIo, type Io } from './io.js';

export async function main(argv: readonly string[], io: Io): Promise<number> {
  try {
    const { name, rest } = splitCommand(argv, valueOptionNames(GLOBAL_OPTIONS));
    if (name === undefined || name === 'help') {
      if (name === 'help' || wantsHelp(argv)) {
        io.stdout.write(topLevelUsage());
        return 0;
      }
      if (argv.includes('--version')) {
        io.stdout.write(`${await readVersion()}\n`);
        return 0;
      }
      throw new UsageError('missing command; run keynest --help');
    }
    if (!COMMAND_NAMES.includes(name)) throw new UsageError(`unknown command "${name}"; run keynest --help`);
    const command = await loadCommand(name);
    return await command.run(rest, io);
  } catch (error) {
    if (error instanceof HelpRequest) {
      io.stdout.write(error.usage.endsWith('\n') ? error.usage : `${error.usage}\n`);
      return 0;
    }
    io.stderr.write(errorLine(error));
    return exitCodeOf(error);
  }
}

function exitCodeOf(error: unknown): number {
  if (typeof error === 'object' && error !== null && 'exitCode' in error && typeof error.exitCode === 'number') {
    return error.exitCode;
  }
  return EXIT_ERROR;
}

async function readVersion(): Promise<string> {
  const { readFileSync } = await import('node:fs');
  const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return manifest.version;
}

/** Exit status of a process killed by SIGPIPE, which is what `keynest export | head -1` should look like. */
const EXIT_BROKEN_PIPE = 128 + 13;

export async function runMain(): Promise<void> {
  // A reader that goes away (head, a closed pager) is not a failure worth a stack trace.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(EXIT_BROKEN_PIPE);
    throw error;
  });
  process.exitCode = await main(process.argv.slice(2), processIo());
}
