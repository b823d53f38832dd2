// The floors of (b) and (c) (lib/floor-server.mjs), measured like them, and what they imply: the
// highest (b)/(a), (c)/(a) and (g) this machine allows a server that obeys KeyNest's rules.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { measure } from './load.mjs';

/** Headers that belong to the connection or the moment, not to the answer: the floor's Node sets its own. */
const PER_CONNECTION = new Set(['date', 'connection', 'keep-alive', 'content-length', 'transfer-encoding']);

/** KeyNest's answer to `pathname` (headers and body), as the read token gets it. */
async function capture(url, pathname, token) {
  const res = await fetch(new URL(pathname, url), { headers: { authorization: `Bearer ${token}` } });
  const body = await res.text();
  if (res.status !== 200) throw new Error(`floor: capturing ${pathname} answered ${res.status}`);
  const headers = {};
  for (const [name, value] of res.headers) if (!PER_CONNECTION.has(name)) headers[name] = value;
  return { headers, body };
}

/**
 * Measures the floor of (b) with and without its audit append, and of (c) with it. `keynestUrl` and
 * `fx` (lib/setup.mjs) give the answers to copy; `withServer(kind, args, work)` runs a server process.
 */
export async function measureFloors({ keynestUrl, fx, settings, withServer, log }) {
  const one = await capture(keynestUrl, fx.paths.getOne, fx.readToken);
  const all = await capture(keynestUrl, fx.paths.listAll, fx.readToken);
  // A token of its own: the floor never sees a KeyNest credential.
  const token = randomBytes(32).toString('base64url');
  const dir = mkdtempSync(path.join(tmpdir(), 'keynest-bench-floor-shape-'));
  const shapeFile = path.join(dir, 'shape.json');
  writeFileSync(
    shapeFile,
    JSON.stringify({ headers: one.headers, getOneBody: one.body, listAllBody: all.body, tokenDigestHex: createHash('sha256').update(token).digest('hex') }),
    { mode: 0o600 },
  );
  const request = (p) => ({ method: 'GET', path: p, headers: { authorization: `Bearer ${token}` } });
  try {
    const out = {};
    await withServer('floor', ['--shape', shapeFile], async (server) => {
      log('floor of (b): the same answer, token digest and an indexed, chained audit append only');
      out.getOne = await measure({ name: 'floor_get_one', url: server.info.url, server, request: request(fx.paths.getOne) }, settings);
      log('floor of (c)');
      out.listAll = await measure({ name: 'floor_list_all', url: server.info.url, server, request: request(fx.paths.listAll) }, settings);
    });
    await withServer('floor', ['--shape', shapeFile, '--no-audit'], async (server) => {
      log('floor of (b) without the audit append');
      out.getOneNoAudit = await measure({ name: 'floor_get_one_no_audit', url: server.info.url, server, request: request(fx.paths.getOne) }, settings);
    });
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * What the floors imply, given (a) and (g)'s "off" CPU per read:
 * - `getOneCeiling`, `listAllCeiling`: the floor's requests/s over (a): no server doing at least
 *   the floor's work answers faster here, so a ratio target above it is out of reach;
 * - `auditAppendUs`: CPU µs the floor's audit append costs a read (floor with it minus without);
 * - `auditOnOffCeiling`: the best (g) if KeyNest's append cost no more than the floor's:
 *   off / (off + append), in CPU per request (the server is CPU-bound in (b)).
 */
export function floorCeilings(floors, baseline, auditOnOff) {
  if (!floors || !baseline) return null;
  const rps = (m) => m?.requestsPerSec ?? null;
  const cpu = (m) => m?.serverCpuUsPerRequest?.total ?? null;
  const ratio = (m) => (rps(m) && baseline.requestsPerSec ? Math.round((rps(m) / baseline.requestsPerSec) * 1000) / 1000 : null);
  const withAudit = cpu(floors.getOne);
  const without = cpu(floors.getOneNoAudit);
  const auditAppendUs = withAudit !== null && without !== null ? Math.max(0, withAudit - without) : null;
  const off = auditOnOff?.off?.cpuUsPerRequest ?? null;
  return {
    getOneCeiling: ratio(floors.getOne),
    listAllCeiling: ratio(floors.listAll),
    getOneNoAuditCeiling: ratio(floors.getOneNoAudit),
    auditAppendUs,
    auditOnOffCeiling: auditAppendUs !== null && off ? Math.round((off / (off + auditAppendUs)) * 1000) / 1000 : null,
  };
}
