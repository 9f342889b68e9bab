import { admin } from './api.js';
import type { Actor, Role } from './types.js';

// Who is signed in: the token's name and role from `GET /admin/whoami`, read once per sign-in. The
// pages hide or disable what the role cannot do; the admin API refuses it anyway (403).

const RANK: Record<Role, number> = { viewer: 0, operator: 1, editor: 2, admin: 3 };
let actor: Actor | null = null;
const listeners: Array<(actor: Actor | null) => void> = [];

/** The signed-in token, or null before sign-in. */
export function currentActor(): Actor | null {
  return actor;
}

/** Asks the admin API who the stored token is and tells the listeners. */
export async function refreshSession(): Promise<Actor> {
  actor = await admin.whoami();
  for (const l of listeners) l(actor);
  return actor;
}

/** Forgets who was signed in (sign-out, a refused token). */
export function clearSession(): void {
  actor = null;
  for (const l of listeners) l(null);
}

/** Calls `listener` whenever who is signed in changes. */
export function onSession(listener: (actor: Actor | null) => void): void {
  listeners.push(listener);
}

/** Whether the signed-in token may do what needs `role`. */
export function can(role: Role): boolean {
  return actor !== null && RANK[actor.role] >= RANK[role];
}

/** The tooltip of a control the role cannot use. */
export function needsRole(role: Role): string {
  return `Needs the ${role} role; you are signed in as ${actor?.name ?? 'nobody'} (${actor?.role ?? 'no role'}).`;
}

/** Disables a control (with a tooltip saying why) unless the role allows it; returns the control. */
export function gate<T extends HTMLButtonElement | HTMLInputElement>(control: T, role: Role): T {
  if (!can(role)) {
    control.disabled = true;
    control.title = needsRole(role);
    control.dataset.needsRole = role;
  }
  return control;
}
