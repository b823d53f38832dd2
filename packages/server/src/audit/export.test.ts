import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createPublicKey } from 'node:crypto';
import { ChainVerifier, type SignedCheckpoint, type StoredRecord } from '@keynest/sdk/audit-chain';
import type { TestServer } from '../testing.js';
import { startServer } from '../test-support/server.js';
import { api, assertError, setupOwner, type Api } from '../test-support/api.js';
import { createProject, getValue, putSecret, secretsPath } from '../test-support/fixtures.js';

describe('audit export', () => {
  let srv: TestServer;
  let owner: Api;
  before(async () => {
    srv = await startServer();
    owner = api(srv, await setupOwner(srv));
    await createProject(owner, 'app');
    await putSecret(owner, 'app', 'development', 'API_KEY', 'exported-never-1');
    await owner('GET', secretsPath('app', 'development', 'API_KEY'), undefined, { headers: { 'user-agent': '=HYPERLINK("http://evil.example","x"),"quoted"' } });
    assert.equal((await owner('POST', '/api/v1/audit/checkpoints')).status, 201);
    await getValue(owner, 'app', 'development', 'API_KEY');
  });
  after(() => srv.close());

  const lines = (text: string) => text.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);

  it('JSON lines: a header, every record as stored, the checkpoints and keys; it verifies with the published code alone', async () => {
    const res = await owner('GET', '/api/v1/audit/export');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/x-ndjson/);
    assert.match(res.headers.get('content-disposition') ?? '', /^attachment; filename="keynest-audit-\d{4}-\d\d-\d\d\.jsonl"$/);
    assert.ok(!res.text.includes('exported-never-1'), 'a value in the export');
    const all = lines(res.text);
    const header = all[0]!;
    assert.equal(header.type, 'export');
    assert.equal(header.firstSeq, 1);
    const records = all.filter((l) => l.type === 'record').map((l) => l.record as Record<string, unknown>);
    assert.equal(header.lastSeq, records.length);
    assert.deepEqual(records.map((r) => r.seq), records.map((_, i) => i + 1));
    const checkpoints = all.filter((l) => l.type === 'checkpoint').map((l) => l.checkpoint as SignedCheckpoint);
    const keys = all.filter((l) => l.type === 'key').map((l) => l.key as Record<string, unknown>);
    assert.equal(checkpoints.length, 1);
    assert.ok(keys.length >= 1);
    const verifier = new ChainVerifier(String(header.chain), checkpoints, new Map(keys.map((k) => [String(k.id), createPublicKey({ key: Buffer.from(String(k.publicKey), 'base64'), format: 'der', type: 'spki' })])));
    for (const r of records) assert.ok(verifier.push(r as unknown as StoredRecord), JSON.stringify(verifier.broken));
    assert.equal(verifier.finish().ok, true);
    // The export is itself on the record (before its own records were read).
    assert.ok(records.some((r) => r.action === 'audit.export'));
  });

  it('a period is a contiguous stretch of the chain', async () => {
    const records = lines((await owner('GET', '/api/v1/audit/export')).text).filter((l) => l.type === 'record').map((l) => l.record as Record<string, unknown>);
    const from = new Date(Number(records[3]!.at)).toISOString();
    const to = new Date(Number(records[6]!.at)).toISOString();
    const part = lines((await owner('GET', `/api/v1/audit/export?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`)).text);
    const partRecords = part.filter((l) => l.type === 'record').map((l) => l.record as Record<string, unknown>);
    const seqs = partRecords.map((l) => Number(l.seq));
    assert.ok(seqs.length > 0);
    assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => seqs[0]! + i), 'no gaps');
    assert.equal(part[0]!.firstSeq, seqs[0]);
    assert.equal(part[0]!.lastSeq, seqs.at(-1));
    assert.ok(partRecords.every((l) => Number(l.at) >= Date.parse(from) - 1000));
  });

  it('CSV: quoted by RFC 4180, and no cell a spreadsheet would run as a formula', async () => {
    const res = await owner('GET', '/api/v1/audit/export?format=csv');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/csv/);
    const [head, ...rows] = res.text.split('\r\n').filter((l) => l !== '');
    assert.equal(head, 'id,at,org_id,action,outcome,actor_type,actor_id,actor_name,target_type,target_id,target_name,project,environment,ip,user_agent,request_id,details,chain,seq,prev_hash,hash');
    const evil = rows.find((r) => r.includes('HYPERLINK'))!;
    assert.ok(evil.includes(`"'=HYPERLINK(""http://evil.example"",""x""),""quoted"""`), evil);
    assert.ok(!rows.some((r) => /(^|,)=/.test(r)), 'a cell starts with =');
    assert.ok(!res.text.includes('exported-never-1'));
  });

  it('bad input is 400; an empty period exports a header (and the keys) only', async () => {
    assertError(await owner('GET', '/api/v1/audit/export?format=xml'), 400, 'validation_failed');
    assertError(await owner('GET', '/api/v1/audit/export?from=soon'), 400, 'validation_failed');
    const empty = lines((await owner('GET', '/api/v1/audit/export?from=2099-01-01T00:00:00Z')).text);
    assert.deepEqual(empty.filter((l) => l.type !== 'key').map((l) => [l.type, l.firstSeq]), [['export', null]]);
  });
});
