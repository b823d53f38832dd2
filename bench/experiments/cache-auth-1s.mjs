// Experiment for `npm run bench -- --server-import bench/experiments/cache-auth-1s.mjs`:
// an UPPER BOUND, not a proposal. Keeps for 1 s, in memory, what an API token authenticates as and
// what {project}/{env} resolves to, so the two SELECTs that open every secret request mostly vanish.
// As written it would let a revoked token work for up to 1 s longer on this instance and for up to
// 1 s on others: a real cache needs revocation to invalidate it everywhere (fail closed).
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const dist = (p) => import(pathToFileURL(path.join(root, 'packages/server/dist', p)).href);
const { ApiTokenService } = await dist('access/service.js');
const { ProjectService } = await dist('projects/service.js');
const TTL_MS = 1000;

const authenticate = ApiTokenService.prototype.authenticate;
const principals = new Map();
ApiTokenService.prototype.authenticate = async function cachedAuthenticate(token, now, ip) {
  const hit = principals.get(token);
  if (hit && now - hit.at < TTL_MS) return hit.principal;
  const principal = await authenticate.call(this, token, now, ip);
  principals.set(token, { principal, at: now });
  return principal;
};

const resolve = ProjectService.prototype.resolve;
const targets = new Map();
ProjectService.prototype.resolve = async function cachedResolve(principal, projectRef, envRef) {
  const key = `${principal.type}:${principal.tokenId ?? principal.userId}:${projectRef}:${envRef}`;
  const now = Date.now();
  const hit = targets.get(key);
  if (hit && now - hit.at < TTL_MS) return hit.target;
  const target = await resolve.call(this, principal, projectRef, envRef);
  targets.set(key, { target, at: now });
  return target;
};
