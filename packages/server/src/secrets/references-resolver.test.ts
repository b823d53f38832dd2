import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_REFERENCE_DEPTH, MAX_RESOLVED_BYTES, ReferenceError, ReferenceResolver, hasReferences, parseValue, type ReferenceSource } from './references.js';

/** A source over a plain map "env.KEY" -> raw value, counting lookups; `forbidden` envs throw. */
function source(values: Record<string, string>, forbidden: string[] = []): ReferenceSource & { lookups: string[] } {
  const lookups: string[] = [];
  return {
    lookups,
    async get(env, key) {
      lookups.push(`${env}.${key}`);
      if (forbidden.includes(env)) throw new ReferenceError({ kind: 'forbidden', reference: `${env}.${key}` });
      return values[`${env}.${key}`];
    },
  };
}

async function resolve(values: Record<string, string>, id: string, forbidden: string[] = []): Promise<string> {
  const [env, key] = id.split('.') as [string, string];
  return new ReferenceResolver(source(values, forbidden)).resolve(env, key, values[id]!);
}

async function failure(p: Promise<unknown>): Promise<ReferenceError['failure']> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ReferenceError, `expected a ReferenceError, got ${String(err)}`);
    return err.failure;
  }
  assert.fail('expected the resolution to fail');
}

describe('parseValue', () => {
  it('splits text and references', () => {
    assert.deepEqual(parseValue('a${B}c${dev.D}'), [{ text: 'a' }, { ref: { env: null, key: 'B' } }, { text: 'c' }, { ref: { env: 'dev', key: 'D' } }]);
    assert.deepEqual(parseValue(''), []);
    assert.deepEqual(parseValue('plain'), [{ text: 'plain' }]);
    assert.deepEqual(parseValue('${A}${B}'), [{ ref: { env: null, key: 'A' } }, { ref: { env: null, key: 'B' } }]);
    assert.deepEqual(parseValue('${my-env-2.KEY_1}'), [{ ref: { env: 'my-env-2', key: 'KEY_1' } }]);
  });

  it('treats $${ as a literal ${ and does not read a reference after it', () => {
    assert.deepEqual(parseValue('$${A}'), [{ text: '${' }, { text: 'A}' }]);
    assert.deepEqual(parseValue('x$${prod.A}y'), [{ text: 'x' }, { text: '${' }, { text: 'prod.A}y' }]);
  });

  it('keeps anything that is not a well-formed reference as literal text', () => {
    for (const v of ['${HOME:-x}', '${lower}', '${1A}', '${A.B}', '${Prod.A}', '${.A}', '${a.b.C}', '${ A }', '${A', '$A', '${}', '${-env.A}', '${env.}']) {
      const segs = parseValue(v);
      assert.ok(segs.every((s) => 'text' in s), `${v} parsed as a reference`);
      assert.equal(segs.map((s) => ('text' in s ? s.text : '')).join(''), v);
    }
  });

  it('hasReferences is a cheap pre-check that never misses one', () => {
    assert.equal(hasReferences('no refs $A {B}'), false);
    assert.equal(hasReferences('${A}'), true);
    assert.equal(hasReferences('$${A}'), true);
  });
});

describe('ReferenceResolver', () => {
  it('resolves same-environment and cross-environment references, recursively', async () => {
    const values = { 'dev.URL': 'http://${HOST}:${PORT}/${prod.DB}', 'dev.HOST': '${NAME}.local', 'dev.NAME': 'api', 'dev.PORT': '80', 'prod.DB': 'db-${REGION}', 'prod.REGION': 'eu' };
    assert.equal(await resolve(values, 'dev.URL'), 'http://api.local:80/db-eu');
  });

  it('unescapes $${ without resolving what follows and keeps shell syntax as is', async () => {
    assert.equal(await resolve({ 'dev.A': '$${B} and ${HOME:-x} and $${prod.C}' }, 'dev.A'), '${B} and ${HOME:-x} and ${prod.C}');
  });

  it('a resolved value that contains "${" text is not resolved again', async () => {
    assert.equal(await resolve({ 'dev.A': '${B}', 'dev.B': '$${C}', 'dev.C': 'never' }, 'dev.A'), '${C}');
  });

  it('resolves each referenced secret once (memoised)', async () => {
    const src = source({ 'dev.A': '${B}${B}${B}', 'dev.B': '${C}-${C}', 'dev.C': 'c' });
    const r = new ReferenceResolver(src);
    assert.equal(await r.resolve('dev', 'A', '${B}${B}${B}'), 'c-cc-cc-c');
    assert.deepEqual(src.lookups.sort(), ['dev.B', 'dev.C']);
    // A second root on the same resolver reuses what was done.
    assert.equal(await r.resolve('dev', 'B', '${C}-${C}'), 'c-c');
    assert.equal(src.lookups.length, 2);
  });

  it('reports a missing reference by the name written in the value', async () => {
    assert.deepEqual(await failure(resolve({ 'dev.A': 'x${MISSING}' }, 'dev.A')), { kind: 'not_found', reference: 'MISSING' });
    assert.deepEqual(await failure(resolve({ 'dev.A': '${prod.MISSING}' }, 'dev.A')), { kind: 'not_found', reference: 'prod.MISSING' });
  });

  it('detects self-references and cycles, naming the path', async () => {
    assert.deepEqual(await failure(resolve({ 'dev.A': '${A}' }, 'dev.A')), { kind: 'cycle', path: ['dev.A', 'dev.A'] });
    assert.deepEqual(await failure(resolve({ 'dev.A': '${B}', 'dev.B': '${prod.C}', 'prod.C': '${dev.A}' }, 'dev.A')), {
      kind: 'cycle',
      path: ['dev.A', 'dev.B', 'prod.C', 'dev.A'],
    });
    assert.deepEqual(await failure(resolve({ 'dev.A': '${B}', 'dev.B': '${C}', 'dev.C': '${B}' }, 'dev.A')), { kind: 'cycle', path: ['dev.B', 'dev.C', 'dev.B'] });
  });

  it('passes a forbidden environment through', async () => {
    assert.deepEqual(await failure(resolve({ 'dev.A': '${prod.B}', 'prod.B': 'secret' }, 'dev.A', ['prod'])), { kind: 'forbidden', reference: 'prod.B' });
  });

  it(`stops chains deeper than ${MAX_REFERENCE_DEPTH}`, async () => {
    const values: Record<string, string> = {};
    const chain = (n: number) => {
      for (let i = 0; i < n; i++) values[`dev.K${i}`] = `\${K${i + 1}}`;
      values[`dev.K${n}`] = 'end';
    };
    chain(MAX_REFERENCE_DEPTH - 1);
    assert.equal(await resolve(values, 'dev.K0'), 'end');
    chain(MAX_REFERENCE_DEPTH + 1);
    assert.equal((await failure(resolve(values, 'dev.K0'))).kind, 'too_deep');
  });

  it(`refuses a resolved value over ${MAX_RESOLVED_BYTES} (doubling "billion laughs")`, async () => {
    const values: Record<string, string> = { 'dev.L0': 'x'.repeat(1024) };
    for (let i = 1; i <= 12; i++) values[`dev.L${i}`] = `\${L${i - 1}}\${L${i - 1}}`;
    assert.equal((await resolve(values, 'dev.L10')).length, 1024 * 1024);
    assert.equal((await failure(resolve(values, 'dev.L12'))).kind, 'too_large');
  });

  it('measures the resolved size in UTF-8 bytes, as the limit says (multi-byte text)', async () => {
    // 400,000 '€' are 400,000 UTF-16 units but 1,200,000 bytes: over the 1 MiB limit.
    const euros = '€'.repeat(400_000);
    assert.ok(Buffer.byteLength(euros) > MAX_RESOLVED_BYTES);
    assert.equal((await failure(resolve({ 'dev.A': '${E}', 'dev.E': euros }, 'dev.A'))).kind, 'too_large');
  });
});
