import { connect as connectTcp, isIP, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { hasBadHeadByte } from '../../http/head-bytes.js';
import { FieldLines, headerNameSet } from '../../http/header-names.js';
import type { CompiledNode } from '../../snapshot/snapshot.js';
import {
  BadResponseError,
  BodyTimeoutError,
  ConnectError,
  ConnectTimeoutError,
  HeadersTimeoutError,
  SocketClosedError,
  socketFailure,
} from '../../upstream/errors.js';
import {
  MAX_HEAD_BYTES,
  MAX_INTERIM_ANSWERS,
  ResponseParser,
  type ResponseHead,
  type ResponseSink,
} from '../../upstream/response-parser.js';
import type { RequestContext } from '../context.js';
import { pickNext } from '../stages/balance.js';
import { errorCode, forwardHeaders, RESPONSE_HOP_BY_HOP, upstreamPath } from '../stages/proxy.js';
import { Tunnel } from './tunnel.js';

const CRLFCRLF = Buffer.from('\r\n\r\n');
// A 101's own headers that say nothing past this hop; `connection` and `upgrade` are the switch itself and stay.
const SWITCH_HOP_BY_HOP = headerNameSet(['keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding']);
const CLIENT_GONE = 'CLIENT_ABORTED';
const EMPTY = Buffer.alloc(0);

/** The last 3 bytes of `before` followed by `chunk`. */
function lastBytes(before: Buffer, chunk: Buffer): Buffer {
  return chunk.length >= 3 ? chunk.subarray(chunk.length - 3) : Buffer.concat([before, chunk]).subarray(-3);
}

const INTERIM_STATUS_LINE = /^HTTP\/1\.1 1\d\d /;

/** True when `buf` starts with an interim status line other than 101. */
function isInterim(buf: Buffer): boolean {
  const line = buf.toString('latin1', 0, 13);
  return INTERIM_STATUS_LINE.test(line) && !line.startsWith('HTTP/1.1 101 ');
}

function bad(message: string): Error {
  return new BadResponseError(message);
}

/**
 * The proxy stage for an upgrade request (RFC 9110 §7.8; a WebSocket opening handshake, RFC 6455
 * §4): the node the balance stage picked gets the request on a connection of its own, never a pooled
 * keep-alive one. A `101` starts a tunnel between the two sockets; any other answer is passed on as a
 * normal response and that connection is closed. A connect failure moves to another node not tried
 * yet (the node never saw the request), within the API's retries; once the request was sent nothing is
 * retried. Outcomes feed the node's passive health check as for other requests.
 */
export function proxyUpgrade(ctx: RequestContext): Promise<boolean> {
  return new Promise((done) => new UpgradeTry(ctx, ctx.node!, done).start());
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
  /** The node's answer so far, while its head has not ended: joined once the end is found. */
  private headChunks: Buffer[] = [];
  private headBytes = 0;
  /** The last 3 bytes of `headChunks`. */
  private headTail: Buffer = EMPTY;
  private interim = 0;
  /** This try counts in the node's in-flight requests (so least_conn sees upgrades waiting for their 101). */
  private counted = false;
  private parser: ResponseParser | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly ctx: RequestContext,
    private readonly node: CompiledNode,
    private readonly done: (ok: boolean) => void,
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
    const { host, port, tls } = this.node.pool.target;
    const socket = tls
      ? connectTls({ host, port, servername: isIP(host) === 0 ? host : undefined, ALPNProtocols: ['http/1.1'] })
      : connectTcp({ host, port });
    this.socket = socket;
    socket.setNoDelay(true);
    this.arm(api.timeouts.connectMs, () =>
      socket.destroy(new ConnectTimeoutError(`connect timeout after ${api.timeouts.connectMs} ms`)),
    );
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
    headers.push('connection', 'upgrade', 'upgrade', ctx.req.upgrade!);
    let head = `${ctx.method} ${upstreamPath(ctx)} HTTP/1.1\r\n`;
    for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
    this.sent = true;
    this.socket!.write(head + '\r\n', 'latin1');
    const ms = ctx.api!.api.timeouts.headersMs;
    this.arm(ms, () => this.socket!.destroy(new HeadersTimeoutError(`no response headers within ${ms} ms`)));
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.parser !== null) {
      this.parse(chunk);
      return;
    }
    let buf = chunk;
    if (this.headBytes > 0) {
      // The end may straddle the pieces: looked for in the new bytes and the 3 before them only.
      const seam = Buffer.concat([this.headTail, chunk.subarray(0, 3)]);
      this.headChunks.push(chunk);
      this.headBytes += chunk.length;
      if (seam.indexOf(CRLFCRLF) < 0 && chunk.indexOf(CRLFCRLF) < 0) {
        if (this.headBytes > MAX_HEAD_BYTES) this.socket!.destroy(bad('response head too large'));
        else this.headTail = lastBytes(this.headTail, chunk);
        return;
      }
      buf = Buffer.concat(this.headChunks, this.headBytes);
      this.headChunks = [];
      this.headBytes = 0;
    }
    let end = buf.indexOf(CRLFCRLF);
    // Interim answers before the 101 (100 Continue to a forwarded Expect, 103 Early Hints) are dropped,
    // as for any request; a bounded number of them.
    while (end >= 0 && isInterim(buf)) {
      if (++this.interim > MAX_INTERIM_ANSWERS) {
        this.socket!.destroy(bad('too many interim responses'));
        return;
      }
      buf = buf.subarray(end + 4);
      end = buf.indexOf(CRLFCRLF);
    }
    if (end < 0) {
      if (buf.length > MAX_HEAD_BYTES) this.socket!.destroy(bad('response head too large'));
      else if (buf.length > 0) {
        this.headChunks = [buf];
        this.headBytes = buf.length;
        this.headTail = lastBytes(EMPTY, buf);
      }
      return;
    }
    if (buf.length >= 12 && buf.toString('latin1', 0, 13) === 'HTTP/1.1 101 ') this.switchProtocols(buf, end);
    else {
      // Not switching: an ordinary answer (the node refused the upgrade), framed as usual.
      this.parser = new ResponseParser(this);
      this.parser.expect(this.ctx.method === 'HEAD');
      this.parse(buf);
    }
  };

  private parse(chunk: Buffer): void {
    try {
      this.parser!.execute(chunk);
    } catch (err) {
      this.socket!.destroy(err as Error);
    }
  }

  private switchProtocols(buf: Buffer, end: number): void {
    const ctx = this.ctx;
    const socket = this.socket!;
    let headers: string[];
    try {
      if (hasBadHeadByte(buf, 0, end, true)) throw bad('control character or bare line feed in the response head');
      headers = switchHeaders(buf.toString('latin1', 0, end));
    } catch (err) {
      socket.destroy(err as Error);
      return;
    }
    this.answered(101);
    socket.off('data', this.onData);
    socket.off('end', this.onSocketEnd);
    socket.removeAllListeners('close');
    socket.removeAllListeners('error');
    socket.pause();
    const client = ctx.res.switchProtocols(headers);
    if (client === null || ctx.tunnels === null) {
      socket.destroy();
      this.finish(false, CLIENT_GONE);
      return;
    }
    ctx.status = 101;
    ctx.upstreamMs = performance.now() - ctx.startedAt;
    const api = ctx.api!.api;
    new Tunnel(ctx.tunnels, api.name, this.node, api.timeouts.upgradeIdleMs, client.socket, socket).start(
      client.head,
      buf.subarray(end + 4),
    );
    this.finish(true, null);
  }

  onHead(head: ResponseHead): void {
    if (head.status < 200) return; // interim answers are not passed on
    const ctx = this.ctx;
    this.answered(head.status);
    ctx.status = head.status;
    ctx.upstreamMs = performance.now() - ctx.startedAt;
    const out: string[] = [];
    for (let i = 0; i < head.headers.length; i += 2)
      if (!RESPONSE_HOP_BY_HOP(head.headers[i]!)) out.push(head.headers[i]!, head.headers[i + 1]!);
    ctx.res.writeHead(head.status, out);
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
    if (this.parser?.finishAtEof()) return;
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
    // By the error's class, as the proxy stage classifies (a TLS handshake failure is not a connect failure: the node is misconfigured).
    const connect = !this.sent && (err instanceof ConnectError || err instanceof ConnectTimeoutError);
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
      ctx.fail(allTried ? 'ALL_NODES_TRIED' : 'UPSTREAM_CONNECT_FAILED');
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
    this.done(ok);
  }
}

/** The headers of a `101` head (checked bytes), as passed to the client. */
function switchHeaders(text: string): string[] {
  const eol = text.indexOf('\r\n');
  const fields = new FieldLines(bad);
  fields.reset(text, eol < 0 ? text.length : eol);
  const out: string[] = [];
  while (fields.next()) if (!SWITCH_HOP_BY_HOP(fields.name)) out.push(fields.name, fields.value);
  return out;
}
