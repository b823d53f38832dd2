import { readFileSync } from 'node:fs';
import { Reader, type Response } from 'mmdb-lib';
import { ipBytes, ipText, unmapIpv4 } from './ip-address.js';
import { locationOfRecord, type GeoLocation } from './location.js';

/**
 * Locations of IP addresses from a MaxMind DB file (`.mmdb`: GeoLite2/GeoIP2 City or Country,
 * DB-IP Lite, or a database of one's own in that format), read with mmdb-lib. Invariants:
 * - the whole file is read and checked once, when it is opened; a file that is not a usable
 *   database is refused then (`GeoIpDatabaseError`), never at the first sign-in;
 * - a lookup is synchronous, in memory, and never throws: an address the database does not cover
 *   (private, reserved, or just absent), or a damaged part of the file, gives null — a location is
 *   a hint, and no sign-in may fail for want of one;
 * - IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`, how dual-stack sockets report IPv4 clients) are
 *   looked up as the IPv4 address they carry.
 * A new file (geoipupdate runs weekly) is read at the next start.
 */
export class GeoIp {
  readonly #reader: Reader<Response>;
  readonly #ipVersion: 4 | 6;
  /** `GeoLite2-City`, `DBIP-Country-Lite`, …: for the operator, from the file's metadata. */
  readonly databaseType: string;
  readonly builtAt: Date;

  private constructor(reader: Reader<Response>) {
    this.#reader = reader;
    this.#ipVersion = reader.metadata.ipVersion === 4 ? 4 : 6;
    this.databaseType = reader.metadata.databaseType;
    this.builtAt = reader.metadata.buildEpoch;
  }

  /** Reads and checks the file; throws `GeoIpDatabaseError` (a one-line reason naming the file). */
  static open(file: string): GeoIp {
    let bytes: Buffer;
    try {
      bytes = readFileSync(file);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new GeoIpDatabaseError(`cannot read ${file} (${e.code ?? e.message.split('\n')[0]})`);
    }
    try {
      return GeoIp.fromBytes(bytes);
    } catch (err) {
      if (err instanceof GeoIpDatabaseError) throw new GeoIpDatabaseError(`${file} ${err.message}`);
      throw err;
    }
  }

  /** The same from bytes already in memory. */
  static fromBytes(bytes: Buffer): GeoIp {
    const markerAt = bytes.lastIndexOf(METADATA_MARKER);
    // The format puts the metadata in the last 128 KiB; a legacy GeoIP (.dat) file has no marker.
    if (markerAt < 0 || bytes.length - markerAt > METADATA_MAX_BYTES) throw new GeoIpDatabaseError('is not a MaxMind DB (.mmdb) file: no metadata section');
    let reader: Reader<Response>;
    try {
      reader = new Reader<Response>(bytes);
    } catch (err) {
      throw new GeoIpDatabaseError(`is not a readable MaxMind DB file (${firstLine(err)})`);
    }
    const m = reader.metadata;
    const problem = metadataProblem(m, markerAt);
    if (problem !== null) throw new GeoIpDatabaseError(`is not a usable MaxMind DB file: ${problem}`);
    try {
      reader.get(m.ipVersion === 4 ? '0.0.0.0' : '::');
    } catch (err) {
      throw new GeoIpDatabaseError(`is a damaged MaxMind DB file (${firstLine(err)})`);
    }
    return new GeoIp(reader);
  }

  /** Where `ip` is, or null: unknown address, no address, or nothing known about it. */
  locate(ip: string | null): GeoLocation | null {
    if (ip === null) return null;
    const parsed = ipBytes(ip);
    if (parsed === null) return null;
    const bytes = unmapIpv4(parsed);
    // An IPv4-only database has nothing to say about IPv6 addresses (mmdb-lib would misread them).
    if (bytes.length === 16 && this.#ipVersion === 4) return null;
    try {
      return locationOfRecord(this.#reader.get(ipText(bytes)));
    } catch {
      // A record pointing outside the file, an unknown type: that part of the file is damaged.
      return null;
    }
  }
}

/** The file named by KEYNEST_GEOIP_DB cannot serve as a GeoIP database. */
export class GeoIpDatabaseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GeoIpDatabaseError';
  }
}

type Metadata = Reader<Response>['metadata'];

const METADATA_MARKER = Buffer.from('\xab\xcd\xefMaxMind.com', 'latin1');
const METADATA_MAX_BYTES = 128 * 1024;
const DATA_SECTION_SEPARATOR_BYTES = 16;
/** MaxMind's and DB-IP's databases that describe networks, not places. */
const NOT_LOCATIONS = /(^|-)(ASN|ISP|Domain|Connection-Type|Anonymous-IP|Anonymous-Plus|Static-IP-Score|User-Count)(-|$)/i;

function metadataProblem(m: Metadata, markerAt: number): string | null {
  if (m.binaryFormatMajorVersion !== 2) return `format version ${String(m.binaryFormatMajorVersion)} is not 2`;
  if (m.ipVersion !== 4 && m.ipVersion !== 6) return 'its ip_version is neither 4 nor 6';
  if (!Number.isSafeInteger(m.nodeCount) || m.nodeCount < 1 || m.searchTreeSize + DATA_SECTION_SEPARATOR_BYTES > markerAt) return 'its search tree does not fit in the file';
  if (typeof m.databaseType !== 'string') return 'it has no database_type';
  if (NOT_LOCATIONS.test(m.databaseType)) return `it is a ${m.databaseType} database, which holds no locations (use a City or Country one)`;
  return null;
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
}
