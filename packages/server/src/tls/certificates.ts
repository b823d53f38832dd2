import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** A certificate chain and its private key as read from disk, checked to belong together. */
export interface CertificatePair {
  /** PEM of the chain, leaf first, as the file holds it. */
  cert: string;
  /** PEM of the private key. Never logged, never put in an error. */
  key: string;
  leaf: X509Certificate;
  /** SHA-256 of the leaf's DER, lower-case hex without separators. */
  fingerprint: string;
  keyType: string;
  /** RSA modulus or EC curve size in bits; undefined for Ed25519/Ed448 (fixed strength). */
  keyBits: number | undefined;
}

export class CertificateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CertificateError';
  }
}

const MIN_RSA_BITS = 2048;
const MIN_EC_BITS = 256;
const CURVE_BITS: Record<string, number> = { prime256v1: 256, 'P-256': 256, secp384r1: 384, 'P-384': 384, secp521r1: 521, 'P-521': 521, secp256k1: 256 };

/**
 * Reads a certificate file and a key file and checks that the key is the leaf's. The messages name
 * the files, never their contents: a key that fails to parse must not end up in a log line.
 */
export function readCertificatePair(certFile: string, keyFile: string): CertificatePair {
  return certificatePair(readText(certFile, 'certificate'), readText(keyFile, 'key'), { certFile, keyFile });
}

/**
 * The same checks on PEM held in memory (ACME's certificates); `names` say where it came from in
 * messages, which never carry the PEM itself.
 */
export function certificatePair(cert: string, key: string, names: { certFile: string; keyFile: string }): CertificatePair {
  const { certFile, keyFile } = names;
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch {
    throw new CertificateError(`${certFile} does not hold a PEM certificate`);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    throw new CertificateError(`${keyFile} does not hold an unencrypted PEM private key`);
  }
  if (!leaf.checkPrivateKey(privateKey)) throw new CertificateError(`the key in ${keyFile} does not belong to the certificate in ${certFile}`);
  const details = privateKey.asymmetricKeyDetails ?? {};
  const keyBits = details.modulusLength ?? (details.namedCurve ? CURVE_BITS[details.namedCurve] : undefined);
  return { cert, key, leaf, fingerprint: sha256Hex(leaf), keyType: privateKey.asymmetricKeyType ?? 'unknown', keyBits };
}

/** Why a key is too weak to serve, or null. RSA below 2048 bits and EC below 256 fall to known attacks or soon will. */
export function keyWeakness(pair: Pick<CertificatePair, 'keyType' | 'keyBits'>): string | null {
  const { keyType, keyBits } = pair;
  if (keyType === 'rsa' || keyType === 'rsa-pss') return keyBits !== undefined && keyBits >= MIN_RSA_BITS ? null : `an RSA key of ${keyBits ?? '?'} bits (at least ${MIN_RSA_BITS} needed)`;
  if (keyType === 'ec') return keyBits !== undefined && keyBits >= MIN_EC_BITS ? null : `an EC key of ${keyBits ?? 'unknown'} bits (at least ${MIN_EC_BITS} needed)`;
  if (keyType === 'ed25519' || keyType === 'ed448') return null;
  return `a ${keyType} key (RSA >= ${MIN_RSA_BITS}, EC >= ${MIN_EC_BITS}, or Ed25519 needed)`;
}

/** A leaf that signs itself: fine on a laptop, but in production nobody can check who they talk to. */
export function isSelfSigned(leaf: X509Certificate): boolean {
  return leaf.checkIssued(leaf) && leaf.verify(leaf.publicKey);
}

/** Lower-case hex SHA-256 of a certificate's DER: how client certificates are bound to API tokens. */
export function sha256Hex(cert: X509Certificate): string {
  return cert.fingerprint256.replaceAll(':', '').toLowerCase();
}

/** "AB:CD:…" or "abcd…" → "abcd…"; null when it is not 32 bytes of hex. */
export function normalizeFingerprint(raw: string): string | null {
  const hex = raw.trim().replaceAll(':', '').toLowerCase();
  return /^[0-9a-f]{64}$/.test(hex) ? hex : null;
}

export function readCaBundle(file: string): string {
  const pem = readText(file, 'CA certificate');
  try {
    new X509Certificate(pem);
  } catch {
    throw new CertificateError(`${file} does not hold a PEM certificate`);
  }
  return pem;
}

function readText(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new CertificateError(`cannot read the ${what} file ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}
