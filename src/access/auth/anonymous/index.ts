import type { z } from 'zod';
import type { AnonymousAuth } from '../../../model/access.js';
import type { AuthKindFactory, AuthOutcome } from '../kind.js';

const ANONYMOUS: AuthOutcome = Object.freeze({ ok: true, consumer: null, method: 'anonymous' });

/** `anonymous`: last in the list, it lets through a request that carried no credential of the methods before it. */
export const anonymousAuth: AuthKindFactory<z.infer<typeof AnonymousAuth>> = {
  kind: 'anonymous',
  create() {
    return {
      kind: 'anonymous',
      challenge: null,
      carriers: { headers: [], query: [] },
      find: () => '',
      verify: () => ANONYMOUS,
    };
  },
};
