/**
 * `keynest serve`: the server package is loaded only here, and is optional for the CLI, so a CI
 * runner that only needs `keynest run` never installs SQLite bindings.
 */
import { parseCommand, parseCount } from '../args.js';
import { CliError, UsageError } from '../errors.js';
import type { Io } from '../io.js';

const USAGE = `Usage: keynest serve [--host HOST] [--port PORT] [--data-dir DIR]

Runs a KeyNest server until it receives SIGINT or SIGTERM. Other settings come from KEYNEST_*
environment variables (see the server's documentation).

Options
  --host HOST       address to listen on
  --port PORT       port to listen on (0: any free port)
  --data-dir DIR    where the embedded database and key file live
`;

/** What the CLI needs of @keynest/server. */
interface ServerModule {
  runServer(options: { host?: string; port?: number; dataDir?: string }): Promise<void>;
}

const SERVER_PACKAGE = '@keynest/server';

export async function run(argv: string[], _io: Io): Promise<number> {
  const { values, positionals } = parseCommand(
    argv,
    { host: { type: 'string' }, port: { type: 'string' }, 'data-dir': { type: 'string' } },
    USAGE,
  );
  if (positionals.length > 0) throw new UsageError(`unexpected argument: ${positionals[0]}`);
  const port = parseCount('--port', values.port);
  if (port !== undefined && port > 65535) throw new UsageError('--port must be between 0 (any free port) and 65535');

  const server = await loadServer();
  await server.runServer({
    ...(values.host !== undefined && { host: values.host }),
    ...(port !== undefined && { port }),
    ...(values['data-dir'] !== undefined && { dataDir: values['data-dir'] }),
  });
  // runServer reports a bad setting by setting the exit status itself (78, EX_CONFIG); keep it.
  return Number(process.exitCode ?? 0);
}

async function loadServer(): Promise<ServerModule> {
  // A variable specifier keeps TypeScript from tying the CLI's build to the server's types.
  const specifier: string = SERVER_PACKAGE;
  let loaded: Partial<ServerModule>;
  try {
    loaded = (await import(specifier)) as Partial<ServerModule>;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const missing = code === 'ERR_MODULE_NOT_FOUND' && String((error as Error).message).includes(SERVER_PACKAGE);
    throw new CliError(
      'server_not_installed',
      missing
        ? `the server package ${SERVER_PACKAGE} is not installed; install it to use keynest serve`
        : `the server package ${SERVER_PACKAGE} could not be loaded: ${(error as Error).message}`,
    );
  }
  if (typeof loaded.runServer !== 'function') {
    throw new CliError('server_not_installed', `the installed ${SERVER_PACKAGE} has no runServer; reinstall it`);
  }
  return loaded as ServerModule;
}
