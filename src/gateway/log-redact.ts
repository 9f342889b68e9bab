// Credentials out of what the access log shows of a request's query string and its Referer. Only
// the first `maxChars` characters of a result matter (the log cuts each field there), so the work
// stops past them: a query of ten thousand parameters costs what its first few hundred characters do.

import type { Snapshot } from '../snapshot/snapshot.js';
import { pairEnd } from '../access/query.js';
import { hexValue } from '../http/chunked.js';

/** What a redacted value reads as in the log. */
export const REDACTED = '[redacted]';

/**
 * Query parameter names whose values never reach the log, whatever the config (compared with each
 * parameter's name percent-decoded and lower-cased), besides those key authentication reads.
 */
export const SECRET_QUERY_NAMES: readonly string[] = [
  'apikey',
  'api_key',
  'key',
  'token',
  'access_token',
  'id_token',
  'refresh_token',
  'jwt',
  'password',
  'passwd',
  'pwd',
  'secret',
  'client_secret',
  'signature',
  'sig',
  'auth',
  'authorization',
  'code',
  'session',
  'sessionid',
];

/** Names whose values are redacted (lower-case, decoded), and the longest raw name that can decode to one. */
export interface SecretNames {
  readonly names: ReadonlySet<string>;
  /** Three times the longest name: `%XX` is the most a character can take. */
  readonly maxRawChars: number;
}

/** The secret names for a set of extra (configured) names besides SECRET_QUERY_NAMES. */
export function secretNames(extra: Iterable<string> = []): SecretNames {
  const names = new Set(SECRET_QUERY_NAMES);
  for (const name of extra) names.add(decodeName(name).toLowerCase());
  let longest = 0;
  for (const name of names) longest = Math.max(longest, name.length);
  return { names, maxRawChars: longest * 3 };
}

const bySnapshot = new WeakMap<Snapshot, SecretNames>();

/** The secret names of a snapshot: the fixed list plus every query parameter an API's authentication reads (made once per snapshot). */
export function snapshotSecretNames(snapshot: Snapshot): SecretNames {
  let known = bySnapshot.get(snapshot);
  if (known === undefined) {
    const configured: string[] = [];
    for (const api of snapshot.apis.values()) {
      for (const method of api.access?.auth?.methods ?? []) configured.push(...method.carriers.query);
    }
    bySnapshot.set(snapshot, (known = secretNames(configured)));
  }
  return known;
}

/**
 * A parameter name percent-decoded leniently: `+` is a space, each valid `%XX` one character of that
 * code, and a malformed `%` stays as it is (it cannot throw, unlike decodeURIComponent).
 */
export function decodeName(raw: string): string {
  if (raw.indexOf('%') < 0 && raw.indexOf('+') < 0) return raw;
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 43 /* + */) out += ' ';
    else if (c === 37 /* % */ && i + 2 < raw.length) {
      const high = hexValue(raw.charCodeAt(i + 1));
      const low = hexValue(raw.charCodeAt(i + 2));
      if (high < 0 || low < 0) out += '%';
      else {
        out += String.fromCharCode(high * 16 + low);
        i += 2;
      }
    } else out += raw[i];
  }
  return out;
}

/** Whether the name in `query[from, end)` is a secret one. */
function isSecret(query: string, from: number, end: number, secrets: SecretNames): boolean {
  const length = end - from;
  if (length === 0 || length > secrets.maxRawChars) return false;
  return secrets.names.has(decodeName(query.slice(from, end)).toLowerCase());
}

/**
 * `query` (without `?`) with the value of every parameter named in `secrets` replaced by
 * `[redacted]` (`name=[redacted]`, the name as sent; a parameter with no value or an empty one is kept
 * as it is: it hides nothing). Returns `query` itself when nothing is redacted. Past `maxChars`
 * characters it stops: the result is then a redacted prefix longer than `maxChars`, for the caller to cut.
 */
export function redactQuery(query: string, secrets: SecretNames, maxChars = Infinity): string {
  let out: string | null = null;
  let from = 0;
  while (from <= query.length) {
    if (out === null) {
      if (from > maxChars) return query.slice(0, from);
    } else if (out.length > maxChars) return out;
    const end = pairEnd(query, from);
    const eq = query.indexOf('=', from);
    const nameEnd = eq >= 0 && eq < end ? eq : end;
    if (nameEnd + 1 < end && isSecret(query, from, nameEnd, secrets)) {
      const kept = query.slice(from, nameEnd + 1) + REDACTED;
      out = out === null ? query.slice(0, from) + kept : `${out}&${kept}`;
    } else if (out !== null) out += `&${query.slice(from, end)}`;
    from = end + 1;
  }
  return out ?? query;
}

/**
 * A URL (a Referer) with its query and fragment redacted as `redactQuery` does (a fragment can carry
 * tokens too: OAuth's implicit flow puts `access_token` there), and a `user:password@` in its authority
 * replaced by `[redacted]@`. Past `maxChars` characters it may stop, like redactQuery.
 */
export function redactUrl(url: string, secrets: SecretNames, maxChars = Infinity): string {
  let out = url;
  const scheme = url.indexOf('://');
  if (scheme > 0 && scheme < 32) {
    const start = scheme + 3;
    let end = start;
    while (end < url.length) {
      const c = url.charCodeAt(end);
      if (c === 47 /* / */ || c === 63 /* ? */ || c === 35 /* # */ || c === 92 /* \ */) break;
      end++;
    }
    const at = url.lastIndexOf('@', end - 1);
    if (at >= start) out = `${url.slice(0, start)}${REDACTED}${url.slice(at)}`;
  }
  const hash = out.indexOf('#');
  const beforeHash = hash < 0 ? out : out.slice(0, hash);
  const q = beforeHash.indexOf('?');
  const result =
    q < 0 ? beforeHash : beforeHash.slice(0, q + 1) + redactQuery(beforeHash.slice(q + 1), secrets, maxChars - q - 1);
  // Past the bound the rest would be cut anyway: the fragment is left out rather than redacted.
  if (hash < 0 || result.length > maxChars) return result;
  return `${result}#${redactQuery(out.slice(hash + 1), secrets, maxChars - result.length - 1)}`;
}
