import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDuration } from './duration.js';
import { UsageError } from './errors.js';

test('durations in every unit, and combined', () => {
  assert.equal(parseDuration('45s'), 45);
  assert.equal(parseDuration('15m'), 900);
  assert.equal(parseDuration('12h'), 43_200);
  assert.equal(parseDuration('30d'), 2_592_000);
  assert.equal(parseDuration('2w'), 1_209_600);
  assert.equal(parseDuration('1y'), 31_536_000);
  assert.equal(parseDuration('1d12h'), 129_600);
  assert.equal(parseDuration(' 30D '), 2_592_000);
});

test('never means no expiry', () => {
  assert.equal(parseDuration('never'), null);
  assert.equal(parseDuration('NEVER'), null);
});

test('a bare number, an unknown unit, zero or garbage is refused', () => {
  for (const bad of ['30', '30x', 'd', '', '0d', '-1d', '1.5h', '1 d', 'forever']) {
    assert.throws(() => parseDuration(bad), UsageError, bad);
  }
});
