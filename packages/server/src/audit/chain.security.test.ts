import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import type { TestServer } from '../testing.js';
import { startServer } from '../test-support/server.js';
import { api, OWNER, setupOwner, signIn, type Api } from '../test-support/api.js';
import { manualClock } from '../test-support/clock.js';
import { withoutAuditTriggers } from '../test-support/db.js';
import { createProject, getValue, putSecret } from '../test-support/fixtures.js';

interface Verification {
  ok: boolean;
  records: number;
  head: { seq: number; hash: string };
  checkpoints: number;
  anchor: { seq: number; hash: string; at: string } | null;
  broken: { reason: string; recordId: number | null; seq: number | null; message: string } | null;
}

/** A server with an owner, a project, a few secrets written and read: a chain of some length. */
async function busyServer(opts: Parameters<typeof startServer>[0] = {}): Promise<{ srv: TestServer; owner: Api; orgId: string }> {
  const srv = await startServer(opts);
  const owner = api(srv, await setupOwner(srv));
  await createProject(owner, 'app');
  for (const k of ['A', 'B', 'C']) await putSecret(owner, 'app', 'development', `KEY_${k}`, `value-${k}`);
  for (const k of ['A', 'B']) await getValue(owner, 'app', 'development', `KEY_${k}`);
  const orgId = (await owner('GET', '/api/v1/me')).body.principal.org.id as string;
  return { srv, owner, orgId };
}

const verify = async (owner: Api): Promise<Verification> => {
  const res = await owner('GET', '/api/v1/audit/verify');
  assert.equal(res.status, 200, res.text);
  return res.body as Verification;
};

const checkpoint = async (owner: Api) => {
  const res = await owner('POST', '/api/v1/audit/checkpoints');
  assert.equal(res.status, 201, res.text);
  return res.body.checkpoint as { seq: number; hash: string };
};

const orgRows = (srv: TestServer, orgId: string) => srv.db.selectFrom('audit_events').selectAll().where('org_id', '=', orgId).orderBy('seq').execute();

describe('the audit log is a hash chain the database will not let anyone rewrite', () => {
  let srv: TestServer;
  let owner: Api;
  let orgId: string;
  before(async () => {
    ({ srv, owner, orgId } = await busyServer());
  });
  after(() => srv.close());

  it('each record links to the one before it, per org, from seq 1', async () => {
    const rows = await orgRows(srv, orgId);
    assert.ok(rows.length >= 8, `only ${rows.length} records`);
    rows.forEach((r, i) => {
      assert.equal(r.chain, orgId);
      assert.equal(Number(r.seq), i + 1);
      assert.match(r.hash ?? '', /^[0-9a-f]{64}$/);
      assert.equal(r.prev_hash, i === 0 ? '0'.repeat(64) : rows[i - 1]!.hash);
    });
    const v = await verify(owner);
    assert.equal(v.ok, true, JSON.stringify(v.broken));
    assert.equal(v.records, rows.length);
    assert.deepEqual(v.head, { seq: rows.length, hash: rows[rows.length - 1]!.hash });
  });

  it('UPDATE, DELETE (and TRUNCATE) of audit records and checkpoints fail in the database itself', async () => {
    await checkpoint(owner);
    const refused = async (what: string, run: () => Promise<unknown>) => {
      await assert.rejects(run, /append-only/, `${what} went through`);
    };
    await refused('update', () => srv.db.updateTable('audit_events').set({ details: '{}' }).where('org_id', '=', orgId).execute());
    await refused('delete', () => srv.db.deleteFrom('audit_events').where('org_id', '=', orgId).execute());
    await refused('checkpoint update', () => srv.db.updateTable('audit_checkpoints').set({ hash: '0'.repeat(64) }).execute());
    await refused('checkpoint delete', () => srv.db.deleteFrom('audit_checkpoints').execute());
    if (srv.database === 'postgres') {
      // The app's role may not even try; the schema owner, who may, is stopped by the trigger.
      await assert.rejects(() => sql`TRUNCATE audit_events`.execute(srv.db), /permission denied/);
      await refused('truncate', () => sql`TRUNCATE audit_events`.execute(srv.owner));
      await refused('checkpoint truncate', () => sql`TRUNCATE audit_checkpoints`.execute(srv.owner));
      await refused('update as the owner', () => srv.owner.updateTable('audit_events').set({ details: '{}' }).where('org_id', '=', orgId).execute());
    }
    const v = await verify(owner);
    assert.equal(v.ok, true, JSON.stringify(v.broken));
  });

  it('40 reads and writes at once still make one unbroken chain', async () => {
    await Promise.all([
      ...Array.from({ length: 30 }, () => getValue(owner, 'app', 'development', 'KEY_A')),
      ...Array.from({ length: 10 }, (_, i) => putSecret(owner, 'app', 'staging', `PAR_${i}`, `v${i}`)),
    ]);
    const v = await verify(owner);
    assert.equal(v.ok, true, JSON.stringify(v.broken));
    const rows = await orgRows(srv, orgId);
    assert.equal(v.records, rows.length);
    assert.equal(new Set(rows.map((r) => r.seq)).size, rows.length);
  });
});

describe('audit verify names the first broken record', () => {
  it('a changed record (hash_mismatch)', async () => {
    const { srv, owner, orgId } = await busyServer();
    try {
      const read = (await orgRows(srv, orgId)).find((r) => r.action === 'secret.read')!;
      await withoutAuditTriggers(srv, async () => {
        // Someone hides who read the secret.
        await srv.db.updateTable('audit_events').set({ actor_id: 'usr_someone_else' }).where('id', '=', read.id).execute();
      });
      const v = await verify(owner);
      assert.equal(v.ok, false);
      assert.deepEqual({ reason: v.broken?.reason, recordId: v.broken?.recordId, seq: v.broken?.seq }, { reason: 'hash_mismatch', recordId: Number(read.id), seq: Number(read.seq) });
      assert.match(v.broken!.message, new RegExp(`record ${read.id} \\(seq ${read.seq}\\) was changed`));
    } finally {
      await srv.close();
    }
  });

  it('a removed record (missing_records, naming the record after the gap)', async () => {
    const { srv, owner, orgId } = await busyServer();
    try {
      const rows = await orgRows(srv, orgId);
      const victim = rows[3]!;
      const next = rows[4]!;
      await withoutAuditTriggers(srv, async () => {
        await srv.db.deleteFrom('audit_events').where('id', '=', victim.id).execute();
      });
      const v = await verify(owner);
      assert.equal(v.broken?.reason, 'missing_records');
      assert.equal(v.broken?.recordId, Number(next.id));
      assert.match(v.broken!.message, new RegExp(`records ${victim.seq} before record ${next.id}`));
      assert.equal(v.records, 3, 'the records before the gap verified');
    } finally {
      await srv.close();
    }
  });

  it('a cut tail (truncated), detected from the last signed checkpoint', async () => {
    const { srv, owner, orgId } = await busyServer();
    try {
      const signed = await checkpoint(owner);
      const cutFrom = signed.seq - 2;
      await withoutAuditTriggers(srv, async () => {
        await srv.db.deleteFrom('audit_events').where('org_id', '=', orgId).where('seq', '>=', cutFrom).execute();
      });
      const v = await verify(owner);
      assert.equal(v.ok, false);
      assert.equal(v.broken?.reason, 'truncated');
      assert.equal(v.broken?.seq, cutFrom);
      assert.match(v.broken!.message, new RegExp(`records from seq ${cutFrom} on are missing: a signed checkpoint names seq ${signed.seq}`));
    } finally {
      await srv.close();
    }
  });

  it('a consistent rewrite (every hash recomputed) still contradicts the signed checkpoint', async () => {
    const { srv, owner, orgId } = await busyServer();
    try {
      await checkpoint(owner);
      const { recordHash } = await import('@keynest/sdk/audit-chain');
      const rows = await orgRows(srv, orgId);
      const target = rows.find((r) => r.action === 'secret.read')!;
      await withoutAuditTriggers(srv, async () => {
        let prev = target.prev_hash!;
        for (const r of rows.filter((x) => Number(x.seq) >= Number(target.seq))) {
          const rewritten = { ...r, prev_hash: prev, ...(r.id === target.id ? { actor_id: 'usr_nobody' } : {}) };
          const hash = recordHash(rewritten, prev);
          await srv.db.updateTable('audit_events').set({ actor_id: rewritten.actor_id, prev_hash: prev, hash }).where('id', '=', r.id).execute();
          prev = hash;
        }
      });
      const v = await verify(owner);
      assert.equal(v.ok, false);
      assert.equal(v.broken?.reason, 'checkpoint_mismatch');
    } finally {
      await srv.close();
    }
  });

  it('a forged checkpoint (bad_signature), and a record written around the server (unchained)', async () => {
    const { srv, owner, orgId } = await busyServer();
    try {
      const real = await checkpoint(owner);
      await srv.db
        .insertInto('audit_checkpoints')
        .values({ org_id: orgId, chain: orgId, seq: real.seq, hash: real.hash, at: Date.now(), kind: 'anchor', key_id: 'audk_forged', signature: Buffer.alloc(64).toString('base64') })
        .execute();
      let v = await verify(owner);
      assert.equal(v.broken?.reason, 'bad_signature');
      // The database lets rows go under any anchor row, but a forged one does not verify, so their
      // absence is still seen.
      await srv.db.deleteFrom('audit_events').where('org_id', '=', orgId).where('seq', '<=', 2).execute();
      v = await verify(owner);
      assert.equal(v.ok, false);

      const { srv: srv2, owner: owner2, orgId: org2 } = await busyServer();
      try {
        const sneaked = await srv2.db
          .insertInto('audit_events')
          .values({ org_id: org2, at: Date.now(), action: 'secret.read', outcome: 'success', actor_type: 'user', actor_id: 'usr_x', details: '{}' })
          .returning('id')
          .executeTakeFirstOrThrow();
        const v2 = await verify(owner2);
        assert.equal(v2.broken?.reason, 'unchained');
        assert.equal(v2.broken?.recordId, Number(sneaked.id));
      } finally {
        await srv2.close();
      }
    } finally {
      await srv.close();
    }
  });
});

describe('checkpoints and retention', () => {
  it('an on-demand checkpoint is recorded and covers its own record; its signature verifies with the published key', async () => {
    const { srv, owner, orgId } = await busyServer();
    try {
      const made = await checkpoint(owner);
      const rows = await orgRows(srv, orgId);
      const last = rows[rows.length - 1]!;
      assert.equal(last.action, 'audit.checkpoint');
      assert.deepEqual({ seq: made.seq, hash: made.hash }, { seq: Number(last.seq), hash: last.hash });
      const listed = (await owner('GET', '/api/v1/audit/checkpoints')).body as { checkpoints: { seq: number; hash: string; at: string; kind: string; keyId: string; signature: string }[]; keys: { id: string; publicKey: string }[] };
      const c = listed.checkpoints.at(-1)!;
      const key = listed.keys.find((k) => k.id === c.keyId)!;
      // Verifiable with node:crypto alone, from what the API publishes.
      const { createPublicKey, verify: verifySig } = await import('node:crypto');
      const statement = Buffer.from(['keynest-audit-checkpoint-v1', orgId, String(c.seq), c.hash, String(Date.parse(c.at)), c.kind].join('\n'));
      assert.equal(verifySig(null, statement, createPublicKey({ key: Buffer.from(key.publicKey, 'base64'), format: 'der', type: 'spki' }), Buffer.from(c.signature, 'base64')), true);
      assert.equal((await verify(owner)).checkpoints, 1);
    } finally {
      await srv.close();
    }
  });

  it('checkpoints are also made periodically, for every chain that moved', async () => {
    const { srv, orgId } = await busyServer({ env: { KEYNEST_AUDIT_CHECKPOINT_S: '1' } });
    try {
      // A round may run while the activity above still appends: wait for one that covers the head.
      const head = Number((await orgRows(srv, orgId)).at(-1)!.seq);
      const signedUpTo = async () => Math.max(0, ...(await srv.db.selectFrom('audit_checkpoints').select('seq').where('chain', '=', orgId).execute()).map((r) => Number(r.seq)));
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline && (await signedUpTo()) < head) await new Promise((r) => setTimeout(r, 200));
      assert.equal(await signedUpTo(), head, 'no periodic checkpoint of the org\'s head');
      // Nothing moved in the org: later rounds (the timer's, or this one) sign nothing new for it.
      const signedForOrg = async () => (await srv.db.selectFrom('audit_checkpoints').select('id').where('chain', '=', orgId).execute()).length;
      const before = await signedForOrg();
      await srv.keynest.services.auditIntegrity.checkpointAll(Date.now());
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(await signedForOrg(), before);
    } finally {
      await srv.close();
    }
  });

  it('the retention purge removes old records, leaves a signed anchor, and the rest still verifies', async () => {
    const clock = manualClock();
    const { srv, orgId } = await busyServer({ clock, env: { KEYNEST_AUDIT_RETENTION_DAYS: '30' } });
    try {
      const old = await orgRows(srv, orgId);
      clock.advance(31 * 24 * 3600 * 1000);
      // The session outlived 31 days only on this manual clock: sign in again for fresh records.
      const fresh = api(srv, await signIn(srv, { email: OWNER.email, password: OWNER.password }));
      await getValue(fresh, 'app', 'development', 'KEY_C');
      const purged = await srv.keynest.services.auditIntegrity.purge(clock());
      assert.deepEqual(purged.find((p) => p.chain === orgId), { chain: orgId, removed: old.length });
      const left = await orgRows(srv, orgId);
      assert.ok(left.every((r) => Number(r.seq) > old.length), 'old records remain');
      assert.equal(left.at(-1)!.action, 'audit.purge');
      assert.equal(JSON.parse(left.at(-1)!.details).removed, old.length);
      const v = await verify(fresh);
      assert.equal(v.ok, true, JSON.stringify(v.broken));
      assert.deepEqual({ seq: v.anchor?.seq, hash: v.anchor?.hash }, { seq: old.length, hash: old.at(-1)!.hash });
      assert.equal(v.records, left.length);
      // An org that keeps its records longer keeps them through the same purge.
      const second = await startServer({ clock, env: { KEYNEST_AUDIT_RETENTION_DAYS: '30' } });
      try {
        const other = api(second, await setupOwner(second));
        assert.equal((await other('PATCH', '/api/v1/org/settings', { auditRetentionDays: 60 })).status, 200);
        const otherOrg = (await other('GET', '/api/v1/me')).body.principal.org.id as string;
        const kept = (await orgRows(second, otherOrg)).length;
        clock.advance(31 * 24 * 3600 * 1000);
        assert.equal((await second.keynest.services.auditIntegrity.purge(clock())).find((p) => p.chain === otherOrg), undefined);
        assert.equal((await orgRows(second, otherOrg)).length, kept);
      } finally {
        await second.close();
      }
      // The anchor makes only what it covers deletable.
      await assert.rejects(() => srv.db.deleteFrom('audit_events').where('id', '=', left[0]!.id).execute(), /append-only/);
    } finally {
      await srv.close();
    }
  });
});
