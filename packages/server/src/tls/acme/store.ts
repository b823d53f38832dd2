import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { associatedData, open, seal } from '../../crypto/aead.js';

/** File mode of everything written here: the owner alone reads the keys (and the certificate, to keep it simple). */
export const ACME_FILE_MODE = 0o600;
const DIR_MODE = 0o700;

export const ACME_FILES = {
  accountKey: 'account-key.pem',
  certificate: 'certificate.pem',
  certificateKey: 'certificate-key.pem',
} as const;

type KeyFile = typeof ACME_FILES.accountKey | typeof ACME_FILES.certificateKey;

/**
 * The account key, certificate chain and certificate key under <dataDir>/acme. With a seal key (the
 * root key), both private keys are stored AES-256-GCM-sealed, bound to their file name, so a copy
 * of the data dir without the root key gives no usable TLS or ACME account key. Writes go to a
 * temporary file renamed into place: a crash never leaves half a key.
 */
export class AcmeFileStore {
  readonly dir: string;

  constructor(dataDir: string, private readonly sealKey: Buffer | undefined) {
    this.dir = path.join(dataDir, 'acme');
  }

  readAccountKey(): string | null {
    return this.readKey(ACME_FILES.accountKey);
  }

  writeAccountKey(pem: string): void {
    this.writeKey(ACME_FILES.accountKey, pem);
  }

  /** The stored certificate chain and its key, or null when either is missing. */
  readCertificate(): { certPem: string; keyPem: string } | null {
    const certPem = this.readText(ACME_FILES.certificate);
    const keyPem = this.readKey(ACME_FILES.certificateKey);
    return certPem === null || keyPem === null ? null : { certPem, keyPem };
  }

  /** The key first: a certificate on disk always has its key beside it. */
  writeCertificate(certPem: string, keyPem: string): void {
    this.writeKey(ACME_FILES.certificateKey, keyPem);
    this.writeText(ACME_FILES.certificate, certPem);
  }

  private readKey(name: KeyFile): string | null {
    const stored = this.readText(name);
    if (stored === null || this.sealKey === undefined) return stored;
    const parsed = JSON.parse(stored) as { v: number; nonce: string; ciphertext: string };
    const plain = open(this.sealKey, { nonce: Buffer.from(parsed.nonce, 'base64'), ciphertext: Buffer.from(parsed.ciphertext, 'base64') }, associatedData('acme', name));
    return plain.toString('utf8');
  }

  private writeKey(name: KeyFile, pem: string): void {
    if (this.sealKey === undefined) return this.writeText(name, pem);
    const sealed = seal(this.sealKey, Buffer.from(pem, 'utf8'), associatedData('acme', name));
    this.writeText(name, JSON.stringify({ v: 1, nonce: sealed.nonce.toString('base64'), ciphertext: sealed.ciphertext.toString('base64') }));
  }

  private readText(name: string): string | null {
    try {
      return readFileSync(path.join(this.dir, name), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  private writeText(name: string, content: string): void {
    mkdirSync(this.dir, { recursive: true, mode: DIR_MODE });
    const file = path.join(this.dir, name);
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, content, { mode: ACME_FILE_MODE });
    // The umask may have narrowed the mode, never widened it; chmod makes it exact either way.
    chmodSync(tmp, ACME_FILE_MODE);
    renameSync(tmp, file);
  }
}
