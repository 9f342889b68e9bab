import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIPv4, isIPv6 } from 'node:net';

/** How the test DNS server treats queries now. */
export type DnsMode = 'answer' | 'silent' | 'servfail';

/** A real DNS server on 127.0.0.1 (UDP) for tests: A and AAAA records with a TTL for the names it is given. */
export interface TestDnsServer {
  readonly port: number;
  /** `127.0.0.1:port`, as `--dns-server` takes it. */
  readonly address: string;
  /** Answers `name` with these addresses (v4 as A, v6 as AAAA) and TTL (seconds). */
  set(name: string, addresses: readonly string[], ttl?: number): void;
  /** Forgets `name` (it answers NXDOMAIN). */
  remove(name: string): void;
  /** answer (default), silent (queries are dropped), servfail (every query gets SERVFAIL). */
  mode: DnsMode;
  /** Answers go out this long after their query (0: at once). */
  delayMs: number;
  /** Queries received (answered or not) for `name` of `type` (`A`, `AAAA`), or of every name and type. */
  queries(name?: string, type?: 'A' | 'AAAA'): number;
  close(): Promise<void>;
}

const TYPE_A = 1;
const TYPE_AAAA = 28;
const RCODE_SERVFAIL = 2;
const RCODE_NXDOMAIN = 3;

/** The question of a query: its name (lower case), type, and where the question section ends. */
function question(msg: Buffer): { name: string; type: number; end: number } | null {
  if (msg.length < 12 || msg.readUInt16BE(4) !== 1) return null;
  const labels: string[] = [];
  let at = 12;
  for (;;) {
    if (at >= msg.length) return null;
    const len = msg[at]!;
    at++;
    if (len === 0) break;
    if (len > 63 || at + len > msg.length) return null;
    labels.push(msg.toString('latin1', at, at + len).toLowerCase());
    at += len;
  }
  if (at + 4 > msg.length) return null;
  return { name: labels.join('.'), type: msg.readUInt16BE(at), end: at + 4 };
}

/** The answer to `query`: its question echoed, then the records (or an error code). */
function answer(query: Buffer, end: number, rcode: number, type: number, addresses: string[], ttl: number): Buffer {
  const header = Buffer.alloc(12);
  query.copy(header, 0, 0, 2); // id
  const rd = query[2]! & 0x01;
  header[2] = 0x80 | 0x04 | rd; // QR, AA, RD as asked
  header[3] = 0x80 | rcode; // RA
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(addresses.length, 6);
  const records = addresses.map((ip) => {
    const data = type === TYPE_A ? Buffer.from(ip.split('.').map(Number)) : ipv6Bytes(ip);
    const r = Buffer.alloc(12 + data.length);
    r.writeUInt16BE(0xc00c, 0); // the question's name
    r.writeUInt16BE(type, 2);
    r.writeUInt16BE(1, 4); // IN
    r.writeUInt32BE(ttl, 6);
    r.writeUInt16BE(data.length, 10);
    data.copy(r, 12);
    return r;
  });
  return Buffer.concat([header, query.subarray(12, end), ...records]);
}

function ipv6Bytes(ip: string): Buffer {
  const [head, tail] = ip.split('::') as [string, string | undefined];
  const a = head === '' ? [] : head.split(':');
  const b = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? a : [...a, ...Array<string>(8 - a.length - b.length).fill('0'), ...b];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/** Starts a DNS server on 127.0.0.1, a free UDP port. */
export function startDnsServer(): Promise<TestDnsServer> {
  const records = new Map<string, { addresses: string[]; ttl: number }>();
  const counts = new Map<string, number>();
  const socket: Socket = createSocket('udp4');
  const server: TestDnsServer = {
    port: 0,
    address: '',
    mode: 'answer',
    delayMs: 0,
    set(name, addresses, ttl = 300) {
      records.set(name.toLowerCase(), { addresses: [...addresses], ttl });
    },
    remove(name) {
      records.delete(name.toLowerCase());
    },
    queries(name, type) {
      let n = 0;
      for (const [key, count] of counts) {
        const [t, q] = key.split(' ') as [string, string];
        if ((name === undefined || q === name) && (type === undefined || t === type)) n += count;
      }
      return n;
    },
    close: () => new Promise<void>((done) => socket.close(() => done())),
  };
  socket.on('message', (msg: Buffer, from: RemoteInfo) => {
    const q = question(msg);
    if (q === null) return;
    const typeName = q.type === TYPE_A ? 'A' : q.type === TYPE_AAAA ? 'AAAA' : String(q.type);
    counts.set(`${typeName} ${q.name}`, (counts.get(`${typeName} ${q.name}`) ?? 0) + 1);
    if (server.mode === 'silent') return;
    const record = records.get(q.name);
    let reply: Buffer;
    if (server.mode === 'servfail') reply = answer(msg, q.end, RCODE_SERVFAIL, q.type, [], 0);
    else if (record === undefined) reply = answer(msg, q.end, RCODE_NXDOMAIN, q.type, [], 0);
    else {
      const wanted = record.addresses.filter((ip) =>
        q.type === TYPE_A ? isIPv4(ip) : q.type === TYPE_AAAA && isIPv6(ip),
      );
      reply = answer(msg, q.end, 0, q.type, wanted, record.ttl);
    }
    if (server.delayMs === 0) socket.send(reply, from.port, from.address);
    else setTimeout(() => socket.send(reply, from.port, from.address), server.delayMs);
  });
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      const port = socket.address().port;
      Object.assign(server, { port, address: `127.0.0.1:${port}` });
      resolve(server);
    });
  });
}
