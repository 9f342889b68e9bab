import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { ACCESS_LOG_FIELDS, type AccessLogField } from '../gateway/access-log-fields.js';
import { checkTrustedProxy } from '../gateway/client-ip.js';
import { checkDnsServer } from '../upstream/dns-query.js';

const port = z.coerce.number().int().min(0).max(65535);
const host = z.string().min(1).max(255);

/** Process options: each flag `--gateway-port` is also `ISOGATE_GATEWAY_PORT`; flags win over the environment. */
export const Options = z.strictObject({
  gatewayHost: host.default('0.0.0.0'),
  gatewayPort: port.default(8080),
  /** The TLS port (HTTPS and HTTP/2 by ALPN) on the gateway host; off unless given. */
  gatewayTlsPort: port.nullable().default(null),
  adminHost: host.default('127.0.0.1'),
  adminPort: port.default(9180),
  statusHost: host.default('0.0.0.0'),
  statusPort: port.default(7085),
  dataDir: z.string().min(1).default('data'),
  /** Where the config lives: empty for SQLite under the data dir, a SQLite file path, or a postgres:// URL. */
  store: z.string().default(''),
  /** How long connecting to a networked store, or one store operation, may take before it counts as unreachable. */
  storeTimeoutMs: z.coerce.number().int().min(100).max(120_000).default(5_000),
  /** Gateway worker processes sharing the gateway port; 0 serves in the main process. */
  workers: z.coerce.number().int().min(0).max(64).default(availableParallelism()),
  demo: z.boolean().default(true),
  /** Put the demo back as first seeded (its APIs and variables), keeping everything else. */
  resetDemo: z.boolean().default(false),
  demoPortBase: port.default(19081),
  /** Peers whose X-Forwarded-For is believed (IPs or CIDRs, comma-separated in flags). */
  trustProxy: z
    .array(z.string().trim().min(1))
    .default([])
    .superRefine((list, ctx) => {
      for (const entry of list) {
        const problem = checkTrustedProxy(entry);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      }
    }),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  accessLog: z.boolean().default(true),
  /** Opt-in fields of the access log line (comma-separated in flags); none by default. */
  accessLogFields: z
    .array(z.string().trim())
    .default([])
    .superRefine((list, ctx) => {
      for (const name of list) {
        if (!(ACCESS_LOG_FIELDS as readonly string[]).includes(name))
          ctx.addIssue({
            code: 'custom',
            message: `unknown field "${name}"; the fields are ${ACCESS_LOG_FIELDS.join(', ')}`,
          });
      }
    })
    .transform((list) => [...new Set(list)] as AccessLogField[]),
  /** How often the config version is checked as a safety net for writes from other processes. */
  pollMs: z.coerce.number().int().min(50).max(60_000).default(1000),
  /** How often each process refreshes its row in the cluster view (stale after three missed). */
  heartbeatMs: z.coerce.number().int().min(50).max(60_000).default(5_000),
  /** Longest wait for in-flight requests on shutdown. */
  drainMs: z.coerce.number().int().min(0).max(600_000).default(10_000),
  /** On shutdown, how long /status/ready answers 503 before the ports close (for load balancers to notice). */
  drainWaitMs: z.coerce.number().int().min(0).max(600_000).default(0),
  /** Longest time from a client's first byte of a request (or its new connection) to the end of the request head. */
  clientHeaderTimeoutMs: z.coerce.number().int().min(100).max(600_000).default(60_000),
  /** Longest wait for more of a request body the gateway reads into memory (nginx's `client_body_timeout`). */
  clientBodyTimeoutMs: z.coerce.number().int().min(100).max(600_000).default(60_000),
  /** Longest idle time of a client's keep-alive connection between two requests. */
  clientKeepaliveTimeoutMs: z.coerce.number().int().min(100).max(3_600_000).default(65_000),
  /** Longest time for a TLS handshake on the gateway's TLS port, from accept. */
  clientHandshakeTimeoutMs: z.coerce.number().int().min(100).max(600_000).default(10_000),
  /** Most open client connections of one gateway process (idle ones are closed, oldest first, to make room). */
  maxClientConnections: z.coerce.number().int().min(1).max(1_000_000).default(10_000),
  /** Most open client connections of one gateway process from one address (peers in --trust-proxy are not limited). */
  maxClientConnectionsPerIp: z.coerce.number().int().min(1).max(1_000_000).default(1_024),
  /** Most memory one gateway process gives unfinished request heads, all connections together (MiB). */
  clientHeadMemoryMb: z.coerce.number().int().min(1).max(65_536).default(64),
  /** A client that reads nothing of what it was sent for this long is cut. */
  clientSendTimeoutMs: z.coerce.number().int().min(100).max(3_600_000).default(30_000),
  /** How much of a response is buffered for a client that reads slower than the node sends before the node is paused (KiB). */
  clientResponseBufferKb: z.coerce.number().int().min(16).max(1_048_576).default(256),
  /** Most memory one gateway process gives answers buffered for slow clients, all together (MiB). */
  clientBufferMemoryMb: z.coerce.number().int().min(1).max(65_536).default(256),
  /** Most sockets per upstream origin. */
  upstreamConnections: z.coerce.number().int().min(1).max(10_000).default(128),
  /** Most requests waiting for a connection to one upstream origin; more are refused with UPSTREAM_QUEUE_FULL. */
  upstreamMaxWaiting: z.coerce.number().int().min(0).max(1_000_000).default(1_024),
  /** Longest wait for a connection to an upstream origin; then UPSTREAM_QUEUE_TIMEOUT. */
  upstreamWaitMs: z.coerce.number().int().min(10).max(600_000).default(2_000),
  /**
   * Most upstream sockets per process, all origins together; 0: derived from the open-file limit
   * (fd-limit.ts). A larger value is lowered to the derived one, with a warning.
   */
  upstreamMaxSockets: z.coerce.number().int().min(0).max(10_000_000).default(0),
  /** How long a node name's addresses are fresh (a record's TTL, with --dns-server, is honoured within [1 s, this]). */
  dnsValidMs: z.coerce.number().int().min(1_000).max(86_400_000).default(30_000),
  /** How long past that the last good addresses of a name keep serving while its lookups fail. */
  dnsStaleMs: z.coerce.number().int().min(0).max(86_400_000).default(300_000),
  /** Longest wait for one lookup of a node name. */
  dnsTimeoutMs: z.coerce.number().int().min(100).max(60_000).default(5_000),
  /** DNS servers for node names (`ip[:port]`, `[ipv6]:port`), asked by c-ares; empty: the system's getaddrinfo. */
  dnsServer: z
    .array(z.string().trim().min(1))
    .max(16)
    .default([])
    .superRefine((list, ctx) => {
      for (const entry of list) {
        const problem = checkDnsServer(entry);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      }
    }),
  /** Redis for cluster rate limits (`redis://host:port/db`); empty: cluster limits count locally. */
  redis: z
    .string()
    .default('')
    .refine((u) => u === '' || /^rediss?:\/\//.test(u), 'must be a redis:// or rediss:// URL'),
  /** Prefix of every Redis key this gateway writes. */
  redisPrefix: z.string().max(128).default('isogate:'),
  /** Longest wait for one Redis command before Redis counts as unreachable. */
  redisTimeoutMs: z.coerce.number().int().min(10).max(60_000).default(250),
  /** Most sandbox processes for selectors (APIs beyond share them). */
  selectorProcesses: z.coerce.number().int().min(1).max(64).default(8),
  /** Most selector programs (APIs with a selector) one gateway process runs; saves past it are refused. */
  selectorMaxPrograms: z.coerce.number().int().min(1).max(100_000).default(256),
  /**
   * Most memory the selectors of one gateway process may be given, their `memoryMb` added up (MB);
   * 0: half the machine's memory shared by the gateway processes (selector-budget.ts).
   */
  selectorMemoryMb: z.coerce.number().int().min(0).max(16_777_216).default(0),
});
export type Options = z.infer<typeof Options>;

/** Flag name → option key, and whether the flag takes a value. */
const FLAGS: Record<string, { key: keyof Options; value: boolean; negate?: boolean }> = {
  '--gateway-host': { key: 'gatewayHost', value: true },
  '--gateway-port': { key: 'gatewayPort', value: true },
  '--gateway-tls-port': { key: 'gatewayTlsPort', value: true },
  '--admin-host': { key: 'adminHost', value: true },
  '--admin-port': { key: 'adminPort', value: true },
  '--status-host': { key: 'statusHost', value: true },
  '--status-port': { key: 'statusPort', value: true },
  '--data-dir': { key: 'dataDir', value: true },
  '--store': { key: 'store', value: true },
  '--store-timeout-ms': { key: 'storeTimeoutMs', value: true },
  '--workers': { key: 'workers', value: true },
  '--no-demo': { key: 'demo', value: false, negate: true },
  '--reset-demo': { key: 'resetDemo', value: false },
  '--demo-port-base': { key: 'demoPortBase', value: true },
  '--trust-proxy': { key: 'trustProxy', value: true },
  '--log-level': { key: 'logLevel', value: true },
  '--no-access-log': { key: 'accessLog', value: false, negate: true },
  '--access-log-fields': { key: 'accessLogFields', value: true },
  '--poll-ms': { key: 'pollMs', value: true },
  '--heartbeat-ms': { key: 'heartbeatMs', value: true },
  '--drain-ms': { key: 'drainMs', value: true },
  '--drain-wait-ms': { key: 'drainWaitMs', value: true },
  '--client-header-timeout-ms': { key: 'clientHeaderTimeoutMs', value: true },
  '--client-body-timeout-ms': { key: 'clientBodyTimeoutMs', value: true },
  '--client-keepalive-timeout-ms': { key: 'clientKeepaliveTimeoutMs', value: true },
  '--client-handshake-timeout-ms': { key: 'clientHandshakeTimeoutMs', value: true },
  '--max-client-connections': { key: 'maxClientConnections', value: true },
  '--max-client-connections-per-ip': { key: 'maxClientConnectionsPerIp', value: true },
  '--client-head-memory-mb': { key: 'clientHeadMemoryMb', value: true },
  '--client-send-timeout-ms': { key: 'clientSendTimeoutMs', value: true },
  '--client-response-buffer-kb': { key: 'clientResponseBufferKb', value: true },
  '--client-buffer-memory-mb': { key: 'clientBufferMemoryMb', value: true },
  '--upstream-connections': { key: 'upstreamConnections', value: true },
  '--upstream-max-waiting': { key: 'upstreamMaxWaiting', value: true },
  '--upstream-wait-ms': { key: 'upstreamWaitMs', value: true },
  '--upstream-max-sockets': { key: 'upstreamMaxSockets', value: true },
  '--dns-valid-ms': { key: 'dnsValidMs', value: true },
  '--dns-stale-ms': { key: 'dnsStaleMs', value: true },
  '--dns-timeout-ms': { key: 'dnsTimeoutMs', value: true },
  '--dns-server': { key: 'dnsServer', value: true },
  '--selector-processes': { key: 'selectorProcesses', value: true },
  '--selector-max-programs': { key: 'selectorMaxPrograms', value: true },
  '--selector-memory-mb': { key: 'selectorMemoryMb', value: true },
  '--redis': { key: 'redis', value: true },
  '--redis-prefix': { key: 'redisPrefix', value: true },
  '--redis-timeout-ms': { key: 'redisTimeoutMs', value: true },
};

/** Options given as comma-separated lists (a repeated flag adds to the list). */
const LISTS: ReadonlySet<keyof Options> = new Set(['trustProxy', 'accessLogFields', 'dnsServer']);

/** The flag that sets an option (for error messages). */
export function flagOf(key: keyof Options): string {
  return (
    Object.entries(FLAGS).find(([, f]) => f.key === key && !f.negate)?.[0] ??
    Object.entries(FLAGS).find(([, f]) => f.key === key)![0]
  );
}

/** Environment variable for a flag: `--gateway-port` → `ISOGATE_GATEWAY_PORT`, `--no-demo` → `ISOGATE_NO_DEMO`. */
export function envOf(flag: string): string {
  return 'ISOGATE_' + flag.slice(2).toUpperCase().replace(/-/g, '_');
}

/** Stable codes of an `OptionsError`. */
export type OptionsErrorCode = 'BAD_OPTION' | 'EMPTY_OPTION_VALUE';

/** Thrown for bad flags or values; the message names the flag. */
export class OptionsError extends Error {
  constructor(
    message: string,
    /** `EMPTY_OPTION_VALUE` for a flag given an empty value (`--workers=`), `BAD_OPTION` otherwise. */
    readonly code: OptionsErrorCode = 'BAD_OPTION',
  ) {
    super(message);
  }
}

/** Parses flags (`--x v` or `--x=v`) over environment variables over defaults. */
export function parseOptions(argv: readonly string[], env: NodeJS.ProcessEnv): Options {
  const raw: Record<string, unknown> = {};
  const source: Record<string, string> = {};
  const listedByFlag = new Set<keyof Options>();
  const setValue = (flag: string, value: string, fromFlag = false) => {
    const f = FLAGS[flag]!;
    if (f.negate) raw[f.key] = !isTrue(value) ? true : false;
    else if (!f.value) raw[f.key] = isTrue(value);
    else if (LISTS.has(f.key)) {
      const list = value.split(',').filter((s) => s.trim() !== '');
      // A list flag may be repeated (each adds); given as a flag at all, it replaces the environment's.
      raw[f.key] = fromFlag && listedByFlag.has(f.key) ? [...(raw[f.key] as string[]), ...list] : list;
      if (fromFlag) listedByFlag.add(f.key);
    } else raw[f.key] = value;
    source[f.key] = flag;
  };
  for (const flag of Object.keys(FLAGS)) {
    const value = env[envOf(flag)];
    if (value !== undefined && value !== '') setValue(flag, value);
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const f = FLAGS[flag];
    if (!f) throw new OptionsError(`unknown option ${arg} (see --help)`);
    if (!f.value) {
      if (eq > 0) throw new OptionsError(`${flag} takes no value`);
      raw[f.key] = !f.negate;
      source[f.key] = flag;
      continue;
    }
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new OptionsError(`${flag} needs a value`);
    // An empty value (`--gateway-port=$PORT` with PORT unset) would read as 0 for a number, or as the
    // default for a string: neither is what the operator meant. An empty environment variable is
    // taken as unset instead (above), as shells and unit files leave them so.
    if (value === '') throw new OptionsError(`${flag}: needs a value, got an empty one`, 'EMPTY_OPTION_VALUE');
    setValue(flag, value, true);
  }
  const parsed = Options.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = String(issue.path[0]) as keyof Options;
    throw new OptionsError(`${source[key] ?? flagOf(key)}: ${issue.message}`);
  }
  return parsed.data;
}

function isTrue(value: string): boolean {
  return value === '1' || value.toLowerCase() === 'true' || value.toLowerCase() === 'yes';
}

/** Usage text for `--help`. */
export function usage(): string {
  return [
    'Usage: isogate start|gateway|admin [options]    isogate --version',
    '       isogate config export|apply|schema …   (see isogate config --help)',
    '',
    '  start     everything in one command: gateway, admin API and console, status',
    '  gateway   data plane only: gateway and status ports',
    '  admin     control plane only: admin API and console',
    '  config    export the config to a YAML or JSON file, or apply one in one transaction',
    '',
    'Options (each also as an environment variable, e.g. --gateway-port → ISOGATE_GATEWAY_PORT):',
    '  --gateway-host H / --gateway-port N   data plane (default 0.0.0.0:8080)',
    '  --gateway-tls-port N                  HTTPS and HTTP/2 on the gateway host, certificates by SNI (default off)',
    '  --admin-host H / --admin-port N       admin API and console (default 127.0.0.1:9180)',
    '  --status-host H / --status-port N     /status and /status/ready (default 0.0.0.0:7085)',
    '  --data-dir DIR                        SQLite file and admin token (default ./data)',
    '  --store URL                           postgres://user@host/db for several machines (default: SQLite in --data-dir)',
    '  --store-timeout-ms N                  PostgreSQL connect and per-operation timeout (default 5000)',
    '  --workers N                           gateway processes sharing the port (default: cores; 0 = in this process)',
    '  --no-demo                             do not seed the demo or start its echo upstreams',
    '  --demo-port-base N                    first port of the demo echo upstreams (default 19081)',
    '  --reset-demo                          put the demo APIs and variables back as first seeded',
    '  --trust-proxy LIST                    IPs/CIDRs whose X-Forwarded-For is trusted',
    '  --log-level L                         fatal|error|warn|info|debug|trace|silent (default info)',
    '  --no-access-log                       no per-request log line',
    '  --access-log-fields LIST              add to it: query,host,user-agent,referer (credentials redacted,',
    '                                        each at most 512 characters; default none)',
    '  --poll-ms N                           config version check interval (default 1000)',
    '  --heartbeat-ms N                      cluster view heartbeat interval; stale after 3 missed (default 5000)',
    '  --drain-ms N                          longest wait for in-flight requests on shutdown (default 10000)',
    '  --drain-wait-ms N                     on shutdown, /status/ready is 503 this long before ports close (default 0)',
    '  --client-header-timeout-ms N          longest wait for a request head from its first byte; then 408 (default 60000)',
    '  --client-body-timeout-ms N            longest pause in a request body read into memory; then 408 (default 60000)',
    '  --client-keepalive-timeout-ms N       idle client keep-alive connections close after this (default 65000)',
    '  --client-handshake-timeout-ms N       longest TLS handshake on the TLS port, from accept; then closed (default 10000)',
    '  --max-client-connections N            most open client connections per gateway process; idle ones close oldest first (default 10000)',
    '  --max-client-connections-per-ip N     most per client address; --trust-proxy peers exempt (default 1024)',
    '  --client-head-memory-mb N             memory for unfinished request heads per process (default 64)',
    '  --client-send-timeout-ms N            a client that reads nothing of its answer this long is cut (default 30000)',
    '  --client-response-buffer-kb N         answer buffered for a slow client before the node is paused (default 256)',
    '  --client-buffer-memory-mb N           memory for answers buffered for slow clients per process (default 256)',
    '  --upstream-connections N              most sockets per upstream origin (default 128)',
    '  --upstream-max-waiting N              most requests waiting for a socket of one origin; then 503 (default 1024)',
    '  --upstream-wait-ms N                  longest wait for a socket of an origin; then 503 (default 2000)',
    '  --upstream-max-sockets N              most upstream sockets per process, all origins (default 0: from the open-file limit)',
    '  --selector-processes N                most selector sandbox processes (default 8)',
    '  --selector-max-programs N             most selectors one gateway process runs; saves past it are refused (default 256)',
    '  --selector-memory-mb N                most memoryMb of all selectors of one gateway process (default 0: half the',
    "                                        machine's memory shared by the gateway processes, for saves only)",
    '  --dns-server LIST                     DNS servers (ip[:port], comma list or repeated) for node names, asked with c-ares',
    '                                        (default: none, the system resolver with /etc/hosts)',
    "  --dns-valid-ms N                      a node name's addresses are fresh this long; with --dns-server the TTL",
    '                                        within [1 s, N] (default 30000)',
    '  --dns-stale-ms N                      the last addresses keep serving this long past that while lookups fail (default 300000)',
    '  --dns-timeout-ms N                    longest wait for one lookup of a node name (default 5000)',
    '  --redis URL                           redis://host:port for cluster rate limits (default: none, they count locally)',
    '  --redis-prefix P                      prefix of every Redis key (default isogate:)',
    '  --redis-timeout-ms N                  longest wait for one Redis command (default 250)',
    '',
    'ISOGATE_ADMIN_TOKEN sets the admin token; otherwise one is generated into <data-dir>/admin-token.',
  ].join('\n');
}
