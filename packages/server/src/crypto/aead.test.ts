import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { associatedData, DecryptionError, open, seal } from './aead.js';

describe('aead (AES-256-GCM)', () => {
  const key = randomBytes(32);
  const aad = associatedData('test', 'org', 1);
  const plaintext = Buffer.from('the plaintext ☃', 'utf8');

  it('round-trips, with a fresh 96-bit nonce and a 16-byte tag each time', () => {
    const a = seal(key, plaintext, aad);
    const b = seal(key, plaintext, aad);
    assert.equal(a.nonce.length, 12);
    assert.equal(a.ciphertext.length, plaintext.length + 16);
    assert.ok(!a.nonce.equals(b.nonce));
    assert.ok(!a.ciphertext.equals(b.ciphertext));
    assert.ok(open(key, a, aad).equals(plaintext));
    assert.ok(open(key, b, aad).equals(plaintext));
    assert.ok(!a.ciphertext.includes(plaintext));
    assert.equal(open(key, seal(key, Buffer.alloc(0), aad), aad).length, 0);
  });

  it('refuses every single flipped byte of ciphertext, tag and nonce with DecryptionError', () => {
    const s = seal(key, plaintext, aad);
    for (let i = 0; i < s.ciphertext.length; i++) {
      const c = Buffer.from(s.ciphertext);
      c[i]! ^= 0x01;
      assert.throws(() => open(key, { nonce: s.nonce, ciphertext: c }, aad), DecryptionError, `byte ${i}`);
    }
    for (let i = 0; i < s.nonce.length; i++) {
      const n = Buffer.from(s.nonce);
      n[i]! ^= 0x80;
      assert.throws(() => open(key, { nonce: n, ciphertext: s.ciphertext }, aad), DecryptionError);
    }
  });

  it('refuses another key, other associated data, and malformed input with DecryptionError', () => {
    const s = seal(key, plaintext, aad);
    assert.throws(() => open(randomBytes(32), s, aad), DecryptionError);
    assert.throws(() => open(key, s, associatedData('test', 'org', 2)), DecryptionError);
    assert.throws(() => open(key, s, Buffer.alloc(0)), DecryptionError);
    assert.throws(() => open(key, { nonce: s.nonce.subarray(0, 11), ciphertext: s.ciphertext }, aad), DecryptionError);
    assert.throws(() => open(key, { nonce: Buffer.concat([s.nonce, Buffer.alloc(1)]), ciphertext: s.ciphertext }, aad), DecryptionError);
    assert.throws(() => open(key, { nonce: s.nonce, ciphertext: s.ciphertext.subarray(0, 15) }, aad), DecryptionError);
    assert.throws(() => open(key, { nonce: s.nonce, ciphertext: s.ciphertext.subarray(0, s.ciphertext.length - 1) }, aad), DecryptionError);
    assert.throws(() => open(key, { nonce: s.nonce, ciphertext: Buffer.concat([s.ciphertext, Buffer.alloc(1)]) }, aad), DecryptionError);
    const err = (() => {
      try {
        open(randomBytes(32), s, aad);
      } catch (e) {
        return e as Error;
      }
      return null;
    })();
    assert.equal(err?.message, 'ciphertext failed authentication', 'the error says nothing about the content');
  });

  it('associated data is length-prefixed, so different part boundaries never collide', () => {
    assert.ok(!associatedData('ab', 'c').equals(associatedData('a', 'bc')));
    assert.ok(!associatedData('a', '').equals(associatedData('a')));
    assert.ok(!associatedData('', 'a').equals(associatedData('a', '')));
    assert.ok(associatedData('x', 1).equals(associatedData('x', '1')));
    assert.deepEqual([...associatedData('é')], [0, 0, 0, 2, 0xc3, 0xa9]);
  });
});
