// The built KeyNest (packages/*/dist) as the bench's in-process measurements import it: the very
// modules the server runs, so what (f), (h) and (i) measure is the server's own code.
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

/** `packages/server/dist/<p>`. */
export const serverModule = (root, p) => import(pathToFileURL(path.join(root, 'packages/server/dist', p)).href);

/** The hash chain's one definition (`@keynest/sdk/audit-chain`). */
export const auditChainModule = (root) => import(pathToFileURL(path.join(root, 'packages/sdk/dist/audit-chain.js')).href);

/** `require` as the server resolves its dependencies (better-sqlite3, fastify), wherever npm placed them. */
export const serverRequire = (root) => createRequire(path.join(root, 'packages/server/package.json'));
