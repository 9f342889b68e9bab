import type { AuthMethod } from '../../model/access.js';
import { anonymousAuth } from './anonymous/index.js';
import { basicAuth } from './basic/index.js';
import type { AuthKindFactory, Authenticator } from './kind.js';
import { jwtAuth } from './jwt/index.js';
import { keyAuth } from './key/index.js';

/** Every authentication kind by its config value (the folder names under `src/access/auth/`). */
const KINDS: { readonly [K in AuthMethod['kind']]: AuthKindFactory<Extract<AuthMethod, { kind: K }>> } = {
  key: keyAuth,
  basic: basicAuth,
  jwt: jwtAuth,
  anonymous: anonymousAuth,
};

/** The authenticator of one configured method; `realm` names the API in challenges. */
export function createAuthenticator(method: AuthMethod, realm: string): Authenticator {
  return (KINDS[method.kind] as AuthKindFactory).create(method, realm);
}
