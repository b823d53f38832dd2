import { isIPv4, isIPv6 } from 'node:net';

/**
 * IP addresses and CIDR ranges for the org allowlist, as plain values: parsed once when saved (or
 * compiled into a cache), then matched with integer arithmetic on the hot path. Invariants:
 * - an IPv4-mapped IPv6 address (`::ffff:1.2.3.4`, what a dual-stack socket reports for an IPv4
 *   client) is the IPv4 address, both as a range and as a client: otherwise `1.2.3.0/24` would not
 *   admit a client the socket describes in IPv6 form, and a mapped range would escape review;
 * - a range is written in one canonical form (lower-case, RFC 5952 compressed, always with its
 *   prefix), so the same range cannot be stored twice under two spellings;
 * - anything else (zone ids, host bits set under the prefix, prefixes out of range) is refused,
 *   never guessed at: an allowlist entry that means something other than its author thought is a
 *   hole. `parseRange` answers null for "not a range"; it never throws.
 */

export interface IpRange {
  family: 4 | 6;
  /** The network address, with every bit past `prefix` zero. */
  network: bigint;
  prefix: number;
}

export interface IpAddress {
  family: 4 | 6;
  value: bigint;
}

const BITS = { 4: 32, 6: 128 } as const;
const MAPPED_PREFIX = 0xffffn << 32n;
const MAPPED_MASK = ((1n << 96n) - 1n) << 32n;

/** Why a text is not a range, for the client's error message. */
export type RangeProblem = 'not_an_address' | 'bad_prefix' | 'host_bits_set';

export function parseAddress(text: string): IpAddress | null {
  if (isIPv4(text)) return { family: 4, value: ipv4Value(text) };
  // A zone id (`fe80::1%eth0`) names an interface, which an allowlist cannot mean.
  if (!isIPv6(text) || text.includes('%')) return null;
  const value = ipv6Value(text);
  if ((value & MAPPED_MASK) === MAPPED_PREFIX) return { family: 4, value: value & 0xffffffffn };
  return { family: 6, value };
}

/** `1.2.3.0/24`, `2001:db8::/32`, or a single address (as /32 or /128). */
export function parseRange(text: string): { range: IpRange } | { problem: RangeProblem; suggestion?: string } {
  const trimmed = text.trim();
  const slash = trimmed.indexOf('/');
  const addressText = slash === -1 ? trimmed : trimmed.slice(0, slash);
  const address = parseAddress(addressText);
  if (!address) return { problem: 'not_an_address' };
  const mapped = address.family === 4 && !isIPv4(addressText);
  let prefix: number = BITS[address.family];
  if (slash !== -1) {
    const prefixText = trimmed.slice(slash + 1);
    if (!/^\d{1,3}$/.test(prefixText)) return { problem: 'bad_prefix' };
    prefix = Number(prefixText);
    // A mapped range is written against the 128 bits of IPv6; only its last 32 are the IPv4 range.
    if (mapped) {
      if (prefix < 96 || prefix > 128) return { problem: 'bad_prefix' };
      prefix -= 96;
    }
    if (prefix > BITS[address.family]) return { problem: 'bad_prefix' };
  }
  const network = address.value & maskOf(address.family, prefix);
  const range = { family: address.family, network, prefix };
  if (network !== address.value) return { problem: 'host_bits_set', suggestion: formatRange(range) };
  return { range };
}

export function formatRange(r: IpRange): string {
  return `${formatAddress({ family: r.family, value: r.network })}/${r.prefix}`;
}

export function formatAddress(a: IpAddress): string {
  if (a.family === 4) return [24n, 16n, 8n, 0n].map((s) => String((a.value >> s) & 0xffn)).join('.');
  const groups = Array.from({ length: 8 }, (_, i) => Number((a.value >> BigInt((7 - i) * 16)) & 0xffffn));
  // RFC 5952: the longest run of two or more zero groups (the first of equals) becomes "::".
  let best = { start: -1, length: 0 };
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > best.length && j - i >= 2) best = { start: i, length: j - i };
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best.start === -1) return hex.join(':');
  return `${hex.slice(0, best.start).join(':')}::${hex.slice(best.start + best.length).join(':')}`;
}

export function rangeIncludes(r: IpRange, a: IpAddress): boolean {
  return r.family === a.family && (a.value & maskOf(a.family, r.prefix)) === r.network;
}

/** Whether any of the ranges includes the address (text as Fastify's `req.ip` gives it). */
export function anyRangeIncludes(ranges: readonly IpRange[], ip: string | null): boolean {
  const address = ip === null ? null : parseAddress(ip);
  if (!address) return false;
  return ranges.some((r) => rangeIncludes(r, address));
}

function maskOf(family: 4 | 6, prefix: number): bigint {
  const bits = BigInt(BITS[family]);
  const all = (1n << bits) - 1n;
  return (all << (bits - BigInt(prefix))) & all;
}

function ipv4Value(text: string): bigint {
  return text.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
}

/** `text` is already known to be valid IPv6 (node:net), possibly ending in dotted IPv4. */
function ipv6Value(text: string): bigint {
  let head = text;
  let tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  if (text.slice(lastColon + 1).includes('.')) {
    const v4 = ipv4Value(text.slice(lastColon + 1));
    tail = [Number(v4 >> 16n), Number(v4 & 0xffffn)];
    head = text.slice(0, lastColon + 1);
    // `::1.2.3.4` leaves `::`; `1::1.2.3.4` leaves `1::`; `1:2:3:4:5:6:1.2.3.4` leaves a trailing ':'.
    if (head.endsWith(':') && !head.endsWith('::')) head = head.slice(0, -1);
  }
  const parse = (s: string) => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  let groups: number[];
  const gap = head.indexOf('::');
  if (gap === -1) {
    groups = [...parse(head), ...tail];
  } else {
    const left = parse(head.slice(0, gap));
    const right = [...parse(head.slice(gap + 2)), ...tail];
    groups = [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
  }
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n);
}
