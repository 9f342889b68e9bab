import type { Socket } from 'node:net';
import type { CompiledNode } from '../../snapshot/snapshot.js';
import {
  BodyTimeoutError,
  ConnectError,
  ConnectTimeoutError,
  HeadersTimeoutError,
  OutOfFilesError,
  SocketClosedError,
  socketFailure,
  TlsHandshakeError,
} from '../../upstream/errors.js';
import { connectNodeStream, connectNodeTls, connectTimeout } from '../../upstream/node-socket.js';
import { ResponseParser, type ResponseHead, type ResponseSink } from '../../upstream/response-parser.js';
import type { RequestContext } from '../context.js';
import { pickNext } from '../stages/balance.js';
import { answerHeaders, switchHeaders } from '../stages/answer-headers.js';
import { forwardHeaders, upstreamPath } from '../stages/forward.js';
import { errorCode } from '../stages/try-failure.js';
import { Tunnel } from './tunnel.js';

const CLIENT_GONE = 'CLIENT_ABORTED';

/**
 * The proxy stage for an upgrade request (RFC 9110 §7.8; a WebSocket opening handshake, RFC 6455
 * §4): the node the balance stage picked gets the request on a connection of its own, never a pooled
 * keep-alive one. A `101` starts a tunnel between the two sockets; any other answer is passed on as a
 * normal response and that connection is closed. A connect failure moves to another node not tried
 * yet (the node never saw the request), within the API's retries; once the request was sent nothing is
 * retried. Outcomes feed the node's passive health check as for other requests. The connection to the
 * node takes a place of the process's connection limit first (it holds a file as a client connection
 * does): without one, the upgrade is refused with `503 TOO_MANY_CONNECTIONS` before any node is asked.
 */
export function proxyUpgrade(ctx: RequestContext): Promise<boolean> {
  const tunnels = ctx.tunnels;
  if (tunnels !== null && !tunnels.reserve()) {
    ctx.fail('TOO_MANY_CONNECTIONS');
    return Promise.resolve(false);
  }
  return new Promise((done) =>
    new UpgradeTry(ctx, ctx.node!, (ok, switched) => {
      // A tunnel keeps the place until it closes; any other outcome closed the node's connection.
      if (!switched) tunnels?.unreserve();
      done(ok);
    }).start(),
  );
}

/** One try of an upgrade request on one node. */
class UpgradeTry implements ResponseSink {
  private socket: Socket | null = null;
  /** TCP is up (a TLS node's handshake may still be running). */
  private tcpUp = false;
  /** The connection can carry the request (TCP up, and the TLS handshake done for a TLS node). */
  private connected = false;
  private sent = false;
  private settled = false;
  /** This try counts in the node's in-flight requests (so least_conn sees upgrades waiting for their 101). */
  private counted = false;
  /** Reads the node's answer: interim answers, then a `101` or an ordinary (refusing) response. */
  private readonly parser = new ResponseParser(this);
  /** The head of the node's `101`, once read. */
  private switchHead: ResponseHead | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** The node's connection became a tunnel. */
  private switched = false;

  constructor(
    private readonly ctx: RequestContext,
    private readonly node: CompiledNode,
    private readonly done: (ok: boolean, switched: boolean) => void,
  ) {}

  start(): void {
    const ctx = this.ctx;
    const api = ctx.api!.api;
    if (ctx.res.destroyed) {
      this.finish(false, CLIENT_GONE);
      return;
    }
    this.node.health.inFlight++;
    this.counted = true;
    const target = this.node.pool.target;
    const tls = target.tls;
    // The pool's target: a name goes through the process's resolver, as the pool's own connections do.
    const socket = tls ? connectNodeTls(target) : connectNodeStream(target);
    this.socket = socket;
    socket.setNoDelay(true);
    this.arm(api.timeouts.connectMs, () => socket.destroy(connectTimeout(target, socket, api.timeouts.connectMs)));
    socket.once('connect', () => (this.tcpUp = true));
    socket.once(tls ? 'secureConnect' : 'connect', () => {
      this.connected = true;
      this.send();
    });
    socket.on('data', this.onData);
    socket.on('end', this.onSocketEnd);
    socket.on('error', (err: NodeJS.ErrnoException) => this.failed(socketFailure(err, this.tcpUp, this.connected)));
    socket.on('close', () => this.failed(new SocketClosedError('the connection to the node closed')));
    ctx.res.onClose(() => {
      socket.destroy();
      this.finish(false, CLIENT_GONE);
    });
  }

  private arm(ms: number, fire: () => void): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(fire, ms);
  }

  private send(): void {
    const ctx = this.ctx;
    const headers = forwardHeaders(ctx, this.node);
    // In front with the gateway's other own headers (a node may keep only its first N headers).
    headers.unshift('connection', 'upgrade', 'upgrade', ctx.req.upgrade!);
    let head = `${ctx.method} ${upstreamPath(ctx)} HTTP/1.1\r\n`;
    for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
    this.sent = true;
    this.parser.expect(ctx.method === 'HEAD', true);
    this.socket!.write(head + '\r\n', 'latin1');
    const ms = ctx.api!.api.timeouts.headersMs;
    this.arm(ms, () => this.socket!.destroy(new HeadersTimeoutError(`no response headers within ${ms} ms`)));
  }

  private readonly onData = (chunk: Buffer): void => {
    const parser = this.parser;
    let used: number;
    try {
      used = parser.execute(chunk);
    } catch (err) {
      this.socket!.destroy(err as Error);
      return;
    }
    if (this.switchHead !== null) this.switchProtocols(this.switchHead, chunk.subarray(used));
  };

  /** The node switched protocols: the two sockets become a tunnel, `rest` the node's first bytes in it. */
  private switchProtocols(head: ResponseHead, rest: Buffer): void {
    const ctx = this.ctx;
    const socket = this.socket!;
    this.answered(101);
    socket.off('data', this.onData);
    socket.off('end', this.onSocketEnd);
    socket.removeAllListeners('close');
    socket.removeAllListeners('error');
    socket.pause();
    const tunnels = ctx.tunnels;
    // Without a registry no tunnel could be made: the client's connection is not handed over.
    const client = tunnels === null ? null : ctx.res.switchProtocols(switchHeaders(head.headers));
    if (client === null || tunnels === null) {
      socket.destroy();
      this.finish(false, CLIENT_GONE);
      return;
    }
    ctx.status = 101;
    ctx.upstreamMs = performance.now() - ctx.startedAt;
    const api = ctx.api!.api;
    this.switched = true;
    new Tunnel(tunnels, api.name, this.node, api.timeouts.upgradeIdleMs, client.socket, socket).start(
      client.head,
      rest,
    );
    this.finish(true, null);
  }

  onHead(head: ResponseHead): void {
    // Interim answers before the 101 (100 Continue to a forwarded Expect, 103 Early Hints) are dropped,
    // as for any request; the parser bounds how many.
    if (head.status === 101) {
      this.switchHead = head; // switched once the parser returns with the bytes it used
      return;
    }
    if (head.status < 200) return;
    // Not switching: an ordinary answer (the node refused the upgrade), framed as usual.
    const ctx = this.ctx;
    this.answered(head.status);
    ctx.status = head.status;
    ctx.upstreamMs = performance.now() - ctx.startedAt;
    ctx.res.writeHead(head.status, answerHeaders(head.headers));
    const ms = ctx.api!.api.timeouts.bodyMs;
    this.arm(ms, () => this.socket!.destroy(new BodyTimeoutError(`response body paused for over ${ms} ms`)));
  }

  onBody(chunk: Buffer): void {
    this.timer?.refresh();
    if (this.ctx.res.write(chunk)) return;
    const socket = this.socket!;
    socket.pause();
    this.ctx.res.onDrain(() => socket.resume());
  }

  onEnd(): void {
    this.ctx.res.end();
    this.socket!.destroy();
    this.finish(true, null);
  }

  private readonly onSocketEnd = (): void => {
    if (this.parser.finishAtEof()) return;
    this.failed(new SocketClosedError('the node closed the connection before its response was complete'));
  };

  /** The node answered: its passive check hears of the status. */
  private answered(status: number): void {
    const passive = this.ctx.api!.api.health.passive;
    if (passive === null) return;
    if (passive.statuses.includes(status)) this.node.health.failed('status', `HTTP ${status}`, passive);
    else this.node.health.passed();
  }

  private failed(err: Error): void {
    if (this.settled) return;
    const ctx = this.ctx;
    const api = ctx.api!.api;
    const passive = api.health.passive;
    const code = errorCode(err);
    this.socket?.destroy();
    if (ctx.res.destroyed) {
      this.finish(false, CLIENT_GONE);
      return;
    }
    if (ctx.res.headersSent) {
      // A refusal's body broke halfway: only cutting the client's connection says so.
      ctx.res.destroy(err);
      this.finish(false, code);
      return;
    }
    // By the error's class, as the proxy stage classifies: nothing sent (no connection, or no TLS session on it) may go to another node.
    const connect =
      !this.sent &&
      (err instanceof ConnectError || err instanceof ConnectTimeoutError || err instanceof TlsHandshakeError);
    if (err instanceof OutOfFilesError) {
      // The gateway is out of files, not the node: no health verdict, and no other node would do better.
      ctx.fail('GATEWAY_OUT_OF_FILES');
      this.finish(false, code);
      return;
    }
    const timeout = err instanceof HeadersTimeoutError;
    if (passive !== null && (!timeout || passive.timeouts))
      this.node.health.failed(connect ? 'connect' : timeout ? 'timeout' : 'reset', code, passive);
    if (connect) {
      // Nothing was sent: another node may be tried (the upgrade itself is never sent twice).
      const next = ctx.tried.length <= api.retries ? pickNext(ctx) : null;
      if (next !== null) {
        ctx.retryReasons.push('connect');
        ctx.node = next;
        this.settle();
        new UpgradeTry(ctx, next, this.done).start();
        return;
      }
      const allTried = ctx.tried.length > 1 && ctx.candidates.every((n) => ctx.tried.includes(n.index));
      ctx.fail(
        allTried ? 'ALL_NODES_TRIED' : err instanceof TlsHandshakeError ? 'UPSTREAM_ERROR' : 'UPSTREAM_CONNECT_FAILED',
      );
    } else ctx.fail(timeout ? 'UPSTREAM_TIMEOUT' : 'UPSTREAM_ERROR');
    this.finish(false, code);
  }

  private settle(): void {
    this.settled = true;
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.counted) {
      this.counted = false;
      this.node.health.inFlight--;
    }
  }

  private finish(ok: boolean, upstreamErrorCode: string | null): void {
    if (this.settled) return;
    this.settle();
    if (upstreamErrorCode !== null) this.ctx.upstreamError = upstreamErrorCode;
    this.done(ok, this.switched);
  }
}
