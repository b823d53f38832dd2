import { existsSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../errors.js';
import { CertificateError, isSelfSigned, keyWeakness, readCaBundle, readCertificatePair, type CertificatePair } from './certificates.js';

/**
 * Built-in HTTPS (docs/tls.md). Parsed from KEYNEST_TLS_* in config.ts; the files are read and the
 * pair checked at load, so a wrong path or a key of another certificate stops the start with one
 * line naming the variable.
 */
export interface TlsSettings {
  certFile: string;
  keyFile: string;
  /** The pair as read at start; the reloader replaces what is served, not this. */
  initial: CertificatePair;
  /** Mutual TLS: PEM of the CA(s) whose client certificates are accepted. */
  clientCa: { file: string; pem: string; mode: ClientAuthMode } | null;
  /** A plain-HTTP listener that only redirects to HTTPS (308); null: none. */
  redirectPort: number | null;
  /** Besides fs.watch (which misses some replacements, e.g. on network filesystems), the files are re-read this often. */
  reloadCheckS: number;
}

/** `optional`: a client may present a certificate; `required`: a handshake without a valid one fails. */
export type ClientAuthMode = 'optional' | 'required';

export type Deployment = 'development' | 'production';

type IntegerParser = (vars: Record<string, string | undefined>, name: string, dflt: number, min: number, max: number) => number;

/**
 * `acme`: certificates come from ACME (docs/acme.md) instead of files; then only the redirect port
 * applies (read by parseRedirectPort), the file-only settings are refused.
 */
export function parseTlsSettings(vars: Record<string, string | undefined>, integer: IntegerParser, mainPort: number, acme = false): TlsSettings | null {
  const certFile = vars.KEYNEST_TLS_CERT;
  const keyFile = vars.KEYNEST_TLS_KEY;
  if (certFile === undefined && keyFile === undefined) {
    for (const name of ['KEYNEST_TLS_CLIENT_CA', 'KEYNEST_TLS_CLIENT_AUTH', 'KEYNEST_HTTP_REDIRECT_PORT', 'KEYNEST_TLS_RELOAD_CHECK_S']) {
      if (acme && name === 'KEYNEST_HTTP_REDIRECT_PORT') continue;
      if (vars[name] !== undefined) throw new ConfigError(name, acme ? 'is not supported with ACME certificates (docs/acme.md)' : 'needs built-in TLS: set KEYNEST_TLS_CERT and KEYNEST_TLS_KEY, or ACME (KEYNEST_ACME_DIRECTORY_URL)');
    }
    return null;
  }
  if (certFile === undefined) throw new ConfigError('KEYNEST_TLS_CERT', 'must be set with KEYNEST_TLS_KEY (both or neither)');
  if (keyFile === undefined) throw new ConfigError('KEYNEST_TLS_KEY', 'must be set with KEYNEST_TLS_CERT (both or neither)');
  const certPath = path.resolve(certFile);
  const keyPath = path.resolve(keyFile);
  let initial: CertificatePair;
  try {
    initial = readCertificatePair(certPath, keyPath);
  } catch (err) {
    if (err instanceof CertificateError) throw new ConfigError(err.message.includes(keyPath) && !err.message.includes(certPath) ? 'KEYNEST_TLS_KEY' : 'KEYNEST_TLS_CERT', err.message);
    throw err;
  }
  const weakness = keyWeakness(initial);
  if (weakness) throw new ConfigError('KEYNEST_TLS_KEY', `is ${weakness}`);
  return {
    certFile: certPath,
    keyFile: keyPath,
    initial,
    clientCa: clientCa(vars),
    redirectPort: parseRedirectPort(vars, integer, mainPort),
    reloadCheckS: integer(vars, 'KEYNEST_TLS_RELOAD_CHECK_S', 60, 1, 24 * 3600),
  };
}

/** KEYNEST_HTTP_REDIRECT_PORT, for certificates from files or from ACME alike; null: no redirect listener. */
export function parseRedirectPort(vars: Record<string, string | undefined>, integer: IntegerParser, mainPort: number): number | null {
  const redirectPort = vars.KEYNEST_HTTP_REDIRECT_PORT === undefined ? null : integer(vars, 'KEYNEST_HTTP_REDIRECT_PORT', 0, 0, 65535);
  if (redirectPort !== null && redirectPort !== 0 && redirectPort === mainPort) throw new ConfigError('KEYNEST_HTTP_REDIRECT_PORT', `must differ from the main port (${mainPort})`);
  return redirectPort;
}

function clientCa(vars: Record<string, string | undefined>): TlsSettings['clientCa'] {
  const file = vars.KEYNEST_TLS_CLIENT_CA;
  const mode = vars.KEYNEST_TLS_CLIENT_AUTH;
  if (file === undefined) {
    if (mode !== undefined) throw new ConfigError('KEYNEST_TLS_CLIENT_AUTH', 'needs KEYNEST_TLS_CLIENT_CA (the CA that signs client certificates)');
    return null;
  }
  if (mode !== undefined && mode !== 'optional' && mode !== 'required') throw new ConfigError('KEYNEST_TLS_CLIENT_AUTH', `must be optional or required, got "${mode}"`);
  const resolved = path.resolve(file);
  try {
    return { file: resolved, pem: readCaBundle(resolved), mode: mode ?? 'optional' };
  } catch (err) {
    if (err instanceof CertificateError) throw new ConfigError('KEYNEST_TLS_CLIENT_CA', err.message);
    throw err;
  }
}

/**
 * KEYNEST_MODE, not KEYNEST_ENV (the CLI's default secrets environment: a shell with
 * KEYNEST_ENV=production must not change how a server starts) nor NODE_ENV (set by base images
 * for npm's sake, it would switch the mode on behind the operator's back).
 */
export function parseDeployment(raw: string | undefined): Deployment {
  if (raw === undefined || raw === 'development') return 'development';
  if (raw === 'production') return 'production';
  throw new ConfigError('KEYNEST_MODE', `must be development or production, got "${raw}"`);
}

/** What production mode checks: the parts of the loaded config it looks at. */
export interface ProductionView {
  tls: TlsSettings | null;
  /** Certificates from ACME count as TLS (they are checked when issued, not here). */
  acme: unknown;
  trustProxy: boolean | number | string[];
  rootKey: Buffer | undefined;
  dataDir: string;
  rootKeyFile: string;
  publicUrl: string | undefined;
  metrics: { tokenDigest: string | undefined; listener: { host: string } | undefined } | null;
  now: number;
}

/**
 * Production mode (KEYNEST_MODE=production) refuses to start on settings that are fine on a laptop
 * and dangerous on a network: plain HTTP with no TLS proxy in front, a root key it would have to
 * make up (and nobody has backed up), a certificate nobody can verify, a public URL left at its
 * default, a metrics port open to the network without a token.
 */
export function assertProductionReady(v: ProductionView): void {
  const refuse = (reason: string) => {
    throw new ConfigError('KEYNEST_MODE', `production mode refuses to start: ${reason}`);
  };
  if (!v.tls && !v.acme && v.trustProxy === false) refuse('no TLS; set KEYNEST_TLS_CERT and KEYNEST_TLS_KEY, or KEYNEST_TRUST_PROXY when a TLS-terminating proxy is in front, or ACME (KEYNEST_ACME_DIRECTORY_URL)');
  if (!v.rootKey && !existsSync(v.rootKeyFile)) refuse(`no root key; set KEYNEST_ROOT_KEY or provide ${v.rootKeyFile} (e.g. openssl rand -base64 32), and back it up apart from the database`);
  if (v.publicUrl === undefined || !v.publicUrl.startsWith('https://')) refuse('KEYNEST_PUBLIC_URL must be set to the https:// URL users reach');
  if (v.tls) {
    const { leaf } = v.tls.initial;
    if (isSelfSigned(leaf)) refuse(`the certificate in ${v.tls.certFile} is self-signed; use one from a CA clients trust`);
    if (Date.parse(leaf.validTo) <= v.now) refuse(`the certificate in ${v.tls.certFile} expired on ${leaf.validTo}`);
  }
  const listener = v.metrics?.listener;
  if (listener && v.metrics?.tokenDigest === undefined && !isLoopback(listener.host)) refuse('KEYNEST_METRICS_PORT is reachable beyond this machine without KEYNEST_METRICS_TOKEN');
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}
