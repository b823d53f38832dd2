import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';

export type Logger = PinoLogger;

/**
 * Field names that may hold a secret anywhere in a logged object: request bodies, headers, errors.
 * Declared once here; the redaction paths below are built from this list, not kept by hand.
 */
export const SENSITIVE_FIELDS = [
  'password',
  'newPassword',
  'currentPassword',
  'value',
  'values',
  'token',
  'totp',
  'backupCode',
  'backupCodes',
  'setupToken',
  'accessToken',
  'refreshToken',
  'privateKey',
  'private_key',
  'authorization',
  'cookie',
  'set-cookie',
  'x-csrf-token',
  'rootKey',
  'smtpUrl',
  'secret',
  'secrets',
  'plaintext',
  'ciphertext',
  'wrapped_key',
  'password_hash',
  'token_digest',
] as const;

function redactPaths(): string[] {
  const paths: string[] = [];
  for (const f of SENSITIVE_FIELDS) {
    const key = /^[A-Za-z_$][\w$]*$/.test(f) ? f : `["${f}"]`;
    const dot = key.startsWith('[') ? '' : '.';
    paths.push(key, `*${dot}${key}`, `*.*${dot}${key}`, `req.headers${dot}${key}`);
  }
  return paths;
}

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      redact: { paths: redactPaths(), censor: '[redacted]' },
      base: { service: 'keynest' },
      // Fastify merges these over its own. Query strings can carry a mailed link's token (a reset
      // link opened against the API), and redaction matches field names, not text: log the path only.
      serializers: {
        req: (req: { method?: string; url?: string; ip?: string }) => ({ method: req.method, url: req.url?.split('?')[0], remoteAddress: req.ip }),
      },
    },
    destination,
  );
}

/**
 * For Fastify's `childLoggerFactory`. Fastify makes a child logger per request to bind its id;
 * with redaction configured, pino runs the redaction over those bindings at every creation, a
 * measurable share of a hot secret read. This child is created only when the request logs at an
 * enabled level (an error, or every request at `info`).
 */
export function lazyChildLogger(parent: Logger, bindings: Record<string, unknown>, opts: { level?: string }): Logger {
  if (opts.level !== undefined) return parent.child(bindings, opts);
  return new LazyChild(parent, bindings) as unknown as Logger;
}

type LogArgs = [obj: unknown, msg?: string, ...args: unknown[]];

class LazyChild {
  #real: Logger | undefined;

  constructor(
    private readonly parent: Logger,
    private readonly childBindings: Record<string, unknown>,
  ) {}

  get level(): string {
    return this.parent.level;
  }

  isLevelEnabled(level: string): boolean {
    return this.parent.isLevelEnabled(level);
  }

  child(bindings: Record<string, unknown>, opts?: object): Logger {
    return this.#child().child(bindings, opts);
  }

  bindings(): Record<string, unknown> {
    return this.#child().bindings();
  }

  fatal(...args: LogArgs): void {
    if (this.parent.isLevelEnabled('fatal')) this.#child().fatal(...(args as [unknown]));
  }

  error(...args: LogArgs): void {
    if (this.parent.isLevelEnabled('error')) this.#child().error(...(args as [unknown]));
  }

  warn(...args: LogArgs): void {
    if (this.parent.isLevelEnabled('warn')) this.#child().warn(...(args as [unknown]));
  }

  info(...args: LogArgs): void {
    if (this.parent.isLevelEnabled('info')) this.#child().info(...(args as [unknown]));
  }

  debug(...args: LogArgs): void {
    if (this.parent.isLevelEnabled('debug')) this.#child().debug(...(args as [unknown]));
  }

  trace(...args: LogArgs): void {
    if (this.parent.isLevelEnabled('trace')) this.#child().trace(...(args as [unknown]));
  }

  #child(): Logger {
    return (this.#real ??= this.parent.child(this.childBindings));
  }
}
