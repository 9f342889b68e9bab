import { lookup as getaddrinfo, Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import { dnsFailure, DnsNotFoundError } from './dns-errors.js';

/** One address of a name. */
export interface DnsAddress {
  readonly address: string;
  readonly family: 4 | 6;
}

/** What a DNS backend answered for a name: its addresses (never empty), and how long they hold (null: unknown). */
export interface DnsAnswer {
  readonly addresses: readonly DnsAddress[];
  readonly ttlMs: number | null;
}

/** How names are asked: the system's getaddrinfo, or c-ares against given servers. */
export interface DnsBackend {
  readonly kind: 'getaddrinfo' | 'c-ares';
  /** Most queries in flight at once in the process. */
  readonly maxInFlight: number;
  /** Looks `name` up; rejects with a DnsError. It may outlive the resolver's own bound (getaddrinfo cannot be cut). */
  query(name: string): Promise<DnsAnswer>;
}

/**
 * getaddrinfo lookups at once. Each holds one of libuv's 4 threads (shared with file system work
 * and every other lookup) until the system answers, however long a dead server makes that: 2 at most
 * leaves the rest of the pool to the process.
 */
export const GETADDRINFO_IN_FLIGHT = 2;

/** c-ares queries at once (they use no thread; a name is two of them, A and AAAA). */
export const CARES_IN_FLIGHT = 32;

/** The system's resolver (`dns.lookup`: /etc/hosts, then the resolv.conf servers), no TTL. */
export function getaddrinfoBackend(timeoutMs: number): DnsBackend {
  return {
    kind: 'getaddrinfo',
    maxInFlight: GETADDRINFO_IN_FLIGHT,
    async query(name) {
      let list: Array<{ address: string; family: number }>;
      try {
        list = await getaddrinfo(name, { all: true, verbatim: true });
      } catch (err) {
        throw dnsFailure(name, err, timeoutMs);
      }
      if (list.length === 0) throw new DnsNotFoundError(name, 'no address');
      return { addresses: list.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 })), ttlMs: null };
    },
  };
}

/** Tries per server and query (c-ares doubles its timeout on each round). */
const CARES_TRIES = 2;

/**
 * c-ares (`dns.Resolver`) against `servers` (`ip`, `ip:port`, `[ipv6]:port`), as nginx's `resolver`:
 * A and AAAA asked together, their TTL kept, no thread pool; /etc/hosts is not read. The per-try
 * timeout is a third of `timeoutMs`, so two rounds fit in it.
 */
export function caresBackend(servers: readonly string[], timeoutMs: number): DnsBackend {
  const resolver = new Resolver({ timeout: Math.max(50, Math.floor(timeoutMs / 3)), tries: CARES_TRIES });
  resolver.setServers([...servers]);
  return {
    kind: 'c-ares',
    maxInFlight: CARES_IN_FLIGHT,
    async query(name) {
      const [a, aaaa] = await Promise.allSettled([
        resolver.resolve4(name, { ttl: true }),
        resolver.resolve6(name, { ttl: true }),
      ]);
      const addresses: DnsAddress[] = [];
      let ttl = Infinity;
      for (const [result, family] of [
        [a, 4],
        [aaaa, 6],
      ] as const) {
        if (result.status !== 'fulfilled') continue;
        for (const r of result.value) {
          addresses.push({ address: r.address, family });
          ttl = Math.min(ttl, r.ttl);
        }
      }
      if (addresses.length > 0) return { addresses, ttlMs: Number.isFinite(ttl) ? ttl * 1000 : null };
      // No address: A's failure says most, unless it only had no record (then AAAA's may say more).
      const failure = [a, aaaa].find((r) => r.status === 'rejected' && !noData(r.reason)) as
        PromiseRejectedResult | undefined;
      throw dnsFailure(
        name,
        failure?.reason ?? Object.assign(new Error('no A or AAAA record'), { code: 'ENODATA' }),
        timeoutMs,
      );
    },
  };
}

function noData(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 'ENODATA';
}

/** Checks a `--dns-server` entry: an IP, optionally with a port (`[v6]:port` for IPv6); null when valid. */
export function checkDnsServer(entry: string): string | null {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
  const plain = /^([^:]+)(?::(\d+))?$/.exec(entry);
  const [host, port] = bracketed
    ? [bracketed[1]!, bracketed[2]]
    : plain
      ? [plain[1]!, plain[2]]
      : isIP(entry) === 6
        ? [entry, undefined]
        : ['', undefined];
  if (isIP(host) === 0) return `${entry}: a DNS server must be an IP address (with an optional :port), not a name`;
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) return `${entry}: port out of range`;
  return null;
}
