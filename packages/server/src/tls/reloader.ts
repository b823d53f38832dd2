import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import type { SecureContextOptions } from 'node:tls';
import type { Logger } from '../logger.js';
import { CertificateError, isSelfSigned, keyWeakness, readCertificatePair, type CertificatePair } from './certificates.js';
import { secureContextOptions } from './options.js';
import type { TlsSettings } from './settings.js';

/** Writers replace a cert and its key in two steps; events this close together are one change. */
const WATCH_SETTLE_MS = 200;

export type ReloadOutcome = 'reloaded' | 'unchanged' | 'refused';

export interface SecureContextTarget {
  setSecureContext(options: SecureContextOptions): void;
}

/**
 * Swaps the served certificate when its files change, without a restart: new handshakes get the
 * new pair, connections already open keep theirs. Triggers: fs.watch on the files' directories
 * (catches atomic renames, which a watch on the file itself misses), a periodic re-read (for
 * filesystems that never report), and SIGHUP (main.ts). A new pair that does not load, does not
 * match, or is weak is refused with a logged error, and the old one keeps serving.
 */
export class CertificateReloader {
  #current: { digest: string; fingerprint: string };
  #lastRefusedDigest: string | null = null;
  #watchers: FSWatcher[] = [];
  #interval: NodeJS.Timeout | null = null;
  #settle: NodeJS.Timeout | null = null;

  constructor(
    private readonly deps: {
      server: SecureContextTarget;
      settings: TlsSettings;
      log: Logger;
      production: boolean;
      clock: () => number;
    },
  ) {
    const { initial } = deps.settings;
    this.#current = { digest: digestOf(initial.cert, initial.key), fingerprint: initial.fingerprint };
  }

  /** SHA-256 (hex) of the certificate new connections get. */
  get fingerprint(): string {
    return this.#current.fingerprint;
  }

  start(): void {
    const { certFile, keyFile, reloadCheckS } = this.deps.settings;
    const names = new Set([certFile, keyFile]);
    for (const dir of new Set([path.dirname(certFile), path.dirname(keyFile)])) {
      try {
        const watcher = watch(dir, { persistent: false }, (_event, filename) => {
          if (filename === null || names.has(path.join(dir, filename.toString()))) this.#schedule();
        });
        watcher.on('error', (err) => this.deps.log.warn({ err, dir }, 'cannot watch the TLS certificate directory; the periodic check still reloads'));
        this.#watchers.push(watcher);
      } catch (err) {
        this.deps.log.warn({ err, dir }, 'cannot watch the TLS certificate directory; the periodic check still reloads');
      }
    }
    this.#interval = setInterval(() => this.reload('periodic check'), reloadCheckS * 1000);
    this.#interval.unref();
  }

  stop(): void {
    for (const w of this.#watchers) w.close();
    this.#watchers = [];
    if (this.#interval) clearInterval(this.#interval);
    if (this.#settle) clearTimeout(this.#settle);
    this.#interval = this.#settle = null;
  }

  /** Re-reads the files; installs the pair if it changed and passes every check. */
  reload(trigger: string): ReloadOutcome {
    const { certFile, keyFile } = this.deps.settings;
    let pair: CertificatePair;
    try {
      pair = readCertificatePair(certFile, keyFile);
    } catch (err) {
      if (!(err instanceof CertificateError)) throw err;
      return this.#refuse(trigger, err.message, null);
    }
    const digest = digestOf(pair.cert, pair.key);
    if (digest === this.#current.digest) return 'unchanged';
    const problem = this.#problemOf(pair);
    if (problem) return this.#refuse(trigger, problem, digest);
    try {
      this.deps.server.setSecureContext(secureContextOptions(pair, this.deps.settings));
    } catch (err) {
      return this.#refuse(trigger, `OpenSSL refused the pair (${(err as Error).message.split('\n')[0]})`, digest);
    }
    const previous = this.#current.fingerprint;
    this.#current = { digest, fingerprint: pair.fingerprint };
    this.#lastRefusedDigest = null;
    this.deps.log.info({ trigger, fingerprint: pair.fingerprint, previous, validTo: pair.leaf.validTo }, 'TLS certificate reloaded: new connections get the new certificate');
    return 'reloaded';
  }

  #problemOf(pair: CertificatePair): string | null {
    const weakness = keyWeakness(pair);
    if (weakness) return `the new key is ${weakness}`;
    if (this.deps.production && isSelfSigned(pair.leaf)) return 'the new certificate is self-signed (refused in production mode)';
    if (Date.parse(pair.leaf.validTo) <= this.deps.clock()) return `the new certificate expired on ${pair.leaf.validTo}`;
    return null;
  }

  #refuse(trigger: string, reason: string, digest: string | null): ReloadOutcome {
    // A half-written pair is seen by every check until it is complete: said once, not every minute.
    if (digest === null || digest !== this.#lastRefusedDigest) {
      this.deps.log.error({ trigger, reason, serving: this.#current.fingerprint }, 'TLS certificate reload refused; the previous certificate keeps serving');
    }
    this.#lastRefusedDigest = digest;
    return 'refused';
  }

  #schedule(): void {
    if (this.#settle) clearTimeout(this.#settle);
    this.#settle = setTimeout(() => {
      this.#settle = null;
      this.reload('file change');
    }, WATCH_SETTLE_MS);
    this.#settle.unref();
  }
}

function digestOf(cert: string, key: string): string {
  return createHash('sha256').update(cert).update('\0').update(key).digest('hex');
}
