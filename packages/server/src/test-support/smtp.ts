import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { startTestServer, type TestServer, type TestServerOptions } from '../testing.js';

export interface ReceivedMail {
  mailFrom: string | undefined;
  rcptTo: string[];
  headers: Map<string, string>;
  body: string;
}

/** A test server that mails through a fresh `startSmtpServer` (KEYNEST_SMTP_URL set to it). */
export async function startServerWithMail(opts: TestServerOptions = {}): Promise<{ srv: TestServer; smtp: Awaited<ReturnType<typeof startSmtpServer>> }> {
  const smtp = await startSmtpServer();
  try {
    const srv = await startTestServer({ ...opts, env: { ...opts.env, KEYNEST_SMTP_URL: `smtp://127.0.0.1:${smtp.port}` } });
    return { srv, smtp };
  } catch (err) {
    await smtp.close();
    throw err;
  }
}

/**
 * A real SMTP server on 127.0.0.1 and a free port, without TLS, that keeps what it receives: tests
 * read the mails KeyNest sends. With `auth`, only those credentials are accepted; `echoPassword`
 * makes its refusal quote them back, as some servers do.
 */
export async function startSmtpServer(auth?: { user: string; pass: string; echoPassword?: boolean }) {
  const received: ReceivedMail[] = [];
  // Security alert mails (alerts/) come from the audit stream, a moment after what set them off:
  // kept apart, so they never land between the mails a test counts.
  const alerts: ReceivedMail[] = [];
  const server = new SMTPServer({
    authOptional: auth === undefined,
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    closeTimeout: 1000,
    onAuth(a, _session, done) {
      if (auth && a.username === auth.user && a.password === auth.pass) return done(null, { user: a.username });
      done(new Error(auth?.echoPassword ? `bad credentials ${a.username}/${a.password ?? ''}` : 'bad credentials'));
    },
    onData(stream, session, done) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const mail = {
          mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : undefined,
          rcptTo: session.envelope.rcptTo.map((r) => r.address),
          ...parseMessage(Buffer.concat(chunks).toString('utf8')),
        };
        ((mail.headers.get('subject') ?? '').startsWith('KeyNest security alert') ? alerts : received).push(mail);
        done();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.server.address() as AddressInfo).port;
  return { port, received, alerts, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** Just enough RFC 5322/2045 for the assertions: unfolded headers, and a single-part body decoded. */
export function parseMessage(raw: string): { headers: Map<string, string>; body: string } {
  const split = raw.indexOf('\r\n\r\n');
  const head = raw.slice(0, split).replace(/\r\n[ \t]+/g, ' ');
  const headers = new Map<string, string>();
  for (const line of head.split('\r\n')) {
    const colon = line.indexOf(':');
    headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  let body = raw.slice(split + 4);
  const encoding = headers.get('content-transfer-encoding')?.toLowerCase();
  if (encoding === 'quoted-printable') {
    const bytes = body.replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/gi, (_m, h: string) => `%${h}`);
    body = decodeURIComponent(bytes.replace(/%(?![0-9A-F]{2})/gi, '%25'));
  } else if (encoding === 'base64') {
    body = Buffer.from(body, 'base64').toString('utf8');
  }
  return { headers, body: body.replace(/\r\n/g, '\n') };
}

/** The `count`-th mail received (1-based), waiting up to 5 s for it to arrive. */
export async function nthMail(received: ReceivedMail[], count: number): Promise<ReceivedMail> {
  for (let i = 0; i < 250 && received.length < count; i++) await new Promise((r) => setTimeout(r, 20));
  if (received.length < count) throw new Error(`mail ${count} did not arrive (${received.length} received)`);
  return received[count - 1]!;
}

/** The single-use token of the given kind (`kn_sgn_…`, `kn_inv_…`) a mail carries. */
export function mailedToken(mail: ReceivedMail, kind: 'rst' | 'vfy' | 'sgn' | 'inv'): string {
  const m = new RegExp(`kn_${kind}_[A-Za-z0-9_-]{43}`).exec(mail.body);
  if (!m) throw new Error(`no kn_${kind}_ token in the mail to ${mail.rcptTo.join(', ')}`);
  return m[0];
}
