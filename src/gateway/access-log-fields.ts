// The access log's opt-in fields (`--access-log-fields`): parts of the request a line leaves out by
// default because credentials travel in them, each redacted, bounded and escaped when asked for.

import { jsonString } from './json-string.js';
import type { RequestContext } from './context.js';
import { redactQuery, redactUrl, snapshotSecretNames } from './log-redact.js';

/**
 * The fields `--access-log-fields` may name. Headers holding credentials (Authorization, Cookie, an
 * API key header) are not among them, and never will be.
 */
export const ACCESS_LOG_FIELDS = ['query', 'host', 'user-agent', 'referer'] as const;
export type AccessLogField = (typeof ACCESS_LOG_FIELDS)[number];

/** Most characters of one field's value in a line; a longer value is cut to this, its last character `…`. */
export const ACCESS_LOG_FIELD_CHARS = 512;

/** `value` cut to ACCESS_LOG_FIELD_CHARS, ending in `…` when it was longer (never half a surrogate pair). */
export function boundField(value: string): string {
  if (value.length <= ACCESS_LOG_FIELD_CHARS) return value;
  let end = ACCESS_LOG_FIELD_CHARS - 1;
  const last = value.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return `${value.slice(0, end)}…`;
}

const NOT_ASCII = /[^\x20-\x7e]/;
const NOT_ASCII_ALL = /[^\x20-\x7e]/g;
const escapeChar = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/**
 * `value` as a JSON string of printable ASCII only: what the client sent may hold bytes past 0x7F
 * (read as Latin-1), among them C1 controls a terminal would act on; those are written `\u00XX`.
 */
function asciiJson(value: string): string {
  const json = jsonString(value);
  return NOT_ASCII.test(json) ? json.replace(NOT_ASCII_ALL, escapeChar) : json;
}

/** The query as received (before the access stage stripped credentials from it), or null when the target has no `?`. */
function receivedQuery(ctx: RequestContext): string | null {
  const url = ctx.req.url;
  const q = url.indexOf('?');
  if (q < 0) return null;
  // Absolute-form: the gateway reads up to a `#` (server.ts); origin-form targets keep it in the query.
  const hash = url.charCodeAt(0) === 47 /* / */ ? -1 : url.indexOf('#', q);
  return hash < 0 ? url.slice(q + 1) : url.slice(q + 1, hash);
}

/** Renders the chosen fields of a request as `,"key":value…`, for the end of its access-log line. */
export class AccessLogFields {
  private readonly query: boolean;
  private readonly host: boolean;
  private readonly userAgent: boolean;
  private readonly referer: boolean;
  /** The keys of the fields cut while rendering the current line, as JSON strings joined by `,`. */
  private cut = '';

  constructor(fields: readonly AccessLogField[]) {
    this.query = fields.includes('query');
    this.host = fields.includes('host');
    this.userAgent = fields.includes('user-agent');
    this.referer = fields.includes('referer');
  }

  /**
   * The chosen fields of `ctx` (`query`, `host`, `userAgent`, `referer`), each null when the request
   * has none; a `truncated` list names the fields that were cut, present only when one was.
   */
  render(ctx: RequestContext): string {
    this.cut = '';
    let out = '';
    if (this.query) {
      const query = receivedQuery(ctx);
      out += this.field(
        'query',
        query === null ? null : redactQuery(query, snapshotSecretNames(ctx.snapshot), ACCESS_LOG_FIELD_CHARS),
      );
    }
    if (this.host) out += this.field('host', ctx.host === '' ? null : ctx.host);
    if (this.userAgent) out += this.field('userAgent', ctx.req.headers['user-agent']);
    if (this.referer) {
      const referer = ctx.req.headers['referer'];
      out += this.field(
        'referer',
        referer === undefined ? null : redactUrl(referer, snapshotSecretNames(ctx.snapshot), ACCESS_LOG_FIELD_CHARS),
      );
    }
    return this.cut === '' ? out : `${out},"truncated":[${this.cut}]`;
  }

  /** `,"key":value`, the value bounded and escaped. */
  private field(key: string, value: string | null | undefined): string {
    if (value === null || value === undefined) return `,"${key}":null`;
    const bounded = boundField(value);
    if (bounded !== value) this.cut += this.cut === '' ? `"${key}"` : `,"${key}"`;
    return `,"${key}":${asciiJson(bounded)}`;
  }
}
