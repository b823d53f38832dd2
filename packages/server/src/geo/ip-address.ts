import { isIP } from 'node:net';

/**
 * IP addresses as bytes: 4 for IPv4, 16 for IPv6 — the unit the MaxMind DB search tree walks bit by
 * bit. Text that `net.isIP` does not accept is not an address.
 */
export function ipBytes(text: string): Uint8Array | null {
  const family = isIP(text);
  if (family === 4) return Uint8Array.from(text.split('.').map(Number));
  if (family === 6) return ipv6Bytes(text);
  return null;
}

/**
 * The IPv4 address inside an IPv4-mapped IPv6 one (`::ffff:1.2.3.4`, RFC 4291 §2.5.5.2), or the
 * bytes as they are. A dual-stack socket reports IPv4 clients this way, and a database indexes them
 * under IPv4 (its alias of ::ffff:0:0/96, if it has one, leads to the same records).
 */
export function unmapIpv4(bytes: Uint8Array): Uint8Array {
  if (bytes.length !== 16) return bytes;
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return bytes;
  return bytes[10] === 0xff && bytes[11] === 0xff ? bytes.slice(12) : bytes;
}

/** Bytes back to text: dotted quad, or eight full hexadecimal groups (which every reader accepts). */
export function ipText(bytes: Uint8Array): string {
  if (bytes.length === 4) return bytes.join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  return groups.join(':');
}

/** Only called on text that `isIP` accepted as IPv6, so the shape is already known to be right. */
function ipv6Bytes(text: string): Uint8Array {
  let rest = text.split('%')[0]!;
  const out = new Uint8Array(16);
  let tail: number[] = [];
  const lastColon = rest.lastIndexOf(':');
  if (rest.includes('.', lastColon)) {
    tail = rest.slice(lastColon + 1).split('.').map(Number);
    rest = `${rest.slice(0, lastColon + 1)}0:0`; // two placeholder groups, replaced by the IPv4 bytes below
  }
  const [head = '', after] = rest.split('::');
  const groupsOf = (s: string) => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const left = groupsOf(head);
  const right = after === undefined ? [] : groupsOf(after);
  const groups = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  groups.forEach((g, i) => {
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  });
  if (tail.length === 4) out.set(tail, 12);
  return out;
}
