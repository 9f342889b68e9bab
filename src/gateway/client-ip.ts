import { BlockList, isIP } from 'node:net';
import { addressKey } from '../http/address-key.js';

/** Decides the client IP: the socket peer, or — when the peer is a trusted proxy — the nearest untrusted X-Forwarded-For hop. */
export interface ClientIpResolver {
  (peer: string, forwardedFor: string | string[] | undefined): string;
}

/**
 * Builds the resolver from trusted proxy addresses/CIDRs (`10.0.0.0/8`, `127.0.0.1`, `::1`). With none,
 * X-Forwarded-For is ignored: a client could write anything there.
 */
export function clientIpResolver(trusted: readonly string[]): ClientIpResolver {
  if (trusted.length === 0) return (peer) => stripMapped(peer);
  const isTrusted = trustedPeers(trusted);
  return (peer, forwardedFor) => {
    let ip = stripMapped(peer);
    if (!isTrusted(ip) || forwardedFor === undefined) return ip;
    const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor).split(',');
    // Walk from the nearest hop outwards; the first one we do not trust is the client.
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = hops[i]!.trim();
      if (isIP(hop) === 0) return ip;
      // A proxy may write an address any way it likes (`::FFFF:10.0.0.1`, `2001:DB8::1A`): one client, one text.
      ip = addressKey(hop, 128);
      if (!isTrusted(ip)) return ip;
    }
    return ip;
  };
}

/** A test for addresses in the trusted proxy list (IPs or CIDRs); an IPv4-mapped IPv6 peer counts as its IPv4 address. */
export function trustedPeers(trusted: readonly string[]): (ip: string) => boolean {
  if (trusted.length === 0) return () => false;
  const list = new BlockList();
  for (const entry of trusted) {
    const [addr, bits] = entry.split('/') as [string, string | undefined];
    const family = isIP(addr) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(addr, family);
    else list.addSubnet(addr, Number(bits), family);
  }
  return (peer) => {
    const ip = stripMapped(peer);
    const family = isIP(ip);
    return family !== 0 && list.check(ip, family === 6 ? 'ipv6' : 'ipv4');
  };
}

/** Validates a trusted-proxy entry (an IP or CIDR); returns an error message or null. */
export function checkTrustedProxy(entry: string): string | null {
  const [addr, bits, extra] = entry.split('/');
  const family = isIP(addr ?? '');
  if (family === 0 || extra !== undefined) return `${entry} is not an IP address or CIDR`;
  if (bits !== undefined) {
    const n = Number(bits);
    if (!/^\d+$/.test(bits) || n > (family === 6 ? 128 : 32)) return `${entry} has an invalid prefix length`;
  }
  return null;
}

function stripMapped(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}
