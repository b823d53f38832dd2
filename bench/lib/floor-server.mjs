// The floor: the least work any server obeying KeyNest's rules must do to answer (b) and (c), on
// the same Fastify, so that a target a floor cannot reach on this machine is shown unreachable by
// a measurement of the same run rather than argued. It does, per request, only what the rules and
// the other targets demand, each the cheapest way we know:
//
// - the answer KeyNest gives, byte for byte: its response headers (security headers, rate-limit
//   headers, no-store) and its body, captured from the real server and sent as a ready string
//   (no lookup, no decryption, no serialization);
// - the bearer token's SHA-256 digest compared in constant time with the one token it knows
//   ("store bearer tokens only as digests": no lookup, no expiry, no permission check);
// - unless `audit` is false, an audit record committed before the answer ("every read of a secret
//   value writes an audit record, fail-closed"), linked into a hash chain (issue 5's provable log)
//   and group-committed per event-loop turn into SQLite with KeyNest's settings, in a table with
//   only the indexes that audit search (h) cannot do without: the chain's (chain, seq), and the
//   (org, actor), (org, environment) and (org, ip) lookups of "what did this token do", "who read
//   production" and "failed sign-ins by IP". No rate limiting, no request context, no logging.
import { createHash, timingSafeEqual } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** The most rows one INSERT carries, as in KeyNest's appender. */
const INSERT_MAX_ROWS = 64;

/**
 * `shape` (JSON file): { headers, getOneBody, listAllBody, tokenDigestHex }; `pragmas`: KeyNest's SQLite settings.
 * Resolves to { info, close } like the other kinds of bench/server-process.mjs.
 */
export async function startFloor({ Fastify, SQLite, pragmas, shapeFile, audit }) {
  const shape = JSON.parse(readFileSync(shapeFile, 'utf8'));
  const tokenDigest = Buffer.from(shape.tokenDigestHex, 'hex');
  const auditTable = audit ? openAuditTable(SQLite, pragmas) : null;

  const app = Fastify({ logger: false });
  const answer = (body) => async (req, reply) => {
    const auth = req.headers.authorization;
    const presented = typeof auth === 'string' && auth.startsWith('Bearer ') ? auth.slice(7) : '';
    if (!timingSafeEqual(createHash('sha256').update(presented).digest(), tokenDigest)) {
      reply.code(401);
      return { code: 'invalid_credentials' };
    }
    if (auditTable) {
      const { project, environment, key } = req.params;
      await auditTable.append({
        at: Date.now(),
        action: 'secret.read',
        actor: 'tok_floor',
        ip: req.ip,
        requestId: req.id,
        project,
        environment,
        keys: key === undefined ? ['*'] : [key],
      });
    }
    reply.headers(shape.headers);
    return body;
  };
  // The same route shapes as KeyNest's, so the router does the same work.
  app.get('/api/v1/projects/:project/environments/:environment/secrets/:key', answer(shape.getOneBody));
  app.get('/api/v1/projects/:project/environments/:environment/secrets', answer(shape.listAllBody));
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address();
  return {
    info: { url: `http://127.0.0.1:${port}`, audit: Boolean(audit) },
    close: async () => {
      await app.close();
      auditTable?.close();
    },
  };
}

/** A chained, indexed, group-committed audit table in a fresh SQLite file (removed on close). */
function openAuditTable(SQLite, pragmas) {
  const dir = mkdtempSync(path.join(tmpdir(), 'keynest-bench-floor-'));
  const db = new SQLite(path.join(dir, 'floor.db'));
  // KeyNest's own settings (SQLITE_PRAGMAS of packages/server/src/storage/database.ts).
  for (const p of pragmas) db.pragma(p);
  db.exec(`
    CREATE TABLE audit (id INTEGER PRIMARY KEY, org TEXT NOT NULL, chain TEXT NOT NULL, seq INTEGER NOT NULL,
      actor TEXT NOT NULL, environment TEXT, ip TEXT, hash BLOB NOT NULL, record TEXT NOT NULL);
    CREATE UNIQUE INDEX audit_chain_seq ON audit (chain, seq);
    CREATE INDEX audit_org_actor ON audit (org, actor, id);
    CREATE INDEX audit_org_environment ON audit (org, environment, id);
    CREATE INDEX audit_org_ip ON audit (org, ip, id);`);
  const inserts = new Map();
  const insert = (n) => {
    let s = inserts.get(n);
    if (!s) inserts.set(n, (s = db.prepare(`INSERT INTO audit (org, chain, seq, actor, environment, ip, hash, record) VALUES ${Array(n).fill('(?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}`)));
    return s;
  };
  let head = Buffer.alloc(32);
  let seq = 0;
  let queue = [];
  const commit = () => {
    const group = queue;
    queue = [];
    try {
      const values = [];
      for (const { record } of group) {
        const text = JSON.stringify(record);
        head = createHash('sha256').update(head).update(text).digest();
        values.push('org_floor', 'org_floor', ++seq, record.actor, record.environment, record.ip, head, text);
      }
      const write = () => {
        for (let at = 0; at < group.length; at += INSERT_MAX_ROWS) {
          const n = Math.min(INSERT_MAX_ROWS, group.length - at);
          insert(n).run(...values.slice(at * 8, (at + n) * 8));
        }
      };
      // One statement commits by itself (the usual case: a group holds at most one read per connection).
      if (group.length > INSERT_MAX_ROWS) db.transaction(write)();
      else write();
      for (const q of group) q.resolve();
    } catch (err) {
      for (const q of group) q.reject(err);
    }
  };
  return {
    append(record) {
      return new Promise((resolve, reject) => {
        if (queue.length === 0) setImmediate(commit);
        queue.push({ record, resolve, reject });
      });
    },
    close() {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
