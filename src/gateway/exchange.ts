import type { Duplex, Readable } from 'node:stream';

/** The protocol a client request arrived in. */
export type ClientProtocol = 'http/1.1' | 'h2';

/**
 * One client request as the lifecycle's stages see it, whichever protocol carried it: HTTP/1.1 on the
 * plain or TLS port (`http/client-request.ts`) or an HTTP/2 stream (`h2/stream-exchange.ts`).
 */
export interface GatewayRequest {
  readonly method: string;
  /** The request target: origin-form (`/a?b`), or absolute-form as HTTP/1.1 proxies send it. */
  readonly url: string;
  /** Lower-cased names; a repeated header's values joined (`cookie` with `; `). */
  readonly headers: Record<string, string>;
  /** Flat `[name, value, …]` as sent (HTTP/2: without pseudo-headers, `host` from `:authority`). */
  readonly rawHeaders: string[];
  /** The client's address (the connection's peer). */
  readonly remoteAddress: string;
  /** The body, or null when the request has none. */
  readonly body: Readable | null;
  /** The request came over TLS (the selector's `request.tls`, `X-Forwarded-Proto: https`). */
  readonly tls: boolean;
  readonly protocol: ClientProtocol;
  /** What an HTTP/1.1 `Upgrade` request asks for (`websocket`), else null. */
  readonly upgrade: string | null;
}

/**
 * The client's connection (or its HTTP/2 stream) closed before its request body was complete: the
 * body stream fails with this. A body past its API's `maxBodyBytes` is counted where it is sent to
 * the node, for every protocol alike (RequestBodyTooLargeError in `upstream/errors.ts`).
 */
export class ClientClosedError extends Error {
  readonly code = 'CLIENT_CLOSED';
}

/** The client's byte stream after a `101 Switching Protocols`, for the tunnel to the node. */
export interface UpgradedClient {
  readonly socket: Duplex;
  /** Bytes the client sent after its request head, before the switch (often none). */
  readonly head: Buffer;
}

/** The response to one GatewayRequest, whichever protocol carries it. */
export interface GatewayResponse {
  /** The head has gone out. */
  readonly headersSent: boolean;
  /** The response was cut, or the client went away before it was complete. */
  readonly destroyed: boolean;
  /** HTTP/1.1: false makes this the connection's last response. HTTP/2 ignores it (draining sends GOAWAY). */
  keepAlive: boolean;
  /** Sets the status and headers (`[name, value, …]` or an object); sent with the first write. */
  writeHead(status: number, headers: readonly string[] | Record<string, string | number>): void;
  /** Writes a body chunk; false when the client cannot take more now (wait for `onDrain`). */
  write(chunk: Buffer): boolean;
  /** Ends the response, with its last body chunk if given. */
  end(last?: Buffer): void;
  /** Cuts the response (the only signal left once the head is out). */
  destroy(err?: Error): void;
  /** Calls `fn` once, when the client can take more. */
  onDrain(fn: () => void): void;
  /** Calls `fn` once if the client goes away before the response is complete. */
  onClose(fn: () => void): void;
  /**
   * For an upgrade request: sends the node's `101` with `headers` and hands the client's byte stream
   * over (the connection carries no more HTTP); null when the protocol cannot switch (HTTP/2).
   */
  switchProtocols(headers: readonly string[]): UpgradedClient | null;
}
