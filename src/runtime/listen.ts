import type { AddressInfo, Server } from 'node:net';
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
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND')
    return new StartupError(flagOf(key), `cannot listen on ${host}:${port} (${code})`);
  return err as Error;
}

/** Listens a fastify app; a bind failure becomes a StartupError naming the flag. */
export async function listenFastify(
  app: FastifyInstance,
  host: string,
  port: number,
  key: keyof Options,
): Promise<AddressInfo> {
  try {
    await app.listen({ host, port });
  } catch (err) {
    throw bindError(err, key, host, port);
  }
  return app.server.address() as AddressInfo;
}

/** Listens a net server (the gateway port's); a bind failure becomes a StartupError naming the flag. */
export function listenHttp(server: Server, host: string, port: number, key: keyof Options): Promise<AddressInfo> {
  return new Promise((resolvePromise, reject) => {
    server.once('error', (err) => reject(bindError(err, key, host, port)));
    server.listen({ host, port, backlog: 4096 }, () => resolvePromise(server.address() as AddressInfo));
  });
}

/** A server whose connections can be closed when idle or all at once (the gateway port's). */
export interface DrainableServer extends Server {
  closeIdleConnections(): void;
  closeAllConnections(): void;
}

/**
 * How long, after the port closed, an idle keep-alive connection is left open before it is closed.
 * A client that sends on an idle connection just as the server closes it sees a reset it cannot
 * safely retry (the request may have been sent); a load balancer whose idle upstream timeout is
 * shorter than this (nginx `keepalive_timeout 1s` in the upstream block) closes them itself first.
 */
export const IDLE_CLOSE_GRACE_MS = 2_000;

/**
 * Stops accepting, lets in-flight requests finish for up to `drainMs`, then cuts what is left. Until
 * then, requests still arriving on open keep-alive connections are served (the caller marks their
 * responses `Connection: close`), and idle connections are closed only after IDLE_CLOSE_GRACE_MS.
 */
export function closeHttp(server: DrainableServer, drainMs: number): Promise<void> {
  return new Promise((done) => {
    const timer = setTimeout(() => server.closeAllConnections(), drainMs);
    let sweep: NodeJS.Timeout | undefined;
    // Keep-alive sockets become idle as their last response ends; after the grace, close them as they do.
    const grace = setTimeout(
      () => {
        server.closeIdleConnections();
        sweep = setInterval(() => server.closeIdleConnections(), 50);
      },
      Math.min(IDLE_CLOSE_GRACE_MS, drainMs),
    );
    // Only stops accepting: closing every idle connection at once would race a client that is
    // writing a request on one (it would get a reset, not an answer).
    server.close(() => {
      clearTimeout(timer);
      clearTimeout(grace);
      clearInterval(sweep);
      done();
    });
  });
}
