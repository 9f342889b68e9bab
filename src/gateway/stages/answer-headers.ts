import { dropConnectionOptions, headerNameSet, sameName } from '../../http/header-names.js';
import { ERROR_HEADER } from '../errors.js';

// What of a node's answer head reaches the client (shared by the proxy stage, HTTP/1.1 and HTTP/2
// alike, and upgrades). Framing (Content-Length on a 204, chunked) is the client response's to set.

// The connection's own headers (RFC 9110 §7.6.1), and the gateway's error header: a node's answer
// never carries the code only gateway-made errors have (docs/errors.md).
const NOT_PASSED = headerNameSet([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  ERROR_HEADER,
]);
// A 101's own headers that say nothing past this hop; `connection` and `upgrade` are the switch itself and stay.
// No 1xx may carry a Content-Length (RFC 9110 §8.6), as the client response drops it from a 1xx or 204.
const NOT_PASSED_IN_SWITCH = headerNameSet([
  'content-length',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  ERROR_HEADER,
]);

/**
 * A node's final (non-101) answer headers as the client gets them: hop-by-hop ones, those the
 * node's Connection names, and `x-isogate-error` dropped.
 */
export function answerHeaders(headers: readonly string[]): string[] {
  return passed(headers, NOT_PASSED);
}

/**
 * A node's `101 Switching Protocols` headers as the client gets them: `Connection` and `Upgrade`
 * kept (they are the switch), other hop-by-hop ones, the rest of what Connection names,
 * `Content-Length` and `x-isogate-error` dropped.
 */
export function switchHeaders(headers: readonly string[]): string[] {
  return passed(headers, NOT_PASSED_IN_SWITCH, 'upgrade');
}

function passed(headers: readonly string[], notPassed: (name: string) => boolean, keep?: string): string[] {
  const out: string[] = [];
  let connection: string | undefined;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    const value = headers[i + 1]!;
    if (sameName(name, 'connection')) connection = connection === undefined ? value : `${connection}, ${value}`;
    if (!notPassed(name)) out.push(name, value);
  }
  if (connection !== undefined) dropConnectionOptions(out, connection, keep);
  return out;
}
