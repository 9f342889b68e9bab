import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
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
} from '../../config-files/format.js';
import { ConfigParseBusyError, parseConfigTextOffThread } from '../../config-files/parse-off-thread.js';
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

/** A YAML body's text, not parsed yet (a JSON body may be a string itself). */
class YamlText {
  constructor(readonly text: string) {}
}

/** A YAML body parsed, off the event loop when large; its errors as the admin API's. */
async function parseYaml(text: string, reply: FastifyReply): Promise<unknown> {
  try {
    return await parseConfigTextOffThread(text);
  } catch (err) {
    if (err instanceof ConfigSyntaxError) throw syntaxError(err);
    if (!(err instanceof ConfigParseBusyError)) throw err;
    reply.header('retry-after', '2');
    throw new AdminError('CONFIG_PARSE_BUSY', `${err.message}; try again after Retry-After seconds`);
  }
}

/** A YAML body that is no config file, as a 400 naming where. */
function syntaxError(err: ConfigSyntaxError): AdminError {
  const detail = {
    path: '',
    message: err.message,
    ...(err.line === undefined ? {} : { line: err.line }),
    ...(err.column === undefined ? {} : { column: err.column }),
  };
  const what = err instanceof ConfigCutShortError ? 'the body was cut short' : 'the body is not valid YAML';
  return new AdminError('VALIDATION_FAILED', `${what}: ${err.message}`, [detail]);
}

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
    // The text only: it is parsed in the route, off the event loop when large (parseConfigTextOffThread).
    scope.addContentTypeParser(YAML_TYPES, { parseAs: 'buffer' }, (_request, body, done) => {
      try {
        done(null, new YamlText(typeof body === 'string' ? body : decodeConfigBytes(body)));
      } catch (err) {
        done(err instanceof ConfigSyntaxError ? syntaxError(err) : (err as Error), undefined);
      }
    });
    // As large as a config file the CLI reads (an export of a big installation is megabytes); only an
    // authenticated caller's body is read at all (authentication runs before the body is).
    scope.post('/config/apply', { bodyLimit: CONFIG_FILE_MAX_BYTES }, async (request, reply) => {
      const body = request.body instanceof YamlText ? await parseYaml(request.body.text, reply) : request.body;
      const file = parseInput(ConfigFile, body) as ConfigFile;
      return planAnswer(request, await applyConfigFile(store, file), { runtime });
    });
  });
}
