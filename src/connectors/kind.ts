import type { z } from 'zod';

/** Where a node's requests go: an HTTP origin plus a base path the request path is appended to. */
export interface HttpTarget {
  /** `http://host:port` (no trailing slash). */
  readonly origin: string;
  /** `''` or a path without trailing slash, e.g. `/v2`. */
  readonly basePath: string;
  /** The node's address as operators and selectors see it. */
  readonly url: string;
}

/** A kind of backend. Each kind lives in its own folder under `src/connectors/`, named by its key. */
export interface ConnectorKind<S extends z.ZodObject = z.ZodObject> {
  /** Registry key, also the folder name and the `kind` value stored on nodes. */
  readonly kind: string;
  readonly title: string;
  readonly description: string;
  /** The settings a node of this kind carries beside `kind` (the console renders a form from it). */
  readonly settings: S;
  /** Resolves validated settings to the HTTP target the proxy stage forwards to. */
  target(settings: z.infer<S>): HttpTarget;
}
