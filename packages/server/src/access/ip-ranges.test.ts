import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { anyRangeIncludes, formatRange, parseAddress, parseRange, type IpRange } from './ip-ranges.js';

const range = (text: string): IpRange => {
  const parsed = parseRange(text);
  if (!('range' in parsed)) throw new Error(`${text}: ${parsed.problem}`);
  return parsed.range;
};
const canonical = (text: string) => formatRange(range(text));
const admits = (cidr: string, ip: string | null) => anyRangeIncludes([range(cidr)], ip);

describe('IP ranges: parsing and canonical form', () => {
  it('single addresses become /32 and /128', () => {
    assert.equal(canonical('203.0.113.7'), '203.0.113.7/32');
    assert.equal(canonical('2001:DB8::1'), '2001:db8::1/128');
    assert.equal(canonical(' 10.0.0.0/8 '), '10.0.0.0/8');
  });

  it('IPv6 is written RFC 5952-compressed, whatever the input spelling', () => {
    assert.equal(canonical('2001:0db8:0000:0000:0000:0000:0000:0000/32'), '2001:db8::/32');
    assert.equal(canonical('2001:db8:0:0:1:0:0:1'), '2001:db8::1:0:0:1/128', 'the first of two equal zero runs');
    assert.equal(canonical('2001:db8:0:1:1:1:1:1'), '2001:db8:0:1:1:1:1:1/128', 'a single zero group is not compressed');
    assert.equal(canonical('::/0'), '::/0');
    assert.equal(canonical('::1'), '::1/128');
    assert.equal(canonical('fe80::/10'), 'fe80::/10');
    assert.equal(canonical('64:ff9b::192.0.2.33'), '64:ff9b::c000:221/128', 'embedded dotted IPv4 in a non-mapped address');
    assert.equal(canonical('1:2:3:4:5:6:1.2.3.4'), '1:2:3:4:5:6:102:304/128');
  });

  it('IPv4-mapped IPv6 is IPv4 (the /96 prefix counts as IPv4 bits)', () => {
    assert.equal(canonical('::ffff:1.2.3.4'), '1.2.3.4/32');
    assert.equal(canonical('::ffff:1.2.3.0/120'), '1.2.3.0/24');
    assert.equal(canonical('::FFFF:0102:0300/120'), '1.2.3.0/24');
    assert.equal(canonical('::ffff:0.0.0.0/96'), '0.0.0.0/0');
    assert.deepEqual(parseRange('::ffff:1.2.3.0/64'), { problem: 'bad_prefix' }, 'wider than the mapped block');
  });

  it('refuses what is not a range, naming why', () => {
    for (const bad of ['', 'x', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1.2.3.4 5', 'fe80::1%eth0', 'fe80::1%eth0/64', '1::2::3', 'localhost', '1.2.3.4/', '/24']) {
      assert.equal((parseRange(bad) as { problem?: string }).problem, bad === '1.2.3.4/' ? 'bad_prefix' : 'not_an_address', bad);
    }
    for (const bad of ['1.2.3.4/33', '1.2.3.4/-1', '1.2.3.4/+8', '1.2.3.4/8.0', '1.2.3.4/0x8', '::/129', '1.2.3.4/1000', '1.2.3.4/24/8']) {
      assert.equal((parseRange(bad) as { problem?: string }).problem, 'bad_prefix', bad);
    }
  });

  it('refuses host bits under the prefix, suggesting the network', () => {
    assert.deepEqual(parseRange('10.1.2.3/8'), { problem: 'host_bits_set', suggestion: '10.0.0.0/8' });
    assert.deepEqual(parseRange('2001:db8::1/32'), { problem: 'host_bits_set', suggestion: '2001:db8::/32' });
    assert.deepEqual(parseRange('::ffff:1.2.3.4/120'), { problem: 'host_bits_set', suggestion: '1.2.3.0/24' });
  });

  it('parses client addresses; a zone id or garbage is no address', () => {
    assert.deepEqual(parseAddress('::ffff:10.0.0.1'), parseAddress('10.0.0.1'));
    assert.equal(parseAddress('fe80::1%lo'), null);
    assert.equal(parseAddress('10.0.0.1/32'), null);
    assert.equal(parseAddress(''), null);
  });
});

describe('IP ranges: matching', () => {
  it('IPv4 ranges, at their edges', () => {
    assert.equal(admits('1.2.3.0/24', '1.2.3.0'), true);
    assert.equal(admits('1.2.3.0/24', '1.2.3.255'), true);
    assert.equal(admits('1.2.3.0/24', '1.2.4.0'), false);
    assert.equal(admits('1.2.3.0/24', '1.2.2.255'), false);
    assert.equal(admits('203.0.113.7', '203.0.113.7'), true);
    assert.equal(admits('203.0.113.7', '203.0.113.8'), false);
    assert.equal(admits('0.0.0.0/0', '255.255.255.255'), true);
  });

  it('a mapped client matches IPv4 ranges, and a mapped range matches plain IPv4 clients', () => {
    assert.equal(admits('1.2.3.0/24', '::ffff:1.2.3.4'), true);
    assert.equal(admits('1.2.3.0/24', '::ffff:1.2.4.4'), false);
    assert.equal(admits('::ffff:1.2.3.0/120', '1.2.3.99'), true);
  });

  it('IPv6 ranges; families never cross (except mapped)', () => {
    assert.equal(admits('2001:db8::/32', '2001:db8:ffff::1'), true);
    assert.equal(admits('2001:db8::/32', '2001:db9::1'), false);
    assert.equal(admits('::/0', '1.2.3.4'), false, 'an IPv6 catch-all does not admit IPv4 clients');
    assert.equal(admits('0.0.0.0/0', '2001:db8::1'), false);
    assert.equal(admits('::1', '::1'), true);
    assert.equal(admits('::1', '127.0.0.1'), false);
    assert.equal(admits('::/96', '1.2.3.4'), false, 'IPv4-compatible (deprecated) is not mapped');
  });

  it('an unknown or unparsable client address matches nothing (deny by default)', () => {
    assert.equal(admits('0.0.0.0/0', null), false);
    assert.equal(admits('0.0.0.0/0', 'unknown'), false);
    assert.equal(anyRangeIncludes([], '1.2.3.4'), false);
  });
});
