import { request as httpRequest } from 'node:http';
import { Agent, request as httpsRequest } from 'node:https';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import * as acme from 'acme-client';
import type { Clock } from '../../context.js';
import type { Logger } from '../../logger.js';
import type { Http01Challenges } from './challenges.js';
import { AcmeFileStore } from './store.js';

/** What the HTTPS listener needs: hand certPem/keyPem to `server.setSecureContext()`. */
export interface AcmeCertificate {
  /** The leaf first, then the intermediates, as the CA sent them. */
  certPem: string;
  keyPem: string;
  notBefore: Date;
  notAfter: Date;
}

export interface AcmeManagerOptions {
  /** RFC 8555 directory, e.g. https://acme-v02.api.letsencrypt.org/directory. */
  directoryUrl: string;
  /** The names on the certificate; the first is its common name. */
  domains: string[];
  /** The ACME account's contact (the CA mails expiry warnings there). */
  email: string;
  dataDir: string;
  /**
   * PEM of the CA(s) that sign the ACME server's own HTTPS certificate, for a private or test ACME
   * CA. Used for requests to the directory's origin only, instead of the system roots; never a
   * switch that turns verification off.
   */
  caBundle?: string | Buffer;
  /** The root key: when given, the stored private keys are sealed with it (store.ts). */
  sealKey?: Buffer;
  /** Where the HTTP-01 answers go; the plain-HTTP listener serves them. */
  challenges: Http01Challenges;
  clock: Clock;
  log: Logger;
  /** Called with every certificate that becomes current: the stored one at start, then each renewal. */
  onCertificate: (cert: AcmeCertificate) => void | Promise<void>;
  /** Renew when less than this fraction of the certificate's lifetime is left (Let's Encrypt's 90 days: 30). */
  renewFraction?: number;
  /** After a failed order, wait this long, doubling each failure up to retryMaxMs. */
  retryMinMs?: number;
  retryMaxMs?: number;
  /** Even with nothing due, look again this often (a suspended machine's timers drift). */
  checkIntervalMs?: number;
  /** How fast to poll the CA for a pending challenge or order (acme-client's backoff). */
  pollMinMs?: number;
  pollMaxMs?: number;
}

export type RenewOutcome = 'current' | 'renewed' | 'failed';

export interface AcmeStatus {
  notAfter: Date | null;
  renewAt: Date | null;
  consecutiveFailures: number;
  /** The last failure's message (never a key), cleared by a success. */
  lastError: string | null;
  /** When the timer fires next; null when stopped. */
  nextAttemptAt: Date | null;
}

const HOUR_MS = 3600_000;
/** setTimeout's limit (2^31-1 ms, ~24.8 days): longer waits are cut into checks. */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * Keeps a certificate for `domains` from an ACME CA (RFC 8555, HTTP-01) current.
 *
 * Invariants: the certificate handed out always matches the configured domains and its key, and is
 * not expired by the injected clock; a failed order never replaces or removes the current one (it is
 * retried with backoff while the old certificate serves); at most one order is in flight.
 */
export class AcmeCertificateManager {
  private readonly store: AcmeFileStore;
  private readonly renewFraction: number;
  private readonly retryMinMs: number;
  private readonly retryMaxMs: number;
  private readonly checkIntervalMs: number;
  private readonly httpsAgent: Agent | undefined;
  private readonly directoryOrigin: string;
  private cert: AcmeCertificate | null = null;
  private failures = 0;
  private lastError: string | null = null;
  private timer: NodeJS.Timeout | null = null;
  private nextAttemptAt: Date | null = null;
  private inFlight: Promise<RenewOutcome> | null = null;
  private stopped = false;

  constructor(private readonly opts: AcmeManagerOptions) {
    if (opts.domains.length === 0) throw new Error('acme: at least one domain is needed');
    this.store = new AcmeFileStore(opts.dataDir, opts.sealKey);
    this.renewFraction = opts.renewFraction ?? 1 / 3;
    this.retryMinMs = opts.retryMinMs ?? 60_000;
    this.retryMaxMs = opts.retryMaxMs ?? 6 * HOUR_MS;
    this.checkIntervalMs = opts.checkIntervalMs ?? 12 * HOUR_MS;
    this.httpsAgent = opts.caBundle === undefined ? undefined : new Agent({ ca: opts.caBundle, keepAlive: false });
    this.directoryOrigin = new URL(opts.directoryUrl).origin;
  }

  /**
   * Loads the stored certificate if it is still good for the domains (ordering nothing), else orders
   * one; then keeps it renewed on a timer. Resolves with the current certificate, or null when none
   * could be had yet (a retry is scheduled; the caller may serve without HTTPS until onCertificate).
   */
  async start(): Promise<AcmeCertificate | null> {
    this.stopped = false;
    const stored = this.loadStored();
    if (stored) {
      this.cert = stored;
      this.opts.log.info({ domains: this.opts.domains, notAfter: stored.notAfter.toISOString() }, 'acme: using the stored certificate');
      await this.deliver(stored);
    }
    await this.renewIfDue();
    return this.cert;
  }

  /** Stops the timer; an order in flight finishes (and is stored) but schedules nothing. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.nextAttemptAt = null;
    await this.inFlight?.catch(() => undefined);
  }

  current(): AcmeCertificate | null {
    return this.cert;
  }

  status(): AcmeStatus {
    return {
      notAfter: this.cert?.notAfter ?? null,
      renewAt: this.cert ? this.renewAt(this.cert) : null,
      consecutiveFailures: this.failures,
      lastError: this.lastError,
      nextAttemptAt: this.nextAttemptAt,
    };
  }

  /** Orders a certificate if there is none or the current one is due; what the timer runs. */
  renewIfDue(): Promise<RenewOutcome> {
    this.inFlight ??= this.attempt().finally(() => {
      this.inFlight = null;
    });
    return this.inFlight;
  }

  private async attempt(): Promise<RenewOutcome> {
    let outcome: RenewOutcome = 'current';
    if (!this.cert || this.opts.clock() >= this.renewAt(this.cert).getTime()) {
      try {
        const fresh = await this.order();
        this.store.writeCertificate(fresh.certPem, fresh.keyPem);
        this.cert = fresh;
        this.failures = 0;
        this.lastError = null;
        outcome = 'renewed';
        this.opts.log.info({ domains: this.opts.domains, notAfter: fresh.notAfter.toISOString() }, 'acme: obtained a certificate');
      } catch (err) {
        this.failures += 1;
        this.lastError = errorMessage(err);
        outcome = 'failed';
        this.opts.log.error(
          { domains: this.opts.domains, failures: this.failures, error: this.lastError, keptNotAfter: this.cert?.notAfter.toISOString() ?? null },
          'acme: certificate order failed; keeping the current certificate and retrying',
        );
      }
    }
    if (outcome === 'renewed') await this.deliver(this.cert!);
    this.schedule(outcome);
    return outcome;
  }

  /** A listener that refuses the certificate is the server's fault, not the CA's: logged, not retried as an order. */
  private async deliver(cert: AcmeCertificate): Promise<void> {
    try {
      await this.opts.onCertificate(cert);
    } catch (err) {
      this.opts.log.error({ error: errorMessage(err) }, 'acme: the listener refused the new certificate');
    }
  }

  private schedule(outcome: RenewOutcome): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    let delayMs: number;
    if (outcome === 'failed') {
      delayMs = Math.min(this.retryMaxMs, this.retryMinMs * 2 ** Math.min(this.failures - 1, 30));
    } else {
      const dueInMs = this.cert ? this.renewAt(this.cert).getTime() - this.opts.clock() : 0;
      delayMs = Math.max(1000, Math.min(dueInMs, this.checkIntervalMs));
    }
    delayMs = Math.min(delayMs, MAX_TIMER_MS);
    this.nextAttemptAt = new Date(this.opts.clock() + delayMs);
    this.timer = setTimeout(() => void this.renewIfDue(), delayMs);
    // The timer must not keep a stopping process alive.
    this.timer.unref();
  }

  private renewAt(cert: AcmeCertificate): Date {
    const lifetime = cert.notAfter.getTime() - cert.notBefore.getTime();
    return new Date(cert.notAfter.getTime() - lifetime * this.renewFraction);
  }

  /** The stored certificate if it parses, matches its key, names every domain and is not expired; else null. */
  private loadStored(): AcmeCertificate | null {
    let stored: { certPem: string; keyPem: string } | null;
    try {
      stored = this.store.readCertificate();
    } catch (err) {
      this.opts.log.warn({ error: errorMessage(err) }, 'acme: the stored certificate cannot be read; ordering a new one');
      return null;
    }
    if (!stored) return null;
    try {
      const cert = describe(stored.certPem, stored.keyPem);
      const x509 = new X509Certificate(stored.certPem);
      const missing = this.opts.domains.filter((d) => x509.checkHost(d, { wildcards: false }) === undefined);
      if (missing.length > 0) {
        this.opts.log.info({ missing }, 'acme: the stored certificate lacks configured domains; ordering a new one');
        return null;
      }
      if (cert.notAfter.getTime() <= this.opts.clock()) {
        this.opts.log.info({ notAfter: cert.notAfter.toISOString() }, 'acme: the stored certificate has expired; ordering a new one');
        return null;
      }
      return cert;
    } catch (err) {
      this.opts.log.warn({ error: errorMessage(err) }, 'acme: the stored certificate is unusable; ordering a new one');
      return null;
    }
  }

  private async order(): Promise<AcmeCertificate> {
    await this.probeDirectory();
    const accountKey = await this.accountKey();
    const client = new acme.Client({
      directoryUrl: this.opts.directoryUrl,
      accountKey,
      backoffMin: this.opts.pollMinMs ?? 3000,
      backoffMax: this.opts.pollMaxMs ?? 30_000,
      backoffAttempts: 10,
    });
    const [keyPem, csr] = await acme.crypto.createCsr(
      { commonName: this.opts.domains[0], altNames: this.opts.domains },
      await acme.crypto.createPrivateEcdsaKey('P-256'),
    );
    const interceptor = this.routeThroughAgent();
    try {
      const certPem = await client.auto({
        csr,
        email: this.opts.email,
        termsOfServiceAgreed: true,
        challengePriority: ['http-01'],
        // The CA checks the answer itself; a self-check from inside would only prove the loopback works.
        skipChallengeVerification: true,
        challengeCreateFn: async (_authz, challenge, keyAuthorization) => {
          if (challenge.type !== 'http-01') throw new Error(`acme: only http-01 is supported, was offered ${challenge.type}`);
          this.opts.challenges.set(challenge.token, keyAuthorization);
        },
        challengeRemoveFn: async (_authz, challenge) => {
          this.opts.challenges.delete(challenge.token);
        },
      });
      return describe(certPem, keyPem.toString());
    } finally {
      acme.axios.interceptors.request.eject(interceptor);
    }
  }

  /**
   * Fetches the directory once with Node's own client first, so that a CA that is down or whose TLS
   * certificate is not trusted fails with its real cause (acme-client reports a lost connection as a
   * TypeError of its own).
   */
  private probeDirectory(): Promise<void> {
    const url = new URL(this.opts.directoryUrl);
    const get = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = get(url, { method: 'GET', agent: url.protocol === 'https:' ? this.httpsAgent : undefined, timeout: 30_000 }, (res) => {
        res.resume();
        if (res.statusCode === 200) resolve();
        else reject(new Error(`the ACME directory answered HTTP ${res.statusCode}`));
      });
      req.on('timeout', () => req.destroy(new Error('the ACME directory did not answer in time')));
      req.on('error', (err) => reject(new Error(`the ACME directory is unreachable: ${errorMessage(err)}`)));
      req.end();
    });
  }

  private async accountKey(): Promise<string> {
    const stored = this.store.readAccountKey();
    if (stored !== null) return stored;
    const created = (await acme.crypto.createPrivateEcdsaKey('P-256')).toString();
    this.store.writeAccountKey(created);
    return created;
  }

  /**
   * acme-client has one shared axios instance and no per-client agent, so this order's requests to
   * the directory's origin (and only those) get the configured CA bundle. Its own retries of
   * refused connections (5 tries, up to 75 s) are turned off for them too: this manager retries
   * with its own backoff, keeping the old certificate.
   */
  private routeThroughAgent(): number {
    return acme.axios.interceptors.request.use((config) => {
      const url = config.url ? new URL(config.url, config.baseURL) : null;
      if (url && url.origin === this.directoryOrigin) {
        if (this.httpsAgent) config.httpsAgent = this.httpsAgent;
        (config as { retryAttempt?: number }).retryAttempt = Number.MAX_SAFE_INTEGER;
      }
      return config;
    });
  }
}

function describe(certPem: string, keyPem: string): AcmeCertificate {
  const x509 = new X509Certificate(certPem);
  if (!x509.checkPrivateKey(createPrivateKey(keyPem))) throw new Error('the certificate does not match its key');
  return { certPem, keyPem, notBefore: new Date(x509.validFrom), notAfter: new Date(x509.validTo) };
}

/** An error's message and code only: ACME errors carry request configs we do not want in logs. */
function errorMessage(err: unknown): string {
  // acme-client's answer to a connection lost mid-order (its retry handler reads a missing response).
  if (err instanceof TypeError && /reading 'config'/.test(err.message)) return 'the connection to the ACME server was lost';
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
  }
  return String(err);
}
