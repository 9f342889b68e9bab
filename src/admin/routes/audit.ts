import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { AuditQuery, type AuditPage, type PlanResult } from '../../model/audit.js';
import { awaitApplied } from '../applied.js';
import { AdminError } from '../errors.js';
import type { AdminDeps } from '../deps.js';
import { nothingToChange, type DryRunAnswer } from '../dry-run.js';
import { isDryRun } from '../retry-safety.js';
import { parseInput } from '../validate.js';

/**
 * The answer of a write made of a plan (revert, restore, config apply) once it went through: waits
 * until the gateway serves it; a dry run that found nothing to change answers as a dry run.
 */
export async function planAnswer(
  request: FastifyRequest,
  result: PlanResult,
  { runtime }: Pick<AdminDeps, 'runtime'>,
): Promise<PlanResult | DryRunAnswer> {
  if (result.version === null) return isDryRun(request) ? nothingToChange() : result;
  await awaitApplied(runtime, request.log);
  return result;
}

/** Body of `POST /admin/audit/revert` and `POST /admin/config/restore`. */
export const VersionBody = z.strictObject({ version: z.number().int().min(0) });

/**
 * `GET /admin/audit` (filters and paging), `POST /admin/audit/revert` (undo the write that made a
 * version) and `POST /admin/config/restore` (bring the config back to a version). Reverts and
 * restores are new writes: audited, one config version each, dry-runnable like any write.
 */
export function registerAuditRoutes(app: FastifyInstance, deps: AdminDeps): void {
  const { store } = deps;
  // Token entries are the admin-only list of tokens and their roles: callers below admin do not see them.
  app.get('/audit', async (request): Promise<AuditPage> => {
    const query = parseInput(AuditQuery, request.query);
    if (request.actor.role === 'admin') return store.listAudit(query);
    if (query.kind === 'token')
      throw new AdminError('FORBIDDEN', 'audit entries of admin tokens are for the admin role');
    return store.listAudit({ ...query, withoutTokens: true });
  });

  app.post('/audit/revert', async (request) => {
    const { version } = parseInput(VersionBody, request.body);
    return planAnswer(request, await store.revertVersion(version), deps);
  });

  app.post('/config/restore', async (request) => {
    const { version } = parseInput(VersionBody, request.body);
    return planAnswer(request, await store.restoreVersion(version), deps);
  });
}
