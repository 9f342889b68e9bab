import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { AuditQuery, type AuditPage, type PlanResult } from '../../model/audit.js';
import { awaitApplied } from '../applied.js';
import type { AdminDeps } from '../deps.js';
import { parseInput } from '../validate.js';

/** Body of `POST /admin/audit/revert` and `POST /admin/config/restore`. */
export const VersionBody = z.strictObject({ version: z.number().int().min(0) });

/**
 * `GET /admin/audit` (filters and paging), `POST /admin/audit/revert` (undo the write that made a
 * version) and `POST /admin/config/restore` (bring the config back to a version). Reverts and
 * restores are new writes: audited, one config version each, dry-runnable like any write.
 */
export function registerAuditRoutes(app: FastifyInstance, { store, runtime }: AdminDeps): void {
  app.get('/audit', async (request): Promise<AuditPage> => store.listAudit(parseInput(AuditQuery, request.query)));

  app.post('/audit/revert', async (request): Promise<PlanResult> => {
    const { version } = parseInput(VersionBody, request.body);
    const result = await store.revertVersion(version);
    if (result.version !== null) await awaitApplied(runtime, request.log);
    return result;
  });

  app.post('/config/restore', async (request): Promise<PlanResult> => {
    const { version } = parseInput(VersionBody, request.body);
    const result = await store.restoreVersion(version);
    if (result.version !== null) await awaitApplied(runtime, request.log);
    return result;
  });
}
