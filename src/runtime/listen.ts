import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { flagOf, type Options } from '../config/options.js';

/** A startup failure tied to one option; the CLI prints it as one line naming the flag. */
export class StartupError extends Error {
  constructor(
    readonly flag: string,
    message: string,
  ) {
    super(`${flag}: ${message}`);
  }
}

function bindError(err: unknown, key: keyof Options, host: string, port: number): Error {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') return new StartupError(flagOf(key), `port ${port} is already in use`);
  if (code === 'EACCES') return new StartupError(flagOf(key), `no permission to listen on ${host}:${port}`);
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') return new StartupError(flagOf(key), `cannot listen on ${host}:${port} (${code})`);
  return err as Error;
}

/** Listens a fastify app; a bind failure becomes a StartupError naming the flag. */
export async function listenFastify(app: FastifyInstance, host: string, port: number, key: keyof Options): Promise<AddressInfo> {
  try {
    await app.listen({ host, port });
  } catch (err) {
    throw bindError(err, key, host, port);
  }
  return app.server.address() as AddressInfo;
}

/** Listens a node:http server; a bind failure becomes a StartupError naming the flag. */
export function listenHttp(server: Server, host: string, port: number, key: keyof Options): Promise<AddressInfo> {
  return new Promise((resolvePromise, reject) => {
    server.once('error', (err) => reject(bindError(err, key, host, port)));
    server.listen({ host, port, backlog: 4096 }, () => resolvePromise(server.address() as AddressInfo));
  });
}

/** Stops accepting, lets in-flight requests finish for up to `drainMs`, then cuts what is left. */
export function closeHttp(server: Server, drainMs: number): Promise<void> {
  return new Promise((done) => {
    const timer = setTimeout(() => server.closeAllConnections(), drainMs);
    // Keep-alive sockets become idle as their last response ends; close them as they do.
    const sweep = setInterval(() => server.closeIdleConnections(), 50);
    server.close(() => {
      clearTimeout(timer);
      clearInterval(sweep);
      done();
    });
    server.closeIdleConnections();
  });
}
