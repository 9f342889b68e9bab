import { z } from 'zod';
import type { ConnectorKind, HttpTarget } from '../kind.js';

const settings = z.strictObject({
  url: z
    .string()
    .max(2048)
    .refine((value) => {
      try {
        const u = new URL(value);
        return (
          (u.protocol === 'http:' || u.protocol === 'https:') && !u.search && !u.hash && !u.username && !u.password
        );
      } catch {
        return false;
      }
    }, 'must be an absolute http(s) URL without query, fragment or credentials, e.g. http://10.0.0.1:8080/base')
    .describe('Base URL of the backend; the request path is appended to it'),
});

/** `simple-url`: a backend reachable at a static HTTP(S) base URL. */
export const simpleUrl: ConnectorKind<typeof settings> = {
  kind: 'simple-url',
  title: 'Simple URL',
  description: 'A backend reachable at a static http(s) base URL; the request path and query are appended to it.',
  settings,
  target({ url }): HttpTarget {
    const u = new URL(url);
    const basePath = u.pathname.replace(/\/+$/, '');
    return { origin: u.origin, basePath, url: u.origin + basePath };
  },
};
