import { z } from 'zod';
import type { Api } from '../model/api.js';
import type { SelectorRequest } from '../selector/types.js';

const QueryValue = z.union([z.string().max(4096), z.array(z.string().max(4096)).max(100)]);

/** A sample request for selector trials and explanations; every field is optional. */
export const SampleRequest = z.strictObject({
  method: z
    .string()
    .regex(/^[A-Za-z]{1,16}$/, 'must be an HTTP method')
    .transform((m) => m.toUpperCase())
    .optional(),
  path: z.string().startsWith('/', 'must start with /').max(4096).optional(),
  query: z.record(z.string().max(256), QueryValue).optional(),
  headers: z.record(z.string().max(256), QueryValue).optional(),
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
