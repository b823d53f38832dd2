/**
 * `keynest run -- CMD ARGS…`: one GET of the environment's resolved secrets, then CMD started
 * directly (no shell, so nothing in ARGS is re-interpreted) with those secrets in its environment.
 * keynest stays as a thin parent: it forwards termination signals and exits with the child's status,
 * so a supervisor (Docker, systemd, a CI runner) sees the child's behaviour through it.
 */
import type { spawn as Spawn } from 'node:child_process';
import { constants } from 'node:os';
import { parseCommand } from '../args.js';
import { connect, resolveTarget } from '../config/context.js';
import { CliError, EXIT_NOT_EXECUTABLE, EXIT_NOT_FOUND, UsageError } from '../errors.js';
import type { Io } from '../io.js';

const USAGE = `Usage: keynest run [--project P] [--env E] [--preserve-env] -- CMD [ARGS...]

Runs CMD with the environment's secrets (references resolved) added to its environment. Secrets
override variables of the same name unless --preserve-env is given. Exits with CMD's exit status
(128 + the signal number if it was killed by a signal); SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to
keynest are passed on to CMD.
`;

const FORWARDED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const;

export async function run(argv: string[], io: Io): Promise<number> {
  const separator = argv.indexOf('--');
  const own = separator === -1 ? argv : argv.slice(0, separator);
  const command = separator === -1 ? [] : argv.slice(separator + 1);
  const { values, positionals, globals } = parseCommand(
    own,
    { project: { type: 'string' }, env: { type: 'string' }, 'preserve-env': { type: 'boolean' } },
    USAGE,
  );
  if (positionals.length > 0) throw new UsageError(`put the command after --: keynest run -- ${positionals.join(' ')}`);
  if (command.length === 0) throw new UsageError('missing the command to run: keynest run -- CMD [ARGS...]');

  const target = resolveTarget(values, io);
  const { client } = connect(io, globals, { auth: true });
  // Loading child_process overlaps the wait for the server: this path is every wrapped program's start-up.
  const childProcess = import('node:child_process');
  const secrets = await client.listSecrets(target.project, target.env, { purpose: 'run' });

  const env: NodeJS.ProcessEnv = { ...io.env };
  for (const { key, value } of secrets) {
    if (value === undefined) continue;
    if (values['preserve-env'] && env[key] !== undefined) continue;
    env[key] = value;
  }
  return runChild((await childProcess).spawn, command[0]!, command.slice(1), env);
}

function runChild(spawn: typeof Spawn, file: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env, stdio: 'inherit' });
    // Forwarded rather than ignored: a signal sent to keynest alone (kill, docker stop) must reach
    // the program doing the work. From a terminal the child also gets the key's signal directly,
    // so it may see it twice, which is what other process wrappers do as well.
    const forward = (signal: NodeJS.Signals) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    };
    for (const signal of FORWARDED_SIGNALS) process.on(signal, forward);
    const stopForwarding = () => {
      for (const signal of FORWARDED_SIGNALS) process.off(signal, forward);
    };

    child.once('error', (error: NodeJS.ErrnoException) => {
      stopForwarding();
      if (error.code === 'ENOENT') reject(new CliError('command_not_found', `command not found: ${file}`, EXIT_NOT_FOUND));
      else if (error.code === 'EACCES') reject(new CliError('command_not_executable', `permission denied: ${file}`, EXIT_NOT_EXECUTABLE));
      else reject(new CliError('command_failed', `cannot start ${file}: ${error.message}`));
    });
    child.once('exit', (code, signal) => {
      stopForwarding();
      if (signal !== null) resolve(128 + (constants.signals[signal] ?? 0));
      else resolve(code ?? 1);
    });
  });
}
