/** Bytes of a reg-name (RFC 3986 §3.2.2): unreserved, pct-encoded and sub-delims. */
const REG_NAME = new Uint8Array(128);
for (const c of "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~%!$&'()*+,;=")
  REG_NAME[c.charCodeAt(0)] = 1;
/** Bytes inside an IP-literal's brackets (IPv6, IPvFuture). */
const IP_LITERAL = new Uint8Array(128);
for (const c of '0123456789abcdefABCDEF:.vV') IP_LITERAL[c.charCodeAt(0)] = 1;

/**
 * Whether a Host field (or `:authority`) is `uri-host [":" port]` (RFC 9110 §7.2, RFC 3986 §3.2.2):
 * a reg-name, an IPv4 address or a bracketed IP literal, then digits. Anything else (`/`, `?`, `#`,
 * `@`, spaces) would let a request route by, or be redirected to, a host that is not one. Empty is
 * valid (a target without authority).
 */
export function isValidHost(value: string): boolean {
  const n = value.length;
  let i = 0;
  if (n > 0 && value.charCodeAt(0) === 91 /* [ */) {
    i = 1;
    while (i < n && value.charCodeAt(i) !== 93 /* ] */) {
      const c = value.charCodeAt(i);
      if (c >= 128 || IP_LITERAL[c] !== 1) return false;
      i++;
    }
    if (i === n || i === 1) return false;
    i++;
  } else {
    while (i < n) {
      const c = value.charCodeAt(i);
      if (c === 58 /* : */) break;
      if (c >= 128 || REG_NAME[c] !== 1) return false;
      i++;
    }
  }
  if (i === n) return true;
  if (value.charCodeAt(i) !== 58 /* : */ || n - i - 1 > 5) return false;
  for (let j = i + 1; j < n; j++) {
    const c = value.charCodeAt(j);
    if (c < 48 || c > 57) return false;
  }
  return true;
}
