import { ConnectError } from './errors.js';

// Failures to find a node's addresses. Each is a ConnectError: the node never saw the request, so the
// proxy retries another node and answers `502 UPSTREAM_CONNECT_FAILED` as for a refused connect, and
// the access log's `upstreamError` (and the health reason) names the DNS failure by its code.

/** Stable codes of the DNS failures. */
export type DnsErrorCode = 'DNS_NOT_FOUND' | 'DNS_TIMEOUT' | 'DNS_FAILED' | 'DNS_QUEUE_FULL';

/** A node's name could not be turned into addresses, and no earlier answer could stand in. */
export abstract class DnsError extends ConnectError {
  constructor(
    code: DnsErrorCode,
    /** The name that was looked up. */
    readonly hostname: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(code, message, options);
  }
}

/** The DNS answered that the name does not exist, or has no address (NXDOMAIN, no A/AAAA record). */
export class DnsNotFoundError extends DnsError {
  constructor(hostname: string, detail: string, options?: ErrorOptions) {
    super('DNS_NOT_FOUND', hostname, `no address for ${hostname} (${detail})`, options);
  }
}

/** No DNS answer within the lookup bound (`--dns-timeout-ms`, or the API's connect timeout if shorter). */
export class DnsTimeoutError extends DnsError {
  constructor(hostname: string, ms: number, options?: ErrorOptions) {
    super('DNS_TIMEOUT', hostname, `no DNS answer for ${hostname} within ${ms} ms`, options);
  }
}

/** The DNS failed otherwise (SERVFAIL, refused, a temporary getaddrinfo failure, …). */
export class DnsFailedError extends DnsError {
  constructor(hostname: string, detail: string, options?: ErrorOptions) {
    super('DNS_FAILED', hostname, `DNS lookup of ${hostname} failed (${detail})`, options);
  }
}

/** As many names as the resolver lets wait already wait for a lookup slot. */
export class DnsQueueFullError extends DnsError {
  constructor(hostname: string, queued: number) {
    super('DNS_QUEUE_FULL', hostname, `${queued} names already wait for a DNS lookup; ${hostname} is not looked up`);
  }
}

/** A lookup failure as one of the DNS errors, by its system code (`ENOTFOUND`, `ETIMEOUT`, `ESERVFAIL`, …). */
export function dnsFailure(hostname: string, err: unknown, timeoutMs: number): DnsError {
  if (err instanceof DnsError) return err;
  const code = String((err as { code?: unknown } | null)?.code ?? 'UNKNOWN');
  if (code === 'ENOTFOUND' || code === 'ENODATA' || code === 'NXDOMAIN' || code === 'EAI_NONAME')
    return new DnsNotFoundError(hostname, code, { cause: err });
  if (code === 'ETIMEOUT' || code === 'ETIMEDOUT') return new DnsTimeoutError(hostname, timeoutMs, { cause: err });
  return new DnsFailedError(hostname, code, { cause: err });
}
