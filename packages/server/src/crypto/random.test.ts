import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { constantTimeEqual, newId, newToken, tokenDigest, tokenKind } from './random.js';

describe('random: tokens, digests, ids', () => {
  it('makes tokens of 256 random bits with a kind prefix, never twice the same', () => {
    const seen = new Set<string>();
    for (const kind of ['api', 'ref', 'setup', 'whs'] as const) {
      for (let i = 0; i < 200; i++) {
        const t = newToken(kind);
        assert.match(t, new RegExp(`^kn_${kind}_[A-Za-z0-9_-]{43}$`));
        assert.equal(Buffer.from(t.slice(`kn_${kind}_`.length), 'base64url').length, 32);
        assert.ok(!seen.has(t));
        seen.add(t);
      }
    }
  });

  it('recognises only well-formed tokens of known kinds', () => {
    assert.equal(tokenKind(newToken('api')), 'api');
    assert.equal(tokenKind(newToken('ref')), 'ref');
    assert.equal(tokenKind(newToken('setup')), 'setup');
    assert.equal(tokenKind(newToken('whs')), 'whs');
    const body = 'A'.repeat(43);
    for (const t of ['', 'kn_api_', `kn_api_${body}A`, `kn_api_${body.slice(1)}`, `kn_xyz_${body}`, `KN_API_${body}`, `kn_api_${body.slice(1)}=`, `kn_api_${body.slice(1)}+`, ` kn_api_${body}`, `kn_api_${body}\n`]) {
      assert.equal(tokenKind(t), null, JSON.stringify(t));
    }
  });

  it('digests with SHA-256, as lower-case hex', () => {
    const t = newToken('api');
    assert.equal(tokenDigest(t), createHash('sha256').update(t).digest('hex'));
    assert.match(tokenDigest(t), /^[0-9a-f]{64}$/);
    assert.notEqual(tokenDigest(t), tokenDigest(newToken('api')));
    assert.equal(tokenDigest('é'), createHash('sha256').update(Buffer.from('é', 'utf8')).digest('hex'));
  });

  it('compares in constant time, including strings of different lengths', () => {
    assert.equal(constantTimeEqual('abc', 'abc'), true);
    assert.equal(constantTimeEqual('', ''), true);
    assert.equal(constantTimeEqual('abc', 'abd'), false);
    assert.equal(constantTimeEqual('abc', 'abcd'), false);
    assert.equal(constantTimeEqual('abcd', 'abc'), false);
    assert.equal(constantTimeEqual('', 'a'), false);
    assert.equal(constantTimeEqual('é', 'e\u0301'), false);
    assert.equal(constantTimeEqual('日本', '日本'), true);
  });

  it('makes unguessable ids with a readable prefix', () => {
    const ids = new Set(Array.from({ length: 500 }, () => newId('prj')));
    assert.equal(ids.size, 500);
    for (const id of ids) assert.match(id, /^prj_[A-Za-z0-9_-]{16}$/);
  });
});
