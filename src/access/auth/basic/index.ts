import type { z } from 'zod';
import type { BasicAuth } from '../../../model/access.js';
import { unknownUserHash, verifyPassword } from '../../secrets.js';
import { failed, headerValue, okOutcome, quoted, type AuthKindFactory, type AuthOutcome } from '../kind.js';
import { VerifiedCache } from './verified-cache.js';

/** Password checks (scrypt) in flight at most per process; more fail with AUTH_BUSY (503) rather than queue without bound. */
export const MAX_PENDING_VERIFICATIONS = 64;

/** Standard base64 with its padding, nothing else. */
const STRICT_BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

let pending = 0;
const verified = new VerifiedCache();

/**
 * `basic`: HTTP Basic (RFC 7617) against the consumers' usernames and scrypt hashes. A password
 * that verified is remembered for a while (keyed by a digest of stored hash and password, so a
 * changed password or a new salt misses), so a good client pays scrypt once, not per request.
 */
export const basicAuth: AuthKindFactory<z.infer<typeof BasicAuth>> = {
  kind: 'basic',
  create(_method, realm) {
    const malformed = failed('basic', 'malformed Basic credentials');
    const wrong = failed('basic', 'unknown username or wrong password');
    const busy: AuthOutcome = Object.freeze({
      ok: false,
      code: 'AUTH_BUSY',
      method: 'basic',
      reason: 'too many password checks in flight',
    });
    return {
      kind: 'basic',
      challenge: `Basic realm=${quoted(realm)}, charset="UTF-8"`,
      carriers: { headers: ['authorization'], query: [] },
      find(req) {
        const value = headerValue(req.headers, 'authorization');
        return value !== undefined && /^basic /i.test(value) ? value : null;
      },
      verify(credential, consumers) {
        // One token68 of strict base64 (RFC 7617): Node's decoder would skip foreign characters and
        // stop at the first '=', so "<good>, Basic <other>" (a repeated header, joined) would pass.
        const encoded = credential.slice(6).trim();
        if (encoded.length % 4 !== 0 || !STRICT_BASE64.test(encoded)) return malformed;
        const decoded = Buffer.from(encoded, 'base64').toString('utf8');
        const colon = decoded.indexOf(':');
        if (colon <= 0) return malformed;
        const entry = consumers.byUsername.get(decoded.slice(0, colon));
        const password = decoded.slice(colon + 1);
        const key = entry === undefined ? null : VerifiedCache.keyOf(entry.hash, password);
        if (key !== null && verified.has(key)) return okOutcome('basic', entry!.consumer);
        if (pending >= MAX_PENDING_VERIFICATIONS) return busy;
        pending++;
        // An unknown username pays the same scrypt as a wrong password, so timing does not tell
        // which usernames exist.
        return verifyPassword(entry?.hash ?? unknownUserHash(), password).then(
          (ok) => {
            pending--;
            if (!ok || key === null) return wrong;
            verified.add(key);
            return okOutcome('basic', entry!.consumer);
          },
          () => {
            pending--;
            return wrong;
          },
        );
      },
    };
  },
};
