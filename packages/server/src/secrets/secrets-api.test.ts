import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestServer } from '../testing.js';
import { startServer } from '../test-support/server.js';
import { api, assertError, setupOwner, type Api, type ApiAnswer } from '../test-support/api.js';
import { createProject, getValue, putSecret, secretsPath } from '../test-support/fixtures.js';

const P = 'app';
const path = (key?: string) => secretsPath(P, 'development', key);

/** Any answer of this file: a 5xx is a failing test (conventions: never a 500 for input errors). */
function no5xx(res: ApiAnswer): ApiAnswer {
  assert.ok(res.status < 500, `server error ${res.status}: ${res.text}`);
  return res;
}

describe('secrets API', () => {
  let srv: TestServer;
  let raw: Api;
  const call: Api = async (...args) => no5xx(await raw(...args));
  before(async () => {
    srv = await startServer();
    raw = api(srv, await setupOwner(srv));
    await createProject(call, P);
  });
  after(() => srv.close());

  it('sets, gets and lists a secret; a second identical write is unchanged, a new value is a new version', async () => {
    assert.deepEqual(await putSecret(call, P, 'development', 'DB_URL', 'postgres://a'), { key: 'DB_URL', version: 1, status: 'added' });
    assert.deepEqual(await putSecret(call, P, 'development', 'DB_URL', 'postgres://a'), { key: 'DB_URL', version: 1, status: 'unchanged' });
    assert.deepEqual(await putSecret(call, P, 'development', 'DB_URL', 'postgres://b'), { key: 'DB_URL', version: 2, status: 'changed' });
    const one = await call('GET', path('DB_URL'));
    assert.equal(one.status, 200);
    assert.equal(one.body.key, 'DB_URL');
    assert.equal(one.body.value, 'postgres://b');
    assert.equal(one.body.version, 2);
    assert.equal(one.body.deletedAt, null);
    assert.equal(one.body.updatedBy.type, 'user');
    assert.equal(one.body.updatedBy.name, 'owner@example.com');
    assert.ok(Date.parse(one.body.createdAt) <= Date.parse(one.body.updatedAt));
    const list = await call('GET', path());
    assert.equal(list.status, 200);
    assert.deepEqual(
      list.body.secrets.map((s: { key: string; value: string; version: number }) => [s.key, s.value, s.version]),
      [['DB_URL', 'postgres://b', 2]],
    );
    // Environments are separate: the same key elsewhere does not exist.
    assertError(await call('GET', secretsPath(P, 'production', 'DB_URL')), 404, 'secret_not_found');
  });

  it('lists keys without any value when values=false', async () => {
    await putSecret(call, P, 'development', 'KEYS_ONLY', 'keys-only-value-123');
    const res = await call('GET', `${path()}?values=false`);
    assert.equal(res.status, 200);
    assert.ok(res.body.secrets.length >= 2);
    for (const s of res.body.secrets) assert.ok(!('value' in s), `value present for ${s.key}`);
    assert.ok(!res.text.includes('keys-only-value-123'));
  });

  it('soft-deletes, hides, lists with includeDeleted, restores (same version), and refuses to restore a live secret', async () => {
    await putSecret(call, P, 'development', 'TO_DELETE', 'gone-soon');
    const del = await call('DELETE', path('TO_DELETE'));
    assert.equal(del.status, 204);
    assertError(await call('GET', path('TO_DELETE')), 404, 'secret_not_found');
    assertError(await call('DELETE', path('TO_DELETE')), 404, 'secret_not_found');
    const listed = await call('GET', path());
    assert.ok(!listed.body.secrets.some((s: { key: string }) => s.key === 'TO_DELETE'));
    const withDeleted = await call('GET', `${path()}?includeDeleted=true`);
    const gone = withDeleted.body.secrets.find((s: { key: string }) => s.key === 'TO_DELETE');
    assert.ok(gone, 'deleted secret listed with includeDeleted');
    assert.notEqual(gone.deletedAt, null);
    assert.ok(!('value' in gone), 'a deleted secret is listed without a value');
    const keysOnly = await call('GET', `${path()}?includeDeleted=true&values=false`);
    assert.ok(keysOnly.body.secrets.some((s: { key: string; deletedAt: string | null }) => s.key === 'TO_DELETE' && s.deletedAt !== null));
    const restored = await call('POST', `${path('TO_DELETE')}/restore`);
    assert.equal(restored.status, 200);
    assert.deepEqual(restored.body, { key: 'TO_DELETE', version: 1, status: 'restored' });
    assert.equal(await getValue(call, P, 'development', 'TO_DELETE'), 'gone-soon');
    assertError(await call('POST', `${path('TO_DELETE')}/restore`), 409, 'secret_not_deleted');
    assertError(await call('POST', `${path('NEVER_EXISTED')}/restore`), 404, 'secret_not_found');
  });

  it('writing a deleted key brings it back as "added" with the next version', async () => {
    await putSecret(call, P, 'development', 'REVIVED', 'one');
    assert.equal((await call('DELETE', path('REVIVED'))).status, 204);
    assert.deepEqual(await putSecret(call, P, 'development', 'REVIVED', 'two'), { key: 'REVIVED', version: 2, status: 'added' });
    assert.equal(await getValue(call, P, 'development', 'REVIVED'), 'two');
  });

  it('keeps the history (newest first, no values) and rolls back by writing a new version', async () => {
    for (const v of ['v-one', 'v-two', 'v-three']) await putSecret(call, P, 'development', 'HIST', v);
    const h = await call('GET', `${path('HIST')}/versions`);
    assert.equal(h.status, 200);
    assert.equal(h.body.key, 'HIST');
    assert.deepEqual(
      h.body.versions.map((v: { version: number; action: string; current: boolean }) => [v.version, v.action, v.current]),
      [
        [3, 'set', true],
        [2, 'set', false],
        [1, 'set', false],
      ],
    );
    assert.ok(!h.text.includes('v-one') && !h.text.includes('v-two') && !h.text.includes('v-three'), 'history holds no values');
    const rb = await call('POST', `${path('HIST')}/rollback`, { version: 1 });
    assert.equal(rb.status, 200);
    assert.deepEqual(rb.body, { key: 'HIST', version: 4, status: 'changed' });
    assert.equal(await getValue(call, P, 'development', 'HIST'), 'v-one');
    const h2 = await call('GET', `${path('HIST')}/versions`);
    assert.deepEqual(h2.body.versions[0], { ...h2.body.versions[0], version: 4, action: 'rollback', current: true });
    assertError(await call('POST', `${path('HIST')}/rollback`, { version: 99 }), 404, 'version_not_found');
    assertError(await call('POST', `${path('HIST')}/rollback`, { version: 0 }), 400, 'validation_failed');
    assertError(await call('POST', `${path('HIST')}/rollback`, { version: 2, ifVersion: 3 }), 409, 'version_conflict');
    assert.equal(await getValue(call, P, 'development', 'HIST'), 'v-one');
    assertError(await call('GET', `${path('NOPE')}/versions`), 404, 'secret_not_found');
    assertError(await call('POST', `${path('NOPE')}/rollback`, { version: 1 }), 404, 'secret_not_found');
  });

  it('PATCH writes a batch atomically with per-key statuses', async () => {
    await putSecret(call, P, 'development', 'B_SAME', 'same');
    await putSecret(call, P, 'development', 'B_CHANGE', 'before');
    const res = await call('PATCH', path(), {
      secrets: [
        { key: 'B_NEW', value: 'new' },
        { key: 'B_CHANGE', value: 'after' },
        { key: 'B_SAME', value: 'same' },
      ],
    });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.results, [
      { key: 'B_NEW', version: 1, status: 'added' },
      { key: 'B_CHANGE', version: 2, status: 'changed' },
      { key: 'B_SAME', version: 1, status: 'unchanged' },
    ]);
    assert.equal(await getValue(call, P, 'development', 'B_CHANGE'), 'after');
  });

  it('PATCH with one bad item writes nothing at all', async () => {
    await putSecret(call, P, 'development', 'ATOMIC_OLD', 'old');
    await putSecret(call, P, 'development', 'ATOMIC_CAS', 'cas');
    const bad = [
      { item: { key: 'bad-key', value: 'x' }, status: 400, code: 'invalid_secret_key' },
      { item: { key: 'ATOMIC_BIG', value: 'x'.repeat(65_537) }, status: 413, code: 'value_too_large' },
      { item: { key: 'ATOMIC_CAS', value: 'conflicting', ifVersion: 7 }, status: 409, code: 'version_conflict' },
      { item: { key: 'ATOMIC_NEW', value: 'dup' }, status: 400, code: 'validation_failed' }, // duplicate key below
    ];
    for (const b of bad) {
      const secrets = [{ key: 'ATOMIC_NEW', value: 'would-be-new' }, { key: 'ATOMIC_OLD', value: 'would-be-changed' }, b.item];
      assertError(await call('PATCH', path(), { secrets }), b.status, b.code);
      assertError(await call('GET', path('ATOMIC_NEW')), 404, 'secret_not_found');
      assert.equal(await getValue(call, P, 'development', 'ATOMIC_OLD'), 'old');
      assert.equal(await getValue(call, P, 'development', 'ATOMIC_CAS'), 'cas');
    }
    const versions = await call('GET', `${path('ATOMIC_OLD')}/versions`);
    assert.equal(versions.body.versions.length, 1);
    assertError(await call('PATCH', path(), { secrets: [] }), 400, 'validation_failed');
    assertError(await call('PATCH', path(), { secrets: [{ key: 'A' }] }), 400, 'validation_failed');
    const tooMany = Array.from({ length: 1001 }, (_, i) => ({ key: `K_${i}`, value: 'v' }));
    assertError(await call('PATCH', path(), { secrets: tooMany }), 400, 'validation_failed');
  });

  it('ifVersion is a compare-and-set: 0 means "must not exist"; a conflict leaves the value untouched', async () => {
    assert.deepEqual((await call('PUT', path('CAS'), { value: 'first', ifVersion: 0 })).body, { key: 'CAS', version: 1, status: 'added' });
    const again = await call('PUT', path('CAS'), { value: 'second', ifVersion: 0 });
    assertError(again, 409, 'version_conflict');
    assert.equal(again.body.error.details.currentVersion, 1);
    assert.ok(!again.text.includes('first'), 'a conflict does not reveal the current value');
    assertError(await call('PUT', path('CAS'), { value: 'second', ifVersion: 2 }), 409, 'version_conflict');
    assert.equal(await getValue(call, P, 'development', 'CAS'), 'first');
    assert.deepEqual((await call('PUT', path('CAS'), { value: 'second', ifVersion: 1 })).body, { key: 'CAS', version: 2, status: 'changed' });
    // Delete with a stale ifVersion is refused; with the current one it works; then 0 matches again.
    assertError(await call('DELETE', `${path('CAS')}?ifVersion=1`), 409, 'version_conflict');
    assert.equal(await getValue(call, P, 'development', 'CAS'), 'second');
    assert.equal((await call('DELETE', `${path('CAS')}?ifVersion=2`)).status, 204);
    assert.deepEqual((await call('PUT', path('CAS'), { value: 'third', ifVersion: 0 })).body, { key: 'CAS', version: 3, status: 'added' });
    assertError(await call('PUT', path('CAS'), { value: 'x', ifVersion: -1 }), 400, 'validation_failed');
    assertError(await call('PUT', path('CAS'), { value: 'x', ifVersion: 1.5 }), 400, 'validation_failed');
    assertError(await call('PUT', path('CAS'), { value: 'x', ifVersion: '3' }), 400, 'validation_failed');
  });

  it('validates keys: 400 invalid_secret_key, in the path and in a batch', async () => {
    for (const key of ['lower', 'has-dash', '1STARTS_WITH_DIGIT', 'SPACE KEY', 'DOT.KEY', 'ÜBER', 'A$B', '${A}', 'A\nB']) {
      assertError(await call('PUT', path(key), { value: 'v' }), 400, 'invalid_secret_key');
      assertError(await call('PATCH', path(), { secrets: [{ key, value: 'v' }] }), 400, 'invalid_secret_key');
      assertError(await call('GET', path(key)), 400, 'invalid_secret_key');
    }
    assertError(await call('PATCH', path(), { secrets: [{ key: '', value: 'v' }] }), 400, 'invalid_secret_key');
    // The longest valid key works; one more character is refused.
    const longest = `K${'_'.repeat(255)}`;
    assert.equal((await call('PUT', path(longest), { value: 'v' })).status, 200);
    assert.equal(await getValue(call, P, 'development', longest), 'v');
    assertError(await call('PATCH', path(), { secrets: [{ key: `${longest}X`, value: 'v' }] }), 400, 'invalid_secret_key');
    for (const key of ['_', '_A', 'A1', 'A_1_B']) assert.equal((await call('PUT', path(key), { value: 'ok' })).status, 200);
  });

  it('a key one character too long in the path is refused as invalid_secret_key too (docs/api.md: 1-256 characters)', async () => {
    const tooLong = `K${'_'.repeat(256)}`;
    assertError(await call('PUT', path(tooLong), { value: 'v' }), 400, 'invalid_secret_key');
  });

  it('limits values to 65,536 bytes of UTF-8 (413 value_too_large), counting bytes, not characters', async () => {
    assert.equal((await call('PUT', path('BIG_ASCII'), { value: 'a'.repeat(65_536) })).status, 200);
    assert.equal((await getValue(call, P, 'development', 'BIG_ASCII')).length, 65_536);
    const tooBig = await call('PUT', path('BIG_ASCII_2'), { value: 'a'.repeat(65_537) });
    assertError(tooBig, 413, 'value_too_large');
    // '€' is 3 bytes: 21,845 of them + 1 byte = 65,536 bytes (21,846 characters).
    const euros = `${'€'.repeat(21_845)}a`;
    assert.equal(Buffer.byteLength(euros), 65_536);
    assert.equal((await call('PUT', path('BIG_EURO'), { value: euros })).status, 200);
    assert.equal(await getValue(call, P, 'development', 'BIG_EURO'), euros);
    assertError(await call('PUT', path('BIG_EURO_2'), { value: `${euros}a` }), 413, 'value_too_large');
    // 16,384 four-byte emoji = 65,536 bytes, only 32,768 UTF-16 units; one more is too many bytes.
    const emoji = '🔑'.repeat(16_384);
    assert.equal((await call('PUT', path('BIG_EMOJI'), { value: emoji })).status, 200);
    assertError(await call('PUT', path('BIG_EMOJI_2'), { value: `${emoji}a` }), 413, 'value_too_large');
    // Far fewer characters than bytes: 21,846 euros are 65,538 bytes.
    assertError(await call('PUT', path('BIG_EURO_3'), { value: '€'.repeat(21_846) }), 413, 'value_too_large');
    assertError(await call('GET', path('BIG_ASCII_2')), 404, 'secret_not_found');
    assert.equal((await call('PUT', path('EMPTY'), { value: '' })).status, 200);
    assert.equal(await getValue(call, P, 'development', 'EMPTY'), '');
  });

  it('round-trips awkward values exactly', async () => {
    const values: Record<string, string> = {
      NEWLINES: 'line one\nline two\r\nline three\n',
      PEM: '-----BEGIN PRIVATE KEY-----\nMIIBVQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n',
      QUOTES: `it's "quoted" \`back\` 'single'`,
      EQUALS_HASH: 'a=b=c # not a comment ## ;',
      DOLLARS: '$HOME $1 $$ ${HOME:-x} $(whoami) `id`',
      UNICODE: 'héllo wörld — ☃ 日本語 🔑 \u200b\uFEFF',
      CONTROL: Array.from({ length: 31 }, (_, i) => String.fromCharCode(i + 1)).join('') + '\u007f',
      BACKSLASH: 'C:\\path\\to\\file \\n \\t \\\\',
      JSON_TEXT: '{"a": [1, 2, {"b": null}], "c": "\\u0000"}',
      SPACES: '  leading and trailing  ',
      LONE_BRACE: '${ not a ref } ${ALSO_NOT',
    };
    const res = await call('PATCH', path(), { secrets: Object.entries(values).map(([key, value]) => ({ key, value })) });
    assert.equal(res.status, 200);
    for (const [key, value] of Object.entries(values)) {
      assert.equal(await getValue(call, P, 'development', key, '?raw=true'), value, key);
    }
    const list = await call('GET', `${path()}?raw=true`);
    for (const [key, value] of Object.entries(values)) {
      assert.equal(list.body.secrets.find((s: { key: string }) => s.key === key)?.value, value, key);
    }
    // Writing the same awkward values again changes nothing.
    const again = await call('PATCH', path(), { secrets: Object.entries(values).map(([key, value]) => ({ key, value })) });
    assert.ok(again.body.results.every((r: { status: string }) => r.status === 'unchanged'));
  });

  it('answers unknown projects and environments with 404 project_not_found / environment_not_found', async () => {
    for (const [method, body] of [
      ['GET', undefined],
      ['PUT', { value: 'v' }],
      ['DELETE', undefined],
    ] as const) {
      assertError(await call(method, secretsPath('no-such-project', 'development', 'KEY'), body), 404, 'project_not_found');
      assertError(await call(method, secretsPath(P, 'no-such-env', 'KEY'), body), 404, 'environment_not_found');
    }
    assertError(await call('GET', secretsPath('no-such-project', 'development')), 404, 'project_not_found');
    assertError(await call('PATCH', secretsPath(P, 'no-such-env'), { secrets: [{ key: 'A', value: 'b' }] }), 404, 'environment_not_found');
    assertError(await call('GET', secretsPath('prj_doesnotexist', 'env_doesnotexist')), 404, 'project_not_found');
  });

  it('rejects unknown fields and wrong types without coercion (400 validation_failed)', async () => {
    const cases: [string, string, unknown][] = [
      ['PUT', path('STRICT'), { value: 'v', extra: true }],
      ['PUT', path('STRICT'), { value: 123 }],
      ['PUT', path('STRICT'), { value: true }],
      ['PUT', path('STRICT'), { value: null }],
      ['PUT', path('STRICT'), { value: ['a'] }],
      ['PUT', path('STRICT'), { value: { a: 1 } }],
      ['PUT', path('STRICT'), {}],
      ['PUT', path('STRICT'), ['v']],
      ['PUT', path('STRICT'), 'v'],
      ['PATCH', path(), { secrets: [{ key: 'STRICT', value: 1 }] }],
      ['PATCH', path(), { secrets: [{ key: 1, value: 'v' }] }],
      ['PATCH', path(), { secrets: [{ key: 'STRICT', value: 'v', note: 'x' }] }],
      ['PATCH', path(), { secrets: [{ key: 'STRICT', value: 'v' }], dryRun: true }],
      ['PATCH', path(), { secrets: { key: 'STRICT', value: 'v' } }],
      ['POST', `${path('HIST')}/rollback`, { version: '1' }],
      ['POST', `${path('HIST')}/rollback`, { version: 1, force: true }],
    ];
    for (const [method, p, body] of cases) {
      const res = await call(method, p, body);
      assertError(res, 400, 'validation_failed');
      assert.ok(Array.isArray(res.body.error.details), 'details lists the offending paths');
    }
    assertError(await call('GET', path('STRICT')), 404, 'secret_not_found');
    assertError(await call('GET', `${path()}?unknown=1`), 400, 'validation_failed');
    assertError(await call('GET', `${path()}?values=maybe`), 400, 'validation_failed');
  });
});
