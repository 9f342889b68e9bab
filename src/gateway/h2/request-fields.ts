import { headerNameSet, isToken, isTokenByte } from '../../http/header-names.js';
import { isValidHost } from '../../http/host.js';
import { BAD_TARGET_CHAR } from '../http/request-head.js';

/** A request's header list read as RFC 9113 §8.3 says: pseudo-header fields, then the rest. */
export interface RequestFields {
  method: string;
  /** `:path`: origin-form, or `*` for OPTIONS. */
  path: string;
  /** `:authority`, or null when absent. */
  authority: string | null;
  /** Lower-case names; repeated fields joined (`cookie` with `; `, RFC 9113 §8.2.3). */
  headers: Record<string, string>;
  /** Flat `[name, value, …]` without pseudo-header fields; split `cookie` fields as one, joined. */
  rawHeaders: string[];
  /** `content-length` when sent: the DATA frames must add up to it (§8.1.1). */
  contentLength: number | null;
}

/** Connection-specific fields (RFC 9113 §8.2.2): they make a request malformed; `te` may only be `trailers`. */
export const CONNECTION_SPECIFIC_FIELDS = [
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
] as const;
const CONNECTION_SPECIFIC = headerNameSet(CONNECTION_SPECIFIC_FIELDS);
const PSEUDO = headerNameSet([':method', ':path', ':scheme', ':authority']);
const MAX_CONTENT_LENGTH_DIGITS = 15;

/**
 * Reads a request's decoded header list; returns why it is malformed (§8.1.1: a stream error of
 * PROTOCOL_ERROR) as a string instead. Names must be lower-case tokens, values without NUL, CR, LF or
 * surrounding whitespace (§8.2.1); pseudo-header fields known, once each, first (§8.3).
 */
export function readRequestFields(fields: readonly string[]): RequestFields | string {
  let method: string | null = null;
  let path: string | null = null;
  let scheme: string | null = null;
  let authority: string | null = null;
  let contentLength: number | null = null;
  let host: string | null = null;
  const headers: Record<string, string> = {};
  const rawHeaders: string[] = [];
  let regular = false;
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!;
    const value = fields[i + 1]!;
    if (!validValue(value)) return `the value of ${name} is not allowed`;
    if (name.charCodeAt(0) === 58 /* : */) {
      if (regular) return 'a pseudo-header field follows a regular one';
      if (!PSEUDO(name)) return `unknown pseudo-header field ${name}`;
      if (name === ':method') {
        if (method !== null || !isToken(value)) return 'bad or repeated :method';
        method = value;
      } else if (name === ':path') {
        if (path !== null || value === '') return 'bad or repeated :path';
        path = value;
      } else if (name === ':scheme') {
        if (scheme !== null) return 'repeated :scheme';
        scheme = value;
      } else {
        if (authority !== null) return 'repeated :authority';
        authority = value;
      }
      continue;
    }
    regular = true;
    if (!lowerToken(name)) return `the field name ${JSON.stringify(name)} is not a lower-case token`;
    if (CONNECTION_SPECIFIC(name)) return `the connection-specific field ${name}`;
    if (name === 'te' && value !== 'trailers') return 'te other than trailers';
    if (name === 'host') {
      if (host !== null) return 'repeated host';
      host = value;
    }
    if (name === 'content-length') {
      if (value.length > MAX_CONTENT_LENGTH_DIGITS || !/^\d+$/.test(value)) return 'a bad content-length';
      const n = Number(value);
      if (contentLength !== null && contentLength !== n) return 'conflicting content-length fields';
      contentLength = n;
    }
    // Split cookie fields go to the node as one (§8.2.3): added to rawHeaders once, below.
    if (name !== 'cookie') rawHeaders.push(name, value);
    if (name === '__proto__') continue;
    const seen = Object.hasOwn(headers, name) ? headers[name] : undefined;
    headers[name] = seen === undefined ? value : `${seen}${name === 'cookie' ? '; ' : ', '}${value}`;
  }
  // CONNECT (no :scheme or :path) and extended CONNECT are not offered.
  if (method === 'CONNECT') return 'CONNECT is not offered';
  if (method === null || scheme === null || path === null) return 'a required pseudo-header field is missing';
  if (path.charCodeAt(0) !== 47 /* / */ && !(path === '*' && method === 'OPTIONS')) return 'a :path not in origin form';
  // What the HTTP/1.1 port refuses in a request target, so the node's request line reads as ours did.
  if (BAD_TARGET_CHAR.test(path)) return 'a :path with a space, control or non-ASCII character';
  const authorityError = checkAuthority(scheme, authority, host);
  if (authorityError !== null) return authorityError;
  const cookie = headers['cookie'];
  if (cookie !== undefined) rawHeaders.push('cookie', cookie);
  if (authority !== null && headers['host'] === undefined) {
    headers['host'] = authority;
    rawHeaders.push('host', authority);
  }
  return { method, path, authority, headers, rawHeaders, contentLength };
}

/**
 * §8.3.1: an http(s) request names its host by :authority or host; :authority has no userinfo; a
 * host field that names another host than :authority makes the request malformed (nodes and
 * routing must not read two different hosts).
 */
function checkAuthority(scheme: string, authority: string | null, host: string | null): string | null {
  if (authority === null) {
    if (host === null && (scheme === 'https' || scheme === 'http')) return 'neither :authority nor host';
    if (host !== null && !isValidHost(host)) return 'a host that is not a host name';
    return null;
  }
  if (authority === '' || authority.includes('@')) return 'an empty :authority, or one with userinfo';
  if (!isValidHost(authority) || (host !== null && !isValidHost(host))) return 'a host that is not a host name';
  if (host !== null && host.toLowerCase() !== authority.toLowerCase()) return 'host differs from :authority';
  return null;
}

function lowerToken(text: string): boolean {
  if (text.length === 0) return false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (!isTokenByte(c) || (c >= 65 && c <= 90)) return false;
  }
  return true;
}

/** No NUL, CR or LF anywhere, and no space or tab at either end (RFC 9113 §8.2.1). */
function validValue(value: string): boolean {
  const n = value.length;
  if (n === 0) return true;
  const first = value.charCodeAt(0);
  const last = value.charCodeAt(n - 1);
  if (first === 32 || first === 9 || last === 32 || last === 9) return false;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c === 0 || c === 10 || c === 13) return false;
  }
  return true;
}

/** True when a decoded `[name, value, …]` list has a pseudo-header field. */
export function hasPseudoField(fields: readonly string[]): boolean {
  for (let i = 0; i < fields.length; i += 2) if (fields[i]!.charCodeAt(0) === 58 /* : */) return true;
  return false;
}
