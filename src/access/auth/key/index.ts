import type { z } from 'zod';
import type { KeyAuth } from '../../../model/access.js';
import { sha256Hex } from '../../secrets.js';
import { failed, headerValue, okOutcome, queryValue, quoted, type AuthKindFactory, type AuthOutcome } from '../kind.js';

/**
 * `key`: an API key in a header (default `x-api-key`) and/or a query parameter. Keys are stored as
 * SHA-256 and found by the digest of what was sent, so a lookup's timing can tell an attacker
 * something about a digest but nothing about a key.
 */
export const keyAuth: AuthKindFactory<z.infer<typeof KeyAuth>> = {
  kind: 'key',
  create(method, realm) {
    const header = method.header;
    const query = method.query;
    const unknown = failed('key', 'unknown API key');
    return {
      kind: 'key',
      challenge: `ApiKey realm=${quoted(realm)}${header !== null ? `, header=${quoted(header)}` : ''}${query !== null ? `, query=${quoted(query)}` : ''}`,
      carriers: { headers: header === null ? [] : [header], query: query === null ? [] : [query] },
      find(req) {
        const fromHeader = header === null ? undefined : headerValue(req.headers, header);
        if (fromHeader !== undefined && fromHeader !== '') return fromHeader;
        const fromQuery = query === null ? undefined : queryValue(req.rawQuery, query);
        return fromQuery !== undefined && fromQuery !== '' ? fromQuery : null;
      },
      verify(credential, consumers): AuthOutcome {
        const consumer = consumers.byKeyHash.get(sha256Hex(credential));
        return consumer === undefined ? unknown : okOutcome('key', consumer);
      },
    };
  },
};
