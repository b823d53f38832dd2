import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { createTransport } from 'nodemailer';
import { systemClock, type Clock } from '../context.js';
import type { Logger } from '../logger.js';

/**
 * Outgoing mail: over SMTP when a URL is configured, otherwise as JSON lines in an outbox file the
 * operator reads, so an instance without SMTP still gets its sign-in codes to a human. Invariants:
 * - the log records only a mail's `kind` and recipient: never its subject or text (they carry reset
 *   links and codes), never the SMTP URL or its credentials (only host and port);
 * - a failed send rejects with a `MailDeliveryError` whose message names no credential and which
 *   carries no `cause` (nodemailer's error holds the AUTH command, the password in base64);
 * - a mail goes to exactly one address: a `to` that would fan out ("a@x, b@y") is refused, so nobody
 *   can have a code for an address they do not own copied to one they do;
 * - the outbox file is created 0600 and set back to 0600 on every write, and is never followed
 *   through a symbolic link;
 * - credentials and bodies are not sent in clear text to another host: `smtp://` to anything but
 *   loopback requires STARTTLS unless the URL says `?requireTLS=false`.
 */

export const MAIL_KINDS = [
  'account_locked',
  'new_sign_in',
  'backup_code_used',
  'two_factor_enabled',
  'two_factor_disabled',
  'password_changed',
  'password_reset',
  'email_verification',
  'invitation',
  'signup_verification',
  'signup_account_exists',
  'emergency_access_code',
  'emergency_access_granted',
  'security_alert',
] as const;

export type MailKind = (typeof MAIL_KINDS)[number];

export interface Mail {
  to: string;
  subject: string;
  text: string;
  /** What the log records about the mail, instead of its content. */
  kind: MailKind;
}

export interface Mailer {
  /** Resolves once the SMTP server accepted the mail, or it was appended to the outbox. */
  send(mail: Mail): Promise<void>;
  /** Waits for sends under way, then releases the SMTP connections; later sends reject. */
  close(): Promise<void>;
}

export interface MailerOptions {
  /** smtp://[user:pass@]host[:port][?options] or smtps://…; undefined writes to `outboxFile`. */
  smtpUrl: string | undefined;
  /** Sender address (the From header and the envelope sender). */
  from: string;
  /** JSON-lines file used when there is no SMTP URL; its directory must exist. */
  outboxFile: string;
  log: Logger;
  clock?: Clock;
}

/** A mail that was not delivered. The message is safe to log: it holds no credential. */
export class MailDeliveryError extends Error {
  constructor(
    message: string,
    /** nodemailer's code (EAUTH, ECONNECTION, ETLS, …) or `invalid_recipient`. */
    readonly code: string | undefined,
    /** The SMTP reply code, when the server refused. */
    readonly responseCode?: number,
  ) {
    super(message);
    this.name = 'MailDeliveryError';
  }
}

/**
 * Bounds on an unresponsive SMTP server; nodemailer's defaults (2 and 10 minutes) would hold a
 * sign-in request, or the shutdown, far longer than anyone waits.
 */
const SMTP_CONNECTION_TIMEOUT_MS = 10_000;
const SMTP_GREETING_TIMEOUT_MS = 10_000;
const SMTP_SOCKET_TIMEOUT_MS = 30_000;
/** RFC 5321: 254 characters is the longest usable forward path. */
const MAX_ADDRESS_LENGTH = 254;
const OUTBOX_FILE_MODE = 0o600;
const REDACTED = '[redacted]';

export function createMailer(opts: MailerOptions): Mailer {
  return opts.smtpUrl ? smtpMailer(opts.smtpUrl, opts) : outboxMailer(opts);
}

function smtpMailer(smtpUrl: string, opts: MailerOptions): Mailer {
  const target = parseSmtpUrl(smtpUrl);
  const scrub = credentialScrubber(smtpUrl, target.url);
  const transport = createTransport(
    {
      // Handed over whole so that nodemailer's URL options (?requireTLS=false, ?tls.servername=…)
      // work; settings the URL names win over the ones below.
      url: smtpUrl,
      pool: true,
      requireTLS: !target.secure && !isLoopback(target.host),
      connectionTimeout: SMTP_CONNECTION_TIMEOUT_MS,
      greetingTimeout: SMTP_GREETING_TIMEOUT_MS,
      socketTimeout: SMTP_SOCKET_TIMEOUT_MS,
      // nodemailer's own log would hold the SMTP dialogue, AUTH included.
      logger: false,
      debug: false,
      disableFileAccess: true,
      disableUrlAccess: true,
    },
    { from: opts.from },
  );
  opts.log.info({ smtpHost: target.host, smtpPort: target.port }, 'mail transport: SMTP');

  const inFlight = new Set<Promise<void>>();
  let closed = false;

  const deliver = async (mail: Mail): Promise<void> => {
    try {
      await transport.sendMail({ to: mail.to, subject: mail.subject, text: mail.text });
    } catch (err) {
      const e = err as { message?: unknown; code?: unknown; responseCode?: unknown };
      const code = typeof e.code === 'string' ? e.code : undefined;
      const responseCode = typeof e.responseCode === 'number' ? e.responseCode : undefined;
      const reason = scrub(typeof e.message === 'string' ? e.message : 'unknown error');
      opts.log.warn({ kind: mail.kind, to: mail.to, code, responseCode, reason }, 'mail not sent');
      throw new MailDeliveryError(`mail not sent: ${reason}`, code, responseCode);
    }
    opts.log.info({ kind: mail.kind, to: mail.to }, 'mail sent');
  };

  return {
    async send(mail) {
      if (closed) throw new Error('mailer is closed');
      checkRecipient(mail.to);
      const p = deliver(mail);
      inFlight.add(p);
      try {
        await p;
      } finally {
        inFlight.delete(p);
      }
    },
    async close() {
      closed = true;
      await Promise.allSettled([...inFlight]);
      transport.close();
    },
  };
}

function outboxMailer(opts: MailerOptions): Mailer {
  const clock = opts.clock ?? systemClock;
  opts.log.warn({ outboxFile: opts.outboxFile }, 'no SMTP URL: mails are written to the outbox file, not sent');
  // One write at a time, so that lines never interleave and close() has one promise to wait for.
  let tail: Promise<void> = Promise.resolve();
  let closed = false;

  return {
    async send(mail) {
      if (closed) throw new Error('mailer is closed');
      checkRecipient(mail.to);
      const line = `${JSON.stringify({ at: new Date(clock()).toISOString(), to: mail.to, subject: mail.subject, text: mail.text, kind: mail.kind })}\n`;
      const write = tail.then(() => appendPrivately(opts.outboxFile, line));
      tail = write.catch(() => undefined);
      try {
        await write;
      } catch (err) {
        opts.log.warn({ kind: mail.kind, to: mail.to, code: (err as NodeJS.ErrnoException).code }, 'mail not written to outbox');
        throw err;
      }
      opts.log.info({ kind: mail.kind, to: mail.to }, 'mail queued to outbox');
    },
    async close() {
      closed = true;
      await tail;
    },
  };
}

async function appendPrivately(file: string, line: string): Promise<void> {
  // O_NOFOLLOW: a link planted in place of the outbox must not redirect codes to another file.
  const flags = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | (constants.O_NOFOLLOW ?? 0);
  const handle = await open(file, flags, OUTBOX_FILE_MODE);
  try {
    // The mode given to open applies only to a new file, and only through the umask.
    await handle.chmod(OUTBOX_FILE_MODE);
    await handle.appendFile(line, 'utf8');
  } finally {
    await handle.close();
  }
}

/** One plain address: no display name, list, group, comment or whitespace. */
function checkRecipient(to: string): void {
  if (to.length > MAX_ADDRESS_LENGTH || !/^[^\s@<>,;:"()[\]\\]+@[^\s@<>,;:"()[\]\\]+$/.test(to)) {
    throw new MailDeliveryError('mail not sent: the recipient is not one plain e-mail address', 'invalid_recipient');
  }
}

interface SmtpTarget {
  url: URL;
  host: string;
  port: number;
  secure: boolean;
}

// Errors here never echo the URL: it may hold a password.
function parseSmtpUrl(raw: string): SmtpTarget {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error('the SMTP URL is not a valid URL');
  }
  if (url.protocol !== 'smtp:' && url.protocol !== 'smtps:') throw new Error('the SMTP URL must start with smtp:// or smtps://');
  if (!url.hostname) throw new Error('the SMTP URL names no host');
  const secure = url.protocol === 'smtps:';
  return { url, host: url.hostname, port: url.port ? Number(url.port) : secure ? 465 : 587, secure };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '[::1]' || /^127(\.\d{1,3}){3}$/.test(host);
}

/**
 * Removes the URL's user name and password from a text, in every form nodemailer may quote them:
 * as written in the URL, percent-decoded, and base64-encoded as AUTH LOGIN and AUTH PLAIN send them.
 */
function credentialScrubber(raw: string, url: URL): (text: string) => string {
  const user = percentDecoded(url.username);
  const pass = percentDecoded(url.password);
  const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
  const needles = new Set<string>([raw]);
  for (const s of [url.username, user, url.password, pass]) {
    if (s) needles.add(s).add(b64(s));
  }
  if (user || pass) needles.add(b64(`\0${user}\0${pass}`)).add(b64(`${user}\0${user}\0${pass}`));
  const ordered = [...needles].sort((a, b) => b.length - a.length);
  return (text) => ordered.reduce((t, needle) => t.split(needle).join(REDACTED), text);
}

function percentDecoded(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
