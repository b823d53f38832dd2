// (f) Audit chain verification speed: a chain of N records built in a fresh database, then
// verified end to end by the server's own AuditIntegrity.verify (read, re-hash, link, checkpoint).
// The same-run baseline is a plain read of the same rows in the same pages (no hashing), so the
// ratio says what the verification itself costs on this machine, whatever its speed today.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { auditChainModule, serverModule, serverRequire } from './built.mjs';
import { fastest, timed } from './stats.mjs';

const INSERT_BATCH = 500;

export async function measureChainVerification({ root, database, pgUrl, records }) {
  const dist = (p) => serverModule(root, p);
  const { openStorage } = await dist('storage/database.js');
  const { chainOf, GENESIS_HASH, recordHash } = await auditChainModule(root);
  const { chainPage } = await dist('audit/store.js');
  const { AuditKeys } = await dist('audit/keys.js');
  const { AuditService } = await dist('audit/service.js');
  const { AuditIntegrity } = await dist('audit/integrity.js');

  const dataDir = mkdtempSync(path.join(tmpdir(), 'keynest-bench-audit-'));
  const schema = `bench_audit_${randomBytes(4).toString('hex')}`;
  let closed = false;
  const storage = await openStorage({ dataDir, databaseUrl: database === 'postgres' ? pgUrl : undefined, databaseSchema: database === 'postgres' ? schema : undefined });
  try {
    await storage.migrate();
    const { db, traits } = storage;
    const orgId = 'org_bench';
    const chain = chainOf(orgId);
    let prev = GENESIS_HASH;
    const started = Date.now();
    for (let at = 0; at < records; at += INSERT_BATCH) {
      const rows = [];
      for (let i = at; i < Math.min(records, at + INSERT_BATCH); i++) {
        const row = {
          org_id: orgId, at: started + i, action: 'secret.read', outcome: 'success', actor_type: 'token', actor_id: `tok_${i % 50}`,
          target_type: 'environment', target_id: 'env_bench', target_name: 'production', ip: '10.1.2.3', request_id: `req-${i}`,
          details: JSON.stringify({ keys: ['DATABASE_URL', 'API_KEY'], count: 2 }), chain, seq: i + 1, prev_hash: prev, hash: null,
        };
        row.hash = prev = recordHash(row, prev);
        rows.push(row);
      }
      await db.insertInto('audit_events').values(rows).execute();
    }
    const audit = new AuditService(db, traits);
    const keys = new AuditKeys({ db, rootKey: randomBytes(32) });
    await keys.init(Date.now());
    const integrity = new AuditIntegrity({ db, traits, keys, audit, retention: { retentionMs: async () => 1e15 } });
    await integrity.checkpointAll(Date.now());

    const readOnly = async () => {
      let n = 0;
      for (let after = -1; ; ) {
        const page = await chainPage(db, chain, after, 5000);
        n += page.length;
        if (page.length < 5000) return n;
        after = Number(page[page.length - 1].seq);
      }
    };
    // Best of three of each, interleaved, so a burst of other work on the machine hits both alike.
    const verify = [];
    const read = [];
    const problems = [];
    for (let i = 0; i < 3; i++) {
      read.push(await timed(readOnly));
      verify.push(await timed(() => integrity.verify(orgId)));
    }
    const v = fastest(verify);
    const r = fastest(read);
    // SQLite: the least any in-process verification must do, reading every column of every record
    // straight from better-sqlite3 as arrays (no Kysely, no row objects): a ceiling of (f) here.
    let raw = null;
    if (database === 'sqlite') {
      await storage.close();
      closed = true;
      raw = fastest(await rawReads(root, path.join(dataDir, 'keynest.db'), chain, 3));
      if (raw.result !== records) problems.push(`the raw read saw ${raw.result} records, not ${records}`);
    }
    if (!v.result.ok || v.result.records !== records) problems.push(`verification did not pass over ${records} records: ${JSON.stringify(v.result.broken)}`);
    if (r.result !== records) problems.push(`the plain read saw ${r.result} records, not ${records}`);
    return {
      database,
      records,
      verifyMs: Math.round(v.ms),
      verifyRecordsPerSec: Math.round((records / v.ms) * 1000),
      readMs: Math.round(r.ms),
      readRecordsPerSec: Math.round((records / r.ms) * 1000),
      verifyVsRead: Math.round((r.ms / v.ms) * 1000) / 1000,
      rawReadRecordsPerSec: raw ? Math.round((records / raw.ms) * 1000) : null,
      problems,
    };
  } finally {
    // The schema's owner drops it (the app's role may not: it would be left behind).
    if (database === 'postgres') await storage.owner.schema.dropSchema(schema).ifExists().cascade().execute();
    if (!closed) await storage.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** `rounds` reads of the chain's every column, as arrays, on a read-only connection of its own. */
async function rawReads(root, file, chain, rounds) {
  const SQLite = serverRequire(root)('better-sqlite3');
  const db = new SQLite(file, { readonly: true });
  try {
    const all = db.prepare('SELECT * FROM audit_events WHERE chain = ? ORDER BY seq').raw(true);
    const runs = [];
    for (let i = 0; i < rounds; i++) {
      runs.push(
        await timed(async () => {
          let n = 0;
          for (const row of all.iterate(chain)) if (row) n++;
          return n;
        }),
      );
    }
    return runs;
  } finally {
    db.close();
  }
}
