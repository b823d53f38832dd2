import { loadConfig, type ConfigOverrides } from './config.js';
import { systemClock } from './context.js';
import { ConfigError } from './errors.js';
import { createLogger } from './logger.js';
import { createKeyNest, SETUP_TOKEN_FILE } from './server.js';
import { RootKeyError } from './crypto/root-key.js';
import path from 'node:path';

/**
 * The process entry (`keynest serve`): starts the server and resolves once it has shut down after
 * SIGTERM/SIGINT. The drain (docs/cluster.md): /readyz turns 503 and answers carry
 * `Connection: close` at once; after SIGTERM new connections are still taken for
 * KEYNEST_DRAIN_GRACE_MS, so a load balancer notices before any is refused; then the listener closes, in-flight requests finish
 * (within KEYNEST_SHUTDOWN_TIMEOUT_MS), and the database and Redis close. A bad setting ends the
 * process with one line naming it.
 */
export async function runServer(overrides: ConfigOverrides = {}): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env, overrides);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`keynest: invalid setting ${err.message}\n`);
      process.exitCode = 78;
      return;
    }
    throw err;
  }
  const log = createLogger(config.logLevel);
  let keynest;
  try {
    keynest = await createKeyNest(config, log, systemClock);
  } catch (err) {
    // A root key that cannot be had, or no ACME certificate: one line, no stack.
    if (err instanceof RootKeyError || err instanceof ConfigError) {
      process.stderr.write(`keynest: ${err.message}\n`);
      process.exitCode = 78;
      return;
    }
    throw err;
  }
  const { app, storage, setupToken } = keynest;
  await app.listen({ host: config.host, port: config.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const url = `${config.tls || config.acme ? 'https' : 'http'}://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  log.info({ url, storage: storage.describe, ...(keynest.tls ? { certificate: keynest.tls.fingerprint } : {}), ...(keynest.acme ? { certificate: keynest.acme.fingerprint, acme: true } : {}) }, 'KeyNest is listening');
  try {
    await keynest.startRedirect(port);
  } catch (err) {
    await keynest.close();
    throw err;
  }
  if (setupToken) {
    // Printed to the operator's terminal on purpose, never through the logger.
    process.stdout.write(
      [
        '',
        'KeyNest is not set up yet. Create the first organization and owner with:',
        `  keynest setup --server ${url} --setup-token ${setupToken} --email you@example.com --org "Acme"`,
        `The setup token is also in ${path.join(config.dataDir, SETUP_TOKEN_FILE)} (mode 0600) until it is used.`,
        '',
      ].join('\n'),
    );
  }

  // logrotate's habit (postrotate: kill -HUP): file sinks reopen their file. They also notice a
  // rotated file by themselves; without this handler SIGHUP would end the process.
  // The same signal re-reads the TLS certificate files (certbot's deploy hook habit; docs/tls.md).
  const reopen = () => {
    keynest.auditSinkDispatcher.reopenFiles();
    keynest.tls?.reload('SIGHUP');
  };
  process.on('SIGHUP', reopen);
  await new Promise<void>((resolve) => {
    const stop = async (signal: NodeJS.Signals) => {
      process.off('SIGHUP', reopen);
      keynest.beginDrain();
      // SIGTERM is what orchestrators and rolling restarts send: the load balancer gets its grace.
      // SIGINT is someone at a terminal pressing Ctrl-C, who wants it to stop now.
      const graceMs = signal === 'SIGTERM' ? config.cluster.drainGraceMs : 0;
      log.info({ signal, graceMs }, 'shutting down: /readyz answers 503; new connections are refused after the grace period, then in-flight requests finish');
      await new Promise((r) => setTimeout(r, graceMs));
      const force = setTimeout(() => {
        log.error('shutdown timed out; exiting');
        process.exit(1);
      }, config.shutdownTimeoutMs);
      force.unref();
      keynest.close().then(
        () => {
          log.info('stopped');
          resolve();
        },
        (err: unknown) => {
          log.error({ err }, 'error while shutting down');
          process.exitCode = 1;
          resolve();
        },
      );
    };
    process.once('SIGTERM', (s) => void stop(s));
    process.once('SIGINT', (s) => void stop(s));
  });
}
