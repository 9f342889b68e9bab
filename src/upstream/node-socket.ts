import { connect as connectTcp, isIP, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import type { UpstreamTarget } from './connection-owner.js';
import { DnsTimeoutError } from './dns-errors.js';
import { ConnectTimeoutError } from './errors.js';

/**
 * The one buffer every plain-TCP connection of this process reads into (the socket's `onread`): a
 * read is parsed before the next read can happen, so no read allocates, and no byte of it is kept
 * past its callback (the parser copies an unfinished head; body chunks are copied as they leave).
 */
export const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

/** Sockets to named nodes whose name has been resolved (their 'lookup' fired). */
const resolved = new WeakSet<Socket>();

/** Notes when `socket`'s node name is resolved (see connectTimeout); a socket to an IP literal is never looked up. */
function watched(socket: Socket, target: UpstreamTarget): Socket {
  if (target.lookup !== null) socket.once('lookup', () => resolved.add(socket));
  return socket;
}

/** Opens a TLS connection to a node (ALPN `http/1.1`; SNI when the host is a name). */
export function connectNodeTls(target: UpstreamTarget): Socket {
  const { host, port, lookup } = target;
  const socket = connectTls({
    host,
    port,
    lookup: lookup ?? undefined,
    servername: isIP(host) === 0 ? host : undefined,
    ALPNProtocols: ['http/1.1'],
  });
  return watched(socket, target);
}

/** Opens a plain TCP connection to a node whose reads land in READ_BUFFER: `onRead` gets the bytes read (true: read on). */
export function connectNodeTcp(target: UpstreamTarget, onRead: (n: number) => boolean): Socket {
  const { host, port, lookup } = target;
  const socket = connectTcp({
    host,
    port,
    lookup: lookup ?? undefined,
    onread: { buffer: READ_BUFFER, callback: onRead },
  });
  return watched(socket, target);
}

/** Opens a plain TCP connection to a node that emits its reads as 'data' (an upgrade's tunnel). */
export function connectNodeStream(target: UpstreamTarget): Socket {
  const { host, port, lookup } = target;
  return watched(connectTcp({ host, port, lookup: lookup ?? undefined }), target);
}

/**
 * The failure of `socket`'s connect (opened by one of the functions above) that did not finish
 * within `ms`: while the node's name was still being resolved a DNS timeout, else a connect timeout.
 */
export function connectTimeout(target: UpstreamTarget, socket: Socket, ms: number): Error {
  return target.lookup !== null && !resolved.has(socket)
    ? new DnsTimeoutError(target.host, ms)
    : new ConnectTimeoutError(`connect timeout after ${ms} ms`);
}
