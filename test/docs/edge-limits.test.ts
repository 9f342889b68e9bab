import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { envOf, Options, parseOptions, usage } from '../../src/config/options.js';
import { GATEWAY_ERRORS } from '../../src/gateway/errors.js';

// docs/edge-limits.md against the code: every edge flag with its default, every edge error code with its status.
const doc = readFileSync(new URL('../../docs/edge-limits.md', import.meta.url), 'utf8');
const defaults = Options.parse({});

const FLAGS = {
  '--max-client-connections': defaults.maxClientConnections,
  '--max-client-connections-per-ip': defaults.maxClientConnectionsPerIp,
  '--client-head-memory-mb': defaults.clientHeadMemoryMb,
  '--client-handshake-timeout-ms': defaults.clientHandshakeTimeoutMs,
  '--client-header-timeout-ms': defaults.clientHeaderTimeoutMs,
  '--client-body-timeout-ms': defaults.clientBodyTimeoutMs,
  '--client-keepalive-timeout-ms': defaults.clientKeepaliveTimeoutMs,
  '--client-send-timeout-ms': defaults.clientSendTimeoutMs,
  '--client-response-buffer-kb': defaults.clientResponseBufferKb,
  '--client-buffer-memory-mb': defaults.clientBufferMemoryMb,
  '--upstream-connections': defaults.upstreamConnections,
  '--upstream-max-waiting': defaults.upstreamMaxWaiting,
  '--upstream-wait-ms': defaults.upstreamWaitMs,
  '--upstream-max-sockets': defaults.upstreamMaxSockets,
};

describe('docs/edge-limits.md', () => {
  it.each(Object.entries(FLAGS))('lists %s with its default, and --help does too', (flag, value) => {
    expect(doc).toMatch(new RegExp(`\\| \`${flag}\`[^|]*\\| \`${value}\``));
    expect(usage()).toContain(flag);
    // The flag and its environment variable set the same option.
    const key = Object.keys(defaults).find(
      (k) =>
        parseOptions([flag, '777'], {})[k as keyof Options] === 777 && (defaults as Record<string, unknown>)[k] !== 777,
    );
    expect(key, flag).toBeDefined();
    expect(parseOptions([], { [envOf(flag)]: '777' })[key as keyof Options]).toBe(777);
  });

  it.each([
    'TOO_MANY_CONNECTIONS',
    'CLIENT_CONNECTION_LIMIT',
    'HEAD_MEMORY_FULL',
    'UPSTREAM_QUEUE_FULL',
    'UPSTREAM_QUEUE_TIMEOUT',
    'UPSTREAM_SOCKETS_EXHAUSTED',
    'BODY_TOO_LARGE',
    'BODY_TIMEOUT',
  ] as const)('names %s with its status', (code) => {
    expect(doc).toContain(`${GATEWAY_ERRORS[code].status} ${code}`);
  });
});
