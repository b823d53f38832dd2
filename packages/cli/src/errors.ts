/**
 * Errors the CLI raises itself. Each carries a stable `code` (printed after the message, like the
 * server's codes) and the process exit status. Messages never hold a secret value or a token.
 */

export const EXIT_ERROR = 1;
export const EXIT_USAGE = 2;
/** Shell conventions for a command that could not be started (as `sh` and `env` use). */
export const EXIT_NOT_EXECUTABLE = 126;
export const EXIT_NOT_FOUND = 127;

export class CliError extends Error {
  readonly code: string;
  readonly exitCode: number;

  constructor(code: string, message: string, exitCode: number = EXIT_ERROR) {
    super(message);
    this.name = 'CliError';
    this.code = code;
    this.exitCode = exitCode;
  }
}

/** The command line itself is wrong: exit 2, so scripts can tell a typo from a failed operation. */
export class UsageError extends CliError {
  constructor(message: string) {
    super('usage', message, EXIT_USAGE);
    this.name = 'UsageError';
  }
}

/** Not a failure: `--help` was asked for; main prints the usage and exits 0. */
export class HelpRequest extends Error {
  readonly usage: string;

  constructor(usage: string) {
    super('help requested');
    this.name = 'HelpRequest';
    this.usage = usage;
  }
}
