import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { openStorage, type Storage } from '../storage/database.js';
import { migrate } from '../storage/migrate.js';
import { MIGRATIONS } from '../storage/migrations/index.js';
import { ChainVerifier } from '@keynest/sdk/audit-chain';

const pgUrl = process.env.KEYNEST_TEST_DATABASE_URL || undefined;

describe('upgrading to the audit hash chain', () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'keynest-chain-upgrade-'));
  const schema = `c_${randomBytes(5).toString('hex')}`;
  let s: Storage | undefined;
  after(async () => {
    if (s && pgUrl) await s.owner.schema.dropSchema(schema).ifExists().cascade().execute();
    await s?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('chains the records written before it, per org in the order they were written, and they verify', async () => {
    s = await openStorage({ dataDir, databaseUrl: pgUrl, databaseSchema: pgUrl ? schema : undefined });
    const upTo = MIGRATIONS.findIndex(([name]) => name === '011-audit-chain');
    // As the schema owner, the way an older instance left it.
    await migrate(s.owner, s.traits, 1, MIGRATIONS.slice(0, upTo));
    const legacy = (orgId: string | null, i: number) => ({
      org_id: orgId,
      at: 1_700_000_000_000 + i,
      action: i % 2 ? 'secret.read' : 'secret.write',
      outcome: 'success' as const,
      actor_type: 'user',
      actor_id: `usr_${i}`,
      target_type: 'secret',
      target_id: null,
      target_name: `KEY_${i}`,
      ip: '10.0.0.1',
      request_id: `req-${i}`,
      details: JSON.stringify({ i }),
    });
    const orgs = ['org_a', 'org_b', null];
    // Interleaved across orgs, as a live instance writes them.
    for (let i = 0; i < 30; i++) await s.owner.insertInto('audit_events').values(legacy(orgs[i % 3]!, i)).execute();
    await s.migrate();
    for (const org of orgs) {
      const chain = org ?? '';
      const rows = await s.db.selectFrom('audit_events').selectAll().where('chain', '=', chain).orderBy('seq').execute();
      assert.equal(rows.length, 10);
      assert.deepEqual(rows.map((r) => Number(r.seq)), Array.from({ length: 10 }, (_, i) => i + 1));
      assert.deepEqual(rows.map((r) => r.request_id), [...rows].sort((a, b) => Number(a.id) - Number(b.id)).map((r) => r.request_id), 'seq follows write order');
      const verifier = new ChainVerifier(chain, [], new Map());
      for (const r of rows) verifier.push(r as Parameters<ChainVerifier['push']>[0]);
      const result = verifier.finish();
      assert.equal(result.ok, true, JSON.stringify(result.broken));
      assert.equal(result.records, 10);
    }
  });
});
