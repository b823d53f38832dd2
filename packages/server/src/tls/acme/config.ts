import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { ConfigError } from '../../errors.js';
import { parseRedirectPort } from '../settings.js';

/** Automatic certificates (docs/acme.md); null in Config when KEYNEST_ACME_DIRECTORY_URL is unset. */
export interface AcmeConfig {
  directoryUrl: string;
  domains: string[];
  email: string;
  /** PEM read from KEYNEST_ACME_CA_FILE: trusted for the ACME server's own HTTPS, instead of the system roots. */
  caBundle: string | undefined;
  /** Where the HTTP-01 responder listens (the CA always asks on port 80: forward it here if this differs). */
  httpPort: number;
  /** KEYNEST_HTTP_REDIRECT_PORT (config.ts): when it equals httpPort, the redirect listener answers the challenges. */
  redirectPort: number | null;
}

type IntegerReader = (vars: Record<string, string | undefined>, name: string, dflt: number, min: number, max: number) => number;

/** Short names for the well-known directories, so an operator need not copy a URL. */
export const ACME_DIRECTORIES: Record<string, string> = {
  'letsencrypt': 'https://acme-v02.api.letsencrypt.org/directory',
  'letsencrypt-staging': 'https://acme-staging-v02.api.letsencrypt.org/directory',
};

const SETTINGS = ['KEYNEST_ACME_DOMAINS', 'KEYNEST_ACME_EMAIL', 'KEYNEST_ACME_CA_FILE', 'KEYNEST_ACME_HTTP_PORT'] as const;
/** RFC 1123 names, at least two labels; HTTP-01 cannot prove a wildcard or an IP address. */
const DOMAIN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const EMAIL = /^[^\s@<>(),;:"]+@[^\s@<>(),;:"]+\.[^\s@<>(),;:"]+$/;

export function parseAcmeConfig(vars: Record<string, string | undefined>, integer: IntegerReader, mainPort: number): AcmeConfig | null {
  const raw = vars.KEYNEST_ACME_DIRECTORY_URL;
  if (raw === undefined) {
    const stray = SETTINGS.find((name) => vars[name] !== undefined);
    if (stray) throw new ConfigError(stray, 'needs KEYNEST_ACME_DIRECTORY_URL (without it, ACME is off)');
    return null;
  }
  // One source of certificates: files someone else renews, or ACME renewing its own — never both.
  for (const name of ['KEYNEST_TLS_CERT', 'KEYNEST_TLS_KEY']) {
    if (vars[name] !== undefined) throw new ConfigError(name, 'cannot be combined with KEYNEST_ACME_DIRECTORY_URL: choose certificate files or ACME');
  }
  return {
    directoryUrl: directoryUrl(raw),
    domains: domains(vars.KEYNEST_ACME_DOMAINS),
    email: email(vars.KEYNEST_ACME_EMAIL),
    caBundle: caBundle(vars.KEYNEST_ACME_CA_FILE),
    httpPort: integer(vars, 'KEYNEST_ACME_HTTP_PORT', 80, 0, 65535),
    redirectPort: parseRedirectPort(vars, integer, mainPort),
  };
}

function directoryUrl(raw: string): string {
  const known = ACME_DIRECTORIES[raw];
  if (known) return known;
  let url: URL | null = null;
  try {
    url = new URL(raw);
  } catch {
    /* refused below */
  }
  // RFC 8555 §6.1: ACME runs over HTTPS only.
  if (!url || url.protocol !== 'https:') {
    throw new ConfigError('KEYNEST_ACME_DIRECTORY_URL', `must be an https:// directory URL, or one of ${Object.keys(ACME_DIRECTORIES).join(', ')}`);
  }
  return url.toString();
}

function domains(raw: string | undefined): string[] {
  if (raw === undefined) throw new ConfigError('KEYNEST_ACME_DOMAINS', 'is required with KEYNEST_ACME_DIRECTORY_URL (comma-separated host names)');
  const list = raw.split(',').map((d) => d.trim().toLowerCase()).filter((d) => d !== '');
  if (list.length === 0) throw new ConfigError('KEYNEST_ACME_DOMAINS', 'must name at least one host');
  if (list.length > 100) throw new ConfigError('KEYNEST_ACME_DOMAINS', 'may name at most 100 hosts (the CA limit)');
  for (const d of list) {
    if (d.startsWith('*.')) throw new ConfigError('KEYNEST_ACME_DOMAINS', `"${d}": HTTP-01 cannot prove a wildcard name`);
    if (isIP(d) || !DOMAIN.test(d)) throw new ConfigError('KEYNEST_ACME_DOMAINS', `"${d}" is not a host name such as keynest.example.com`);
  }
  return [...new Set(list)];
}

function email(raw: string | undefined): string {
  if (raw === undefined) throw new ConfigError('KEYNEST_ACME_EMAIL', 'is required with KEYNEST_ACME_DIRECTORY_URL (the CA sends expiry warnings there)');
  if (!EMAIL.test(raw)) throw new ConfigError('KEYNEST_ACME_EMAIL', `"${raw}" is not an email address`);
  return raw;
}

function caBundle(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  let pem: string;
  try {
    pem = readFileSync(path.resolve(raw), 'utf8');
  } catch (err) {
    throw new ConfigError('KEYNEST_ACME_CA_FILE', `cannot read ${raw} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new ConfigError('KEYNEST_ACME_CA_FILE', `${raw} holds no PEM certificate`);
  return pem;
}
