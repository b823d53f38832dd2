import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

/**
 * Test harness: Debian's `pebble` ACME test CA and `pebble-challtestsrv` as its DNS (every name →
 * 127.0.0.1), both on free loopback ports, killed by stop(). Pebble really validates HTTP-01: it
 * fetches the answer from `httpPort`, where the test's responder listens.
 */
export interface Pebble {
  directoryUrl: string;
  /** The self-signed certificate pebble's own HTTPS uses: the test's KEYNEST_ACME_CA_FILE. */
  tlsCaPem: string;
  /** Everything pebble has printed, for counting issuances. */
  output(): string;
  /** Pebble's issuing root and intermediate (they change on every start). */
  issuers(): Promise<{ rootPem: string; intermediatePem: string }>;
  /** Kill pebble only (the DNS stays): the CA is down. */
  kill(): Promise<void>;
  /** Start pebble again on the same ports (a new CA: new root, no accounts). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export function pebbleInstalled(): boolean {
  return ['pebble', 'pebble-challtestsrv'].every((bin) => spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0);
}

export async function startPebble(httpPort: number): Promise<Pebble> {
  const dir = mkdtempSync(path.join(tmpdir(), 'keynest-pebble-'));
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
    '-keyout', path.join(dir, 'tls-key.pem'), '-out', path.join(dir, 'tls-cert.pem'),
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
  ], { stdio: 'ignore' });
  const tlsCaPem = readFileSync(path.join(dir, 'tls-cert.pem'), 'utf8');
  const [acmePort, mgmtPort, tlsAlpnPort, dnsMgmtPort] = await Promise.all([freeTcpPort(), freeTcpPort(), freeTcpPort(), freeTcpPort()]);
  const dnsPort = await freeUdpPort();
  writeFileSync(path.join(dir, 'pebble.json'), JSON.stringify({
    pebble: {
      listenAddress: `127.0.0.1:${acmePort}`,
      managementListenAddress: `127.0.0.1:${mgmtPort}`,
      certificate: path.join(dir, 'tls-cert.pem'),
      privateKey: path.join(dir, 'tls-key.pem'),
      httpPort,
      tlsPort: tlsAlpnPort,
      ocspResponderURL: '',
      externalAccountBindingRequired: false,
    },
  }));

  const dns = await launch('pebble-challtestsrv', [
    '-dns01', `127.0.0.1:${dnsPort}`, '-http01', '', '-https01', '', '-tlsalpn01', '',
    '-management', `127.0.0.1:${dnsMgmtPort}`, '-defaultIPv4', '127.0.0.1', '-defaultIPv6', '',
  ], {}, /Starting management server/);
  let out = '';
  const env = {
    // No random 0–15 s sleep before validating; every order validates afresh (no authz reuse);
    // no nonces refused at random. Never PEBBLE_VA_ALWAYS_VALID: the challenge is really fetched.
    PEBBLE_VA_NOSLEEP: '1',
    PEBBLE_AUTHZREUSE: '0',
    PEBBLE_WFE_NONCEREJECT: '0',
  };
  const startCa = () => launch('pebble', ['-config', path.join(dir, 'pebble.json'), '-dnsserver', `127.0.0.1:${dnsPort}`], env, /Listening on:/, (s) => (out += s));
  let ca: ChildProcess | null = await startCa();
  const mgmt = (p: string) => fetchText(`https://127.0.0.1:${mgmtPort}${p}`, tlsCaPem);

  return {
    directoryUrl: `https://127.0.0.1:${acmePort}/dir`,
    tlsCaPem,
    output: () => out,
    issuers: async () => ({ rootPem: await mgmt('/roots/0'), intermediatePem: await mgmt('/intermediates/0') }),
    kill: async () => {
      await kill(ca);
      ca = null;
    },
    restart: async () => {
      ca = await startCa();
    },
    stop: async () => {
      await kill(ca);
      await kill(dns);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function launch(bin: string, args: string[], env: Record<string, string>, ready: RegExp, onOutput?: (s: string) => void): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let seen = '';
    const onData = (b: Buffer) => {
      const s = b.toString();
      onOutput?.(s);
      seen += s;
      if (ready.test(seen)) resolve(child);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`${bin} exited (${code}) before it was ready:\n${seen}`)));
  });
}

async function kill(child: ChildProcess | null): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

function fetchText(url: string, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    get(url, { ca }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`${url}: HTTP ${res.statusCode}`))));
    }).on('error', reject);
  });
}

export function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const sock = createSocket('udp4');
    sock.on('error', reject);
    sock.bind(0, '127.0.0.1', () => {
      const { port } = sock.address();
      sock.close(() => resolve(port));
    });
  });
}
