import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { applyConfigFile } from '../../config-files/apply.js';
import {
  CONFIG_FILE_MAX_BYTES,
  ConfigFile,
  ConfigCutShortError,
  ConfigSyntaxError,
  decodeConfigBytes,
  configFileSchema,
  exportConfig,
  formatConfig,
  parseConfigText,
} from '../../config-files/format.js';
import type { Role } from '../../model/token.js';
import type { AdminDeps } from '../deps.js';
import { AdminError } from '../errors.js';
import { parseInput } from '../validate.js';
import { planAnswer } from './audit.js';

/** Query of `GET /admin/config/export`. */
export const ExportQuery = z.strictObject({
  format: z.enum(['json', 'yaml']).default('json'),
  /** Secrets (certificates' keys, credentials) are left out unless asked for, by an admin. */
  secrets: z.enum(['true', 'false']).default('false'),
});

/** Media types `POST /admin/config/apply` takes a YAML file as (JSON goes as application/json). */
const YAML_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml'];

function exportRole(request: FastifyRequest): Role {
  return (request.query as { secrets?: string } | undefined)?.secrets === 'true' ? 'admin' : 'viewer';
}

/**
 * `GET /admin/config/version`; config as files: `GET /admin/config/export` (JSON or YAML),
 * `GET /admin/config/schema` (the file's JSON Schema) and `POST /admin/config/apply` (a JSON or YAML
 * file, applied in one transaction; `?dryRun=true` answers what it would change).
 */
export function registerConfigRoutes(app: FastifyInstance, { store, runtime }: AdminDeps): void {
  app.get('/config/version', async () => ({ version: await store.version() }));

  app.get('/config/schema', async () => configFileSchema());

  app.get('/config/export', { config: { role: exportRole } }, async (request, reply) => {
    const query = parseInput(ExportQuery, request.query);
    const file = exportConfig(await store.loadConfig(), { secrets: query.secrets === 'true' });
    if (query.format === 'json') return file;
    return reply.type('application/yaml; charset=utf-8').send(formatConfig(file, 'yaml'));
  });

  // Its own scope, so YAML bodies are taken by this route only.
  void app.register(async (scope) => {
    scope.addContentTypeParser(YAML_TYPES, { parseAs: 'buffer' }, (_request, body, done) => {
      try {
        done(null, parseConfigText(typeof body === 'string' ? body : decodeConfigBytes(body)));
      } catch (err) {
        if (!(err instanceof ConfigSyntaxError)) {
          done(err as Error, undefined);
          return;
        }
        const detail = {
          path: '',
          message: err.message,
          ...(err.line === undefined ? {} : { line: err.line }),
          ...(err.column === undefined ? {} : { column: err.column }),
        };
        const what = err instanceof ConfigCutShortError ? 'the body was cut short' : 'the body is not valid YAML';
        done(new AdminError('VALIDATION_FAILED', `${what}: ${err.message}`, [detail]), undefined);
      }
    });
    // As large as a config file the CLI reads (an export of a big installation is megabytes); only an
    // authenticated caller's body is read at all (authentication runs before the body is).
    scope.post('/config/apply', { bodyLimit: CONFIG_FILE_MAX_BYTES }, async (request) => {
      const file = parseInput(ConfigFile, request.body) as ConfigFile;
      return planAnswer(request, await applyConfigFile(store, file), { runtime });
    });
  });
}
