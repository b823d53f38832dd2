import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { ipBytes } from '../geo/ip-address.js';

/**
 * A writer of MaxMind DB files (format 2.0, as published by MaxMind: "MaxMind DB File Format
 * Specification"), so tests read real `.mmdb` bytes without shipping a licensed database. It builds
 * the binary search tree from CIDR entries, the data section in the format's typed encoding (strings
 * seen before become pointers, as real databases do), and the metadata after the
 * `\xAB\xCD\xEFMaxMind.com` marker. Made to be read by an independent reader (mmdb-lib), which is
 * what tells us that both the writer and our use of the reader are right.
 */

/** A value with an explicit type; plain numbers are written as uint32, int32 or double by value. */
export class Typed {
  constructor(
    readonly type: 'uint16' | 'uint32' | 'uint64' | 'uint128' | 'int32' | 'double' | 'float',
    readonly value: number | bigint,
  ) {}
}

export type MmdbValue = string | number | boolean | bigint | Buffer | Typed | MmdbValue[] | { [key: string]: MmdbValue };

export interface MmdbEntry {
  /** `203.0.113.0/24`, `2001:db8::/32`; a bare address is a /32 or /128. */
  network: string;
  record: MmdbValue;
}

export interface MmdbOptions {
  /** 6 (default) holds IPv4 networks under ::/96, as MaxMind's databases do; 4 holds IPv4 only. */
  ipVersion?: 4 | 6;
  recordSize?: 24 | 28 | 32;
  databaseType?: string;
  languages?: string[];
  description?: Record<string, string>;
  /** Seconds since the epoch. */
  buildEpoch?: number;
}

export const METADATA_MARKER = Buffer.from('\xab\xcd\xefMaxMind.com', 'latin1');
const DATA_SECTION_SEPARATOR = Buffer.alloc(16);

/** The data section's type numbers (types above 7 are "extended": a 0 type and a second byte). */
const TYPE = { pointer: 1, utf8: 2, double: 3, bytes: 4, uint16: 5, uint32: 6, map: 7, int32: 8, uint64: 9, uint128: 10, array: 11, boolean: 14, float: 15 } as const;

export function writeMmdb(entries: readonly MmdbEntry[], opts: MmdbOptions = {}): Buffer {
  const ipVersion = opts.ipVersion ?? 6;
  const recordSize = opts.recordSize ?? 28;
  const root = new TreeNode();
  const data = new DataWriter(true);
  const offsets = new Map<MmdbValue, number>();
  for (const entry of entries) {
    let offset = offsets.get(entry.record);
    if (offset === undefined) {
      offset = data.length;
      data.write(entry.record);
      offsets.set(entry.record, offset);
    }
    const { bits, prefix } = network(entry.network, ipVersion);
    insert(root, bits, prefix, { dataOffset: offset });
  }

  const nodes = numberNodes(root);
  const nodeCount = nodes.length;
  const numbers = new Map(nodes.map((n, i) => [n, i]));
  const recordValue = (child: Child): number => {
    if (child === null) return nodeCount;
    if (child instanceof TreeNode) return numbers.get(child)!;
    return nodeCount + DATA_SECTION_SEPARATOR.length + child.dataOffset;
  };
  const nodeBytes = recordSize / 4;
  const tree = Buffer.alloc(nodeCount * nodeBytes);
  nodes.forEach((node, i) => writeNode(tree, i * nodeBytes, recordSize, recordValue(node.left), recordValue(node.right)));

  const metadata = new DataWriter(false);
  metadata.write({
    node_count: new Typed('uint32', nodeCount),
    record_size: new Typed('uint16', recordSize),
    ip_version: new Typed('uint16', ipVersion),
    database_type: opts.databaseType ?? 'KeyNest-Test-City',
    languages: opts.languages ?? ['en'],
    binary_format_major_version: new Typed('uint16', 2),
    binary_format_minor_version: new Typed('uint16', 0),
    build_epoch: new Typed('uint64', BigInt(opts.buildEpoch ?? Math.floor(Date.UTC(2030, 0, 1) / 1000))),
    description: opts.description ?? { en: 'KeyNest test database' },
  });
  return Buffer.concat([tree, DATA_SECTION_SEPARATOR, data.bytes(), METADATA_MARKER, metadata.bytes()]);
}

/** Writes the database to `dir/name` and returns its path. */
export function writeMmdbFile(dir: string, name: string, entries: readonly MmdbEntry[], opts?: MmdbOptions): string {
  const file = path.join(dir, name);
  writeFileSync(file, writeMmdb(entries, opts));
  return file;
}

/** A record shaped like GeoLite2-City's (the fields a City database has, with made-up ids). */
export function cityRecord(p: { countryCode: string; country: string; city?: string; continent?: string }): MmdbValue {
  const geonameId = (s: string) => [...s].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7);
  const out: { [key: string]: MmdbValue } = {
    continent: { code: p.continent ?? 'EU', geoname_id: 6255148, names: { en: 'Europe', de: 'Europa' } },
    country: { geoname_id: geonameId(p.countryCode), iso_code: p.countryCode, names: { en: p.country, de: p.country } },
    registered_country: { geoname_id: geonameId(p.countryCode), iso_code: p.countryCode, names: { en: p.country } },
    location: { accuracy_radius: new Typed('uint16', 50), latitude: 52.5244, longitude: 13.4105, time_zone: 'Europe/Berlin' },
  };
  if (p.city !== undefined) out.city = { geoname_id: geonameId(p.city), names: { en: p.city, de: p.city } };
  return out;
}

// --- the search tree ------------------------------------------------------------------------

interface DataRef {
  /** Where the record starts, from the start of the data section. */
  dataOffset: number;
}
type Child = TreeNode | DataRef | null;

class TreeNode {
  left: Child = null;
  right: Child = null;
}

function network(cidr: string, ipVersion: 4 | 6): { bits: Uint8Array; prefix: number } {
  const [addr = '', len] = cidr.split('/');
  const raw = ipBytes(addr);
  if (raw === null) throw new Error(`not an address: ${cidr}`);
  const prefix = len === undefined ? raw.length * 8 : Number(len);
  if (!Number.isInteger(prefix) || prefix < 1 || prefix > raw.length * 8) throw new Error(`bad prefix length: ${cidr}`);
  if (raw.length === 4 && ipVersion === 6) {
    const bits = new Uint8Array(16);
    bits.set(raw, 12);
    return { bits, prefix: prefix + 96 };
  }
  if (raw.length === 16 && ipVersion === 4) throw new Error(`an IPv4 database cannot hold ${cidr}`);
  return { bits: raw, prefix };
}

const bitAt = (bytes: Uint8Array, i: number): 0 | 1 => ((bytes[i >> 3]! >> (7 - (i & 7))) & 1) as 0 | 1;
const side = (bit: 0 | 1) => (bit === 0 ? 'left' : 'right');

/** Later entries win where they overlap: a network inside an earlier one splits it. */
function insert(root: TreeNode, bits: Uint8Array, prefix: number, value: DataRef): void {
  let node = root;
  for (let i = 0; i < prefix - 1; i++) {
    const s = side(bitAt(bits, i));
    let next = node[s];
    if (!(next instanceof TreeNode)) {
      const split = new TreeNode();
      split.left = next;
      split.right = next;
      node[s] = split;
      next = split;
    }
    node = next;
  }
  node[side(bitAt(bits, prefix - 1))] = value;
}

/** Breadth first from the root, which must be node 0. */
function numberNodes(root: TreeNode): TreeNode[] {
  const out: TreeNode[] = [root];
  for (let i = 0; i < out.length; i++) {
    for (const child of [out[i]!.left, out[i]!.right]) if (child instanceof TreeNode) out.push(child);
  }
  return out;
}

function writeNode(buf: Buffer, at: number, recordSize: 24 | 28 | 32, left: number, right: number): void {
  if (left >= 2 ** recordSize || right >= 2 ** recordSize) throw new Error(`a record does not fit in ${recordSize} bits`);
  if (recordSize === 24) {
    buf.writeUIntBE(left, at, 3);
    buf.writeUIntBE(right, at + 3, 3);
  } else if (recordSize === 28) {
    // Each record's low 24 bits at either end; the middle byte holds their high nibbles, left first.
    buf.writeUIntBE(left & 0xffffff, at, 3);
    buf[at + 3] = (((left >>> 24) & 0x0f) << 4) | ((right >>> 24) & 0x0f);
    buf.writeUIntBE(right & 0xffffff, at + 4, 3);
  } else {
    buf.writeUInt32BE(left, at);
    buf.writeUInt32BE(right, at + 4);
  }
}

// --- the data section -----------------------------------------------------------------------

class DataWriter {
  readonly #out: number[] = [];
  readonly #strings = new Map<string, number>();
  constructor(private readonly pointStringsBack: boolean) {}

  get length(): number {
    return this.#out.length;
  }

  bytes(): Buffer {
    return Buffer.from(this.#out);
  }

  write(v: MmdbValue): void {
    if (typeof v === 'string') return this.#string(v);
    if (typeof v === 'boolean') return this.#control(TYPE.boolean, v ? 1 : 0);
    if (typeof v === 'bigint') return this.#uint(v < 2n ** 64n ? TYPE.uint64 : TYPE.uint128, v);
    if (typeof v === 'number') {
      if (Number.isInteger(v) && v >= 0 && v < 2 ** 32) return this.#uint(TYPE.uint32, BigInt(v));
      if (Number.isInteger(v) && v >= -(2 ** 31) && v < 0) return this.write(new Typed('int32', v));
      return this.write(new Typed('double', v));
    }
    if (Buffer.isBuffer(v)) {
      this.#control(TYPE.bytes, v.length);
      return this.#push(v);
    }
    if (v instanceof Typed) return this.#typed(v);
    if (Array.isArray(v)) {
      this.#control(TYPE.array, v.length);
      for (const item of v) this.write(item);
      return;
    }
    const keys = Object.keys(v);
    this.#control(TYPE.map, keys.length);
    for (const k of keys) {
      this.#string(k);
      this.write(v[k]!);
    }
  }

  #typed(v: Typed): void {
    const n = v.value;
    if (v.type === 'double' || v.type === 'float') {
      const b = Buffer.alloc(v.type === 'double' ? 8 : 4);
      if (v.type === 'double') b.writeDoubleBE(Number(n));
      else b.writeFloatBE(Number(n));
      this.#control(v.type === 'double' ? TYPE.double : TYPE.float, b.length);
      return this.#push(b);
    }
    if (v.type === 'int32') {
      const b = Buffer.alloc(4);
      b.writeInt32BE(Number(n));
      this.#control(TYPE.int32, 4);
      return this.#push(b);
    }
    this.#uint(TYPE[v.type], BigInt(n));
  }

  /** Unsigned integers take as few big-endian bytes as their value needs (none for 0). */
  #uint(type: number, value: bigint): void {
    const b: number[] = [];
    for (let x = value; x > 0n; x >>= 8n) b.unshift(Number(x & 0xffn));
    this.#control(type, b.length);
    this.#push(b);
  }

  #string(s: string): void {
    const seen = this.#strings.get(s);
    if (seen !== undefined) return this.#pointer(seen);
    if (this.pointStringsBack) this.#strings.set(s, this.#out.length);
    const b = Buffer.from(s, 'utf8');
    this.#control(TYPE.utf8, b.length);
    this.#push(b);
  }

  /** 001SSVVV: SS picks 11, 19, 27 or 32 bits of offset (the larger ones biased past the smaller). */
  #pointer(p: number): void {
    if (p < 2048) return this.#push([0x20 | (p >> 8), p & 0xff]);
    if (p < 2048 + 2 ** 19) {
      const v = p - 2048;
      return this.#push([0x28 | (v >> 16), (v >> 8) & 0xff, v & 0xff]);
    }
    if (p < 526336 + 2 ** 27) {
      const v = p - 526336;
      return this.#push([0x30 | (v >>> 24), (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff]);
    }
    this.#push([0x38, (p >>> 24) & 0xff, (p >> 16) & 0xff, (p >> 8) & 0xff, p & 0xff]);
  }

  /** The control byte (type in the top 3 bits, or 0 and an extended-type byte) and the size. */
  #control(type: number, size: number): void {
    let sizeBits: number;
    let extra: number[] = [];
    if (size < 29) sizeBits = size;
    else if (size < 29 + 256) [sizeBits, extra] = [29, [size - 29]];
    else if (size < 285 + 65536) [sizeBits, extra] = [30, [(size - 285) >> 8, (size - 285) & 0xff]];
    else [sizeBits, extra] = [31, [((size - 65821) >> 16) & 0xff, ((size - 65821) >> 8) & 0xff, (size - 65821) & 0xff]];
    if (type <= 7) this.#push([(type << 5) | sizeBits]);
    else this.#push([sizeBits, type - 7]);
    this.#push(extra);
  }

  #push(b: ArrayLike<number>): void {
    for (let i = 0; i < b.length; i++) this.#out.push(b[i]!);
  }
}
