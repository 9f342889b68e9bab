import { existsSync } from 'node:fs';
import { join, sep } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { packageRoot } from '../paths.js';

/** Where `vite build --config web/vite.config.ts` writes the console. */
export function defaultConsoleDir(): string {
  return join(packageRoot(), 'web', 'dist');
}

// The console talks only to its own origin; CodeMirror injects its theme as <style>, hence the inline styles.
const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; " +
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  // A page that opened the console in a window of its own cannot steer that window later.
  'cross-origin-opener-policy': 'same-origin',
};

const NOT_BUILT_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>isogate console not built</title></head>
<body><h1>The isogate web console is not built</h1>
<p>Run <code>npm run build</code> in the project folder and reload this page.
The admin API itself is running under <code>/admin</code>.</p></body></html>
`;

/** Whether a path belongs to the admin API, whose own scope answers its 404s. */
function isAdminPath(url: string): boolean {
  const path = url.split('?')[0]!;
  return path === '/admin' || path.startsWith('/admin/');
}

/** Whether a request should get the console's index.html: a page the client-side router knows. */
function wantsConsolePage(request: FastifyRequest): boolean {
  if (request.method !== 'GET' && request.method !== 'HEAD') return false;
  if (isAdminPath(request.url)) return false;
  // A missing hashed bundle must stay a 404: answering HTML for it hides a stale page behind a MIME error.
  return !request.url.split('?')[0]!.startsWith('/assets/');
}

/**
 * Serves the built web console at `/` on the admin port, outside the `/admin` scope and without auth
 * (the console holds no secrets; its API calls carry the token). Unknown non-`/admin` GETs get
 * `index.html` so that client-side routes survive a reload. Without a build, every such page is a
 * short note to run `npm run build`.
 */
export async function registerConsole(app: FastifyInstance, dir: string = defaultConsoleDir()): Promise<void> {
  const built = existsSync(join(dir, 'index.html'));
  await app.register(
    async (scope) => {
      scope.addHook('onSend', async (request, reply, payload) => {
        if (!isAdminPath(request.url)) reply.headers(SECURITY_HEADERS);
        return payload;
      });
      if (built) {
        await scope.register(fastifyStatic, {
          root: dir,
          prefix: '/',
          // Routes for the files present at start; anything else falls to the handler below.
          wildcard: false,
          cacheControl: false,
          setHeaders(res, path) {
            // Vite names bundles by content hash, so they never change; index.html must be re-read.
            const immutable = path.startsWith(join(dir, 'assets') + sep);
            res.setHeader('cache-control', immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
          },
        });
      }
      scope.setNotFoundHandler((request: FastifyRequest, reply: FastifyReply) => {
        if (!wantsConsolePage(request)) {
          return reply.code(404).type('text/plain; charset=utf-8').send('Not found\n');
        }
        if (!built)
          return reply
            .code(200)
            .type('text/html; charset=utf-8')
            .header('cache-control', 'no-cache')
            .send(NOT_BUILT_PAGE);
        return reply.header('cache-control', 'no-cache').sendFile('index.html');
      });
    },
    // warn: per-request info lines for every asset would drown the log.
    { logLevel: 'warn' },
  );
}
