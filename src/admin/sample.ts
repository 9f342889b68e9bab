import { z } from 'zod';
import { BAD_TARGET_CHAR } from '../gateway/http/request-head.js';
import { isToken } from '../http/header-names.js';
import type { Api } from '../model/api.js';
import type { SelectorRequest } from '../selector/types.js';

const QueryValue = z.union([z.string().max(4096), z.array(z.string().max(4096)).max(100)]);

// A sample is a request some client could send: what no client can get past the gateway's parsers
// (a path with a space or a control character, a header name that is not a token, a value with a
// line break) would be explained as if it could, so it is refused like any other bad input.

const HeaderValueText = z
  .string()
  .max(4096)
  .refine((v) => !/[\r\n]/.test(v), 'must not hold a line break (CR or LF)');
const HeaderValue = z.union([HeaderValueText, z.array(HeaderValueText).max(100)]);
const HeaderName = z
  .string()
  .max(256)
  .refine(isToken, "must be a header name: letters, digits and !#$%&'*+-.^_`|~")
  // Lower-cased, it would set the prototype of the object the selector's headers are collected in.
  .refine((n) => n.toLowerCase() !== '__proto__', 'is not allowed');

/** A sample request for selector trials and explanations; every field is optional. */
export const SampleRequest = z.strictObject({
  method: z
    .string()
    .regex(/^[A-Za-z]{1,16}$/, 'must be an HTTP method')
    .transform((m) => m.toUpperCase())
    .optional(),
  path: z
    .string()
    .startsWith('/', 'must start with /')
    .max(4096)
    .refine(
      (p) => !BAD_TARGET_CHAR.test(p),
      'must be visible ASCII without spaces, as a client sends it (percent-encode the rest)',
    )
    .optional(),
  query: z.record(z.string().max(256), QueryValue).optional(),
  headers: z.record(HeaderName, HeaderValue).optional(),
  body: z
    .string()
    .max(256 * 1024)
    .nullable()
    .optional(),
  clientIp: z.union([z.ipv4(), z.ipv6()], { error: 'must be an IPv4 or IPv6 address' }).optional(),
  tls: z.boolean().optional(),
});
export type SampleRequest = z.infer<typeof SampleRequest>;

/**
 * The selector's `request` for a sample, with the defaults filled: GET, the API's path without its
 * trailing `*`, no query, headers or body, client 127.0.0.1, not TLS (`tls` left out).
 */
export function toSelectorRequest(sample: SampleRequest | undefined, api: Pick<Api, 'path'>): SelectorRequest {
  const headers: SelectorRequest['headers'] = {};
  // Selectors see header names lower-cased, as Node gives them to the gateway.
  for (const [name, value] of Object.entries(sample?.headers ?? {})) headers[name.toLowerCase()] = value;
  return {
    method: sample?.method ?? 'GET',
    path: sample?.path ?? api.path.replace(/\*$/, ''),
    query: sample?.query ?? {},
    headers,
    body: sample?.body ?? null,
    clientIp: sample?.clientIp ?? '127.0.0.1',
    // Only when asked: a selector reads a missing `tls` as false, as for a plain request.
    ...(sample?.tls === undefined ? {} : { tls: sample.tls }),
    // Explain replaces it with the consumer its access decision finds for the sample's credentials.
    consumer: null,
  };
}
