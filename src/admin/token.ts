import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Shortest admin token accepted. */
export const ADMIN_TOKEN_MIN_LENGTH = 16;

/** Where the admin token came from. */
export interface ResolvedAdminToken {
  token: string;
  /** True when it was generated just now (the caller prints it once). */
  generated: boolean;
  /** The token file, or null when the token came from the environment. */
  file: string | null;
}

/**
 * The admin token: `ISOGATE_ADMIN_TOKEN` when set, else the one in `<dataDir>/admin-token`, else a new
 * random one written there with mode 0600. Throws a message fit for the operator when a token is too short.
 */
export function resolveAdminToken(dataDir: string, env: NodeJS.ProcessEnv): ResolvedAdminToken {
  const fromEnv = env.ISOGATE_ADMIN_TOKEN;
  if (fromEnv !== undefined) {
    if (fromEnv.length < ADMIN_TOKEN_MIN_LENGTH) {
      throw new Error(
        `ISOGATE_ADMIN_TOKEN must be at least ${ADMIN_TOKEN_MIN_LENGTH} characters (got ${fromEnv.length})`,
      );
    }
    return { token: fromEnv, generated: false, file: null };
  }

  const file = join(dataDir, 'admin-token');
  const existing = readToken(file);
  if (existing !== null) return { token: existing, generated: false, file };

  mkdirSync(dataDir, { recursive: true });
  const token = randomBytes(32).toString('base64url');
  // Written aside, then linked into place: the file appears complete or not at all, and link() fails
  // rather than overwrite a token another process put there since we looked.
  const pending = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  writeFileSync(pending, token + '\n', { mode: 0o600, flag: 'wx' });
  try {
    linkSync(pending, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const raced = readToken(file);
    if (raced === null) throw err;
    return { token: raced, generated: false, file };
  } finally {
    rmSync(pending, { force: true });
  }
  return { token, generated: true, file };
}

function readToken(file: string): string | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const token = text.trim();
  if (token.length < ADMIN_TOKEN_MIN_LENGTH) {
    throw new Error(
      `${file} must hold a token of at least ${ADMIN_TOKEN_MIN_LENGTH} characters; delete it to generate a new one`,
    );
  }
  return token;
}
