import { z } from 'zod';

/**
 * What an admin token may do, each role including the ones before it: `viewer` reads, `operator`
 * also ticks nodes and sets variables, `editor` changes any config, `admin` also manages tokens.
 */
export const Role = z.enum(['viewer', 'operator', 'editor', 'admin']);
export type Role = z.infer<typeof Role>;

const RANK: Record<Role, number> = { viewer: 0, operator: 1, editor: 2, admin: 3 };

/** Whether a token of role `have` may do what needs `need`. */
export function roleAllows(have: Role, need: Role): boolean {
  return RANK[have] >= RANK[need];
}

/** A token's name: what the audit log and the console show for whoever used it. */
export const TokenName = z
  .string()
  .trim()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9 ._@-]{0,63}$/,
    'must be 1–64 letters, digits, spaces or . _ @ -, starting with a letter or digit',
  );

/** Body of `POST /admin/tokens`. */
export const TokenCreate = z.strictObject({ name: TokenName, role: Role });
export type TokenCreate = z.infer<typeof TokenCreate>;

/** Body of `PATCH /admin/tokens/:id`. */
export const TokenPatch = z.strictObject({ name: TokenName, role: Role }).partial();
export type TokenPatch = z.infer<typeof TokenPatch>;

/** A named admin token as stored and listed; the secret itself is never stored, only its hash. */
export const AdminToken = z.object({
  id: z.string(),
  name: TokenName,
  role: Role,
  /** Who created it (a token name). */
  createdBy: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type AdminToken = z.infer<typeof AdminToken>;

/** Who makes a request or a write: the token's id and name, and its role. */
export interface Actor {
  /** The token id; `bootstrap` for the data dir's token (or ISOGATE_ADMIN_TOKEN), `system`/`cli` for writes made without one. */
  readonly id: string;
  readonly name: string;
  readonly role: Role;
}

/** The actor of writes made by isogate itself (the demo seed) or by code that names none. */
export const SYSTEM_ACTOR: Actor = { id: 'system', name: 'system', role: 'admin' };
