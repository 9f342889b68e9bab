import { isIP } from 'node:net';

/**
 * The key a client address counts under in per-client buckets (rate limits by IP, admin
 * authentication failures): an IPv4 address as it is (an IPv4-mapped IPv6 address is its IPv4
 * address), an IPv6 address as its network of `ipv6Prefix` bits (`2001:db8:0:1::/64`), written one way
 * whatever way the client spelled it. A host gets a whole /64 from its network, so per-address IPv6
 * buckets would give one client 2^64 of them. Not an IP at all: the text as it is.
 */
export function addressKey(ip: string, ipv6Prefix: number): string {
  const family = isIP(ip);
  if (family === 4) return ip;
  if (family !== 6) return ip;
  const groups = ipv6Groups(ip);
  if (groups === null) return ip;
  if (isMappedIpv4(groups)) return `${groups[6]! >> 8}.${groups[6]! & 0xff}.${groups[7]! >> 8}.${groups[7]! & 0xff}`;
  const bits = Math.max(0, Math.min(128, Math.trunc(ipv6Prefix)));
  for (let i = 0; i < 8; i++) {
    const keep = Math.max(0, Math.min(16, bits - i * 16));
    groups[i] = keep === 0 ? 0 : groups[i]! & ((0xffff << (16 - keep)) & 0xffff);
  }
  const text = compress(groups);
  return bits === 128 ? text : `${text}/${bits}`;
}

/** The eight 16-bit groups of an IPv6 address (already checked by isIP), zone dropped; null if it does not parse. */
function ipv6Groups(ip: string): number[] | null {
  let s = ip;
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  // A trailing dotted IPv4 part (`::ffff:1.2.3.4`) is two groups.
  const lastColon = s.lastIndexOf(':');
  const tail = s.slice(lastColon + 1);
  if (tail.includes('.')) {
    const octets = tail.split('.').map(Number);
    if (octets.length !== 4 || octets.some((o) => !Number.isInteger(o) || o < 0 || o > 255)) return null;
    const [a, b, c, d] = octets as [number, number, number, number];
    s = `${s.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const head = halves[0] === '' ? [] : halves[0]!.split(':');
  const rest = halves.length === 2 && halves[1] !== '' ? halves[1]!.split(':') : [];
  const missing = 8 - head.length - rest.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const parts = halves.length === 1 ? head : [...head, ...new Array<string>(missing).fill('0'), ...rest];
  const groups: number[] = [];
  for (const part of parts) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(part)) return null;
    groups.push(parseInt(part, 16));
  }
  return groups;
}

function isMappedIpv4(groups: readonly number[]): boolean {
  for (let i = 0; i < 5; i++) if (groups[i] !== 0) return false;
  return groups[5] === 0xffff;
}

/** RFC 5952 text: lower case, the longest run (two groups or more, the first of equals) of zeros as `::`. */
function compress(groups: readonly number[]): string {
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}
