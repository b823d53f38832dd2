import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { Reader, type Response } from 'mmdb-lib';
import { cityRecord, METADATA_MARKER, Typed, writeMmdb, writeMmdbFile, type MmdbEntry, type MmdbValue } from '../test-support/mmdb.js';
import { GeoIp, GeoIpDatabaseError } from './geoip.js';
import { ipBytes, ipText, unmapIpv4 } from './ip-address.js';
import { describeLocation, locationOfRecord, parseStoredLocation, storedLocation } from './location.js';

const BERLIN = cityRecord({ countryCode: 'DE', country: 'Germany', city: 'Berlin' });
const PARIS = cityRecord({ countryCode: 'FR', country: 'France', city: 'Paris' });
const TOKYO = cityRecord({ countryCode: 'JP', country: 'Japan', city: 'Tokyo', continent: 'AS' });
const ENTRIES: MmdbEntry[] = [
  { network: '203.0.113.0/24', record: BERLIN },
  { network: '203.0.113.128/25', record: PARIS }, // more specific, later: wins inside the /24
  { network: '198.51.100.7', record: { country: { iso_code: 'NL', names: { en: 'Netherlands' } } } }, // a Country record: no city
  { network: '2001:db8:1::/48', record: TOKYO },
];
const located = (countryCode: string, country: string, city: string | null) => ({ countryCode, country, city });

describe('MaxMind DB writer (test support), read back by mmdb-lib', () => {
  for (const recordSize of [24, 28, 32] as const) {
    for (const ipVersion of [4, 6] as const) {
      it(`${recordSize}-bit records, IPv${ipVersion} tree: every value type and size round-trips`, () => {
        const everything: MmdbValue = {
          text: 'Grüße',
          empty: '',
          long29: 'x'.repeat(100),
          long30: 'y'.repeat(1000),
          long31: 'z'.repeat(70_000),
          u16: new Typed('uint16', 65535),
          u32: 4_294_967_295,
          zero: 0,
          u64: 2n ** 63n + 5n,
          u128: 2n ** 127n + 1n,
          i32: -42,
          double: 52.5244,
          float: new Typed('float', 1.5),
          yes: true,
          no: false,
          bytes: Buffer.from([0, 1, 2, 255]),
          list: ['a', 1, ['nested'], { k: 'v' }],
          map: { names: { en: 'Berlin', de: 'Berlin' } },
        };
        const entries = [{ network: '192.0.2.0/24', record: everything }, ...ENTRIES.filter((e) => ipVersion === 6 || !e.network.includes(':'))];
        const reader = new Reader<Response>(writeMmdb(entries, { recordSize, ipVersion, databaseType: 'Test-City' }));
        assert.equal(reader.metadata.recordSize, recordSize);
        assert.equal(reader.metadata.ipVersion, ipVersion);
        assert.equal(reader.metadata.databaseType, 'Test-City');
        assert.equal(reader.metadata.binaryFormatMajorVersion, 2);
        const got = reader.get('192.0.2.200') as unknown as Record<string, unknown>;
        assert.deepEqual({ ...got, bytes: Buffer.from(got.bytes as Buffer) }, { ...everything, u16: 65535, float: 1.5 });
        assert.equal((reader.get('203.0.113.1') as { city: { names: { en: string } } }).city.names.en, 'Berlin');
        assert.equal((reader.get('203.0.113.200') as { city: { names: { en: string } } }).city.names.en, 'Paris');
        assert.equal(reader.get('10.0.0.1'), null);
        if (ipVersion === 6) assert.equal((reader.get('2001:db8:1:ffff::1') as { city: { names: { en: string } } }).city.names.en, 'Tokyo');
      });
    }
  }

  it('a data section past 2 KiB and past 512 KiB: strings seen before become pointers of 11, 19 and 27 bits', () => {
    // 'Germany' is first written near the start (11-bit pointers), 'France' after 2 KiB (19-bit),
    // the shared padding of the last entries after 512 KiB (27-bit); the rest are unique.
    const recordOf = (i: number): MmdbValue => ({
      city: { names: { en: `City ${i}` } },
      country: { iso_code: 'DE', names: { en: i < 100 ? 'Germany' : 'France' } },
      pad: i < 300 ? 'short' : i < 575 ? `${i}`.padEnd(2000, 'p') : 'q'.repeat(2000),
    });
    const entries: MmdbEntry[] = [];
    for (let i = 0; i < 600; i++) entries.push({ network: `10.${i >> 8}.${i & 0xff}.0/24`, record: recordOf(i) });
    const bytes = writeMmdb(entries, { recordSize: 32 });
    assert.ok(bytes.length > 526336 + 2000 * 25, 'big enough for 27-bit pointers');
    const reader = new Reader<Response>(bytes);
    for (const i of [0, 1, 99, 100, 101, 299, 300, 574, 575, 576, 599]) assert.deepEqual(reader.get(`10.${i >> 8}.${i & 0xff}.9`), recordOf(i), `entry ${i}`);
  });
});

describe('GeoIp', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'keynest-geoip-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const recordSize of [24, 28, 32] as const) {
    it(`locates IPv4, IPv6 and IPv4-mapped addresses (${recordSize}-bit records)`, () => {
      const geo = GeoIp.open(writeMmdbFile(dir, `city-${recordSize}.mmdb`, ENTRIES, { recordSize }));
      assert.deepEqual(geo.locate('203.0.113.9'), located('DE', 'Germany', 'Berlin'));
      assert.deepEqual(geo.locate('203.0.113.129'), located('FR', 'France', 'Paris'));
      assert.deepEqual(geo.locate('198.51.100.7'), located('NL', 'Netherlands', null));
      assert.deepEqual(geo.locate('2001:db8:1::42'), located('JP', 'Japan', 'Tokyo'));
      assert.deepEqual(geo.locate('2001:DB8:1:0:0:0:0:42'), located('JP', 'Japan', 'Tokyo'));
      // How a dual-stack socket reports an IPv4 client, in every spelling; the tree has no alias for it.
      for (const mapped of ['::ffff:203.0.113.9', '::FFFF:cb00:7109', '0:0:0:0:0:ffff:203.0.113.9']) assert.deepEqual(geo.locate(mapped), located('DE', 'Germany', 'Berlin'), mapped);
    });
  }

  it('an address it does not know, a private one, no address, or not an address: null', () => {
    const geo = GeoIp.open(writeMmdbFile(dir, 'city.mmdb', ENTRIES));
    for (const ip of ['198.51.100.8', '10.1.2.3', '127.0.0.1', '::1', '::ffff:127.0.0.1', 'fe80::1%eth0', '2001:db8:2::1', '', 'not-an-ip', '203.0.113.9/24', '999.1.1.1', null]) {
      assert.equal(geo.locate(ip), null, String(ip));
    }
  });

  it('an IPv4-only database answers IPv4 (mapped too) and nothing for IPv6', () => {
    const geo = GeoIp.open(writeMmdbFile(dir, 'v4.mmdb', ENTRIES.filter((e) => !e.network.includes(':')), { ipVersion: 4, recordSize: 24 }));
    assert.deepEqual(geo.locate('203.0.113.9'), located('DE', 'Germany', 'Berlin'));
    assert.deepEqual(geo.locate('::ffff:203.0.113.9'), located('DE', 'Germany', 'Berlin'));
    assert.equal(geo.locate('2001:db8:1::42'), null);
    assert.equal(geo.locate('::cb00:7109'), null, 'an IPv4-compatible IPv6 address is IPv6');
  });

  it('reads what a private or custom database maps (an office network), so it locates what the file says', () => {
    const geo = GeoIp.open(writeMmdbFile(dir, 'office.mmdb', [{ network: '10.20.0.0/16', record: BERLIN }]));
    assert.deepEqual(geo.locate('10.20.30.40'), located('DE', 'Germany', 'Berlin'));
  });

  it('records without a country or city, or of odd shapes, give null; odd fields are dropped', () => {
    const geo = GeoIp.open(
      writeMmdbFile(dir, 'odd.mmdb', [
        { network: '192.0.2.1', record: { autonomous_system_number: 64500 } },
        { network: '192.0.2.2', record: 'just a string' },
        { network: '192.0.2.3', record: { country: { iso_code: 'Germany', names: { en: '  ' } }, city: { names: 'Berlin' } } },
        { network: '192.0.2.4', record: { country: { iso_code: 'de' }, city: { names: { en: 'c'.repeat(500) } } } },
      ]),
    );
    assert.equal(geo.locate('192.0.2.1'), null);
    assert.equal(geo.locate('192.0.2.2'), null);
    assert.equal(geo.locate('192.0.2.3'), null);
    assert.deepEqual(geo.locate('192.0.2.4'), { countryCode: 'DE', country: null, city: 'c'.repeat(100) });
  });

  it('a damaged record is null, not an exception in the middle of a sign-in', () => {
    const bytes = writeMmdb([{ network: '192.0.2.0/24', record: { country: { iso_code: 'DE' } } }], { recordSize: 24, ipVersion: 4 });
    const treeBytes = new Reader<Response>(bytes).metadata.searchTreeSize;
    // The record's control byte now says "extended type", and the next byte names no type.
    bytes[treeBytes + 16] = 0;
    bytes[treeBytes + 17] = 0;
    const geo = GeoIp.fromBytes(bytes);
    assert.equal(geo.locate('192.0.2.1'), null);
  });

  it('refuses a file that is missing, unreadable or not a usable MaxMind DB, saying why in one line', () => {
    const write = (name: string, bytes: Buffer) => {
      const f = path.join(dir, name);
      writeFileSync(f, bytes);
      return f;
    };
    const good = writeMmdb(ENTRIES);
    const refusal = (file: string, reason: RegExp) => {
      assert.throws(
        () => GeoIp.open(file),
        (err: unknown) => err instanceof GeoIpDatabaseError && reason.test(err.message) && err.message.includes(file) && !err.message.includes('\n'),
        `${file}: expected ${reason}`,
      );
    };
    refusal(path.join(dir, 'missing.mmdb'), /cannot read .*ENOENT/);
    refusal(dir, /cannot read .*EISDIR/);
    refusal(write('empty.mmdb', Buffer.alloc(0)), /not a MaxMind DB/);
    refusal(write('text.mmdb', Buffer.from('GeoLite2 City, CSV edition\n1.0.0.0/24,DE\n')), /not a MaxMind DB/);
    // Legacy GeoIP (.dat) files end with 0xFF 0xFF 0xFF and a structure byte, and have no marker.
    refusal(write('legacy.dat', Buffer.concat([Buffer.alloc(64, 7), Buffer.from([0xff, 0xff, 0xff, 1])])), /not a MaxMind DB/);
    refusal(write('marker-only.mmdb', Buffer.concat([Buffer.alloc(32), METADATA_MARKER])), /not a (readable|usable) MaxMind DB/);
    refusal(write('truncated.mmdb', good.subarray(good.length - 300)), /search tree does not fit|not a (readable|usable) MaxMind DB/);
    refusal(write('asn.mmdb', writeMmdb([{ network: '192.0.2.0/24', record: { autonomous_system_number: 64500 } }], { databaseType: 'GeoLite2-ASN' })), /GeoLite2-ASN database, which holds no locations/);
    const v3 = Buffer.from(good);
    const at = v3.lastIndexOf(Buffer.from('binary_format_major_version'));
    v3[at + 'binary_format_major_version'.length + 1] = 3; // uint16 of one byte: the value follows its control byte
    refusal(write('v3.mmdb', v3), /format version 3 is not 2/);
    for (const type of ['GeoLite2-ASN', 'DBIP-ASN-Lite', 'GeoIP2-ISP', 'GeoIP2-Anonymous-IP', 'GeoIP2-User-Connection-Type']) {
      refusal(write(`${type}.mmdb`, writeMmdb(ENTRIES, { databaseType: type })), /holds no locations/);
    }
    for (const type of ['GeoLite2-City', 'GeoLite2-Country', 'GeoIP2-Enterprise', 'DBIP-City-Lite', 'DBIP-Country-Lite', 'Acme-Offices']) {
      assert.equal(GeoIp.open(write(`${type}.mmdb`, writeMmdb(ENTRIES, { databaseType: type }))).databaseType, type);
    }
    const opened = GeoIp.open(write('good.mmdb', good));
    assert.equal(opened.databaseType, 'KeyNest-Test-City');
    assert.equal(opened.builtAt.toISOString(), '2030-01-01T00:00:00.000Z');
  });
});

describe('IP addresses as bytes', () => {
  it('parses every spelling of IPv4 and IPv6, and unmaps only ::ffff:0:0/96', () => {
    assert.deepEqual([...ipBytes('192.0.2.1')!], [192, 0, 2, 1]);
    assert.equal(ipText(ipBytes('2001:db8::1')!), '2001:db8:0:0:0:0:0:1');
    assert.equal(ipText(ipBytes('::')!), '0:0:0:0:0:0:0:0');
    assert.equal(ipText(ipBytes('1::')!), '1:0:0:0:0:0:0:0');
    assert.equal(ipText(ipBytes('1:2:3:4:5:6:7:8')!), '1:2:3:4:5:6:7:8');
    assert.equal(ipText(ipBytes('1:2:3:4:5:6:192.0.2.1')!), '1:2:3:4:5:6:c000:201');
    assert.equal(ipText(ipBytes('fe80::1%eth0')!), 'fe80:0:0:0:0:0:0:1');
    assert.equal(ipText(unmapIpv4(ipBytes('::ffff:192.0.2.1')!)), '192.0.2.1');
    assert.equal(ipText(unmapIpv4(ipBytes('::ffff:c000:201')!)), '192.0.2.1');
    assert.equal(ipText(unmapIpv4(ipBytes('::192.0.2.1')!)), '0:0:0:0:0:0:c000:201', 'IPv4-compatible is not mapped');
    assert.equal(ipText(unmapIpv4(ipBytes('1::ffff:192.0.2.1')!)), '1:0:0:0:0:ffff:c000:201');
    for (const bad of ['', '1.2.3', '1.2.3.4.5', '::g', 'localhost', '1.2.3.4/8']) assert.equal(ipBytes(bad), null, bad);
  });
});

describe('stored locations', () => {
  it('round-trip, and anything else in the column reads as unknown', () => {
    const l = locationOfRecord(BERLIN)!;
    assert.deepEqual(parseStoredLocation(storedLocation(l)), l);
    assert.equal(storedLocation(null), null);
    for (const text of [null, '', 'not json', 'null', '42', '"DE"', '{}', '{"countryCode": 7}']) assert.equal(parseStoredLocation(text), null, String(text));
    assert.deepEqual(parseStoredLocation('{"city":"Berlin","extra":1}'), { countryCode: null, country: null, city: 'Berlin' });
  });

  it('describes a location for people', () => {
    assert.equal(describeLocation(located('DE', 'Germany', 'Berlin')), 'Berlin, Germany (DE)');
    assert.equal(describeLocation(located('DE', 'Germany', null)), 'Germany (DE)');
    assert.equal(describeLocation({ countryCode: 'DE', country: null, city: null }), 'DE');
    assert.equal(describeLocation({ countryCode: null, country: null, city: 'Berlin' }), 'Berlin');
  });
});
