/**
 * The JWS algorithms a JWT method may accept, as the admin API's `JwtAlgorithm` (src/model/access.ts)
 * lists them (`none` never); kept here so the bundle does not carry zod, and held equal by a test.
 */
export const JWT_ALGORITHMS: readonly string[] = [
  'HS256',
  'HS384',
  'HS512',
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
];
