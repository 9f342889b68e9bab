import pino, { type Logger } from 'pino';
import type { AccessLogFields } from './access-log-fields.js';
import { jsonString } from './json-string.js';

/** One finished request, as the access log records it. */
export interface AccessRecord {
  method: string;
  path: string;
  clientIp: string;
  /** The consumer the access stage authenticated, or null. */
  consumer: string | null;
  api: string | null;
  node: string | null;
  status: number;
  code: string | null;
  tries: number;
  upstreamError: string | null;
  ms: number;
  upstreamMs: number;
  selector: string;
  selectorUs: number;
  version: number;
  /** The request came over TLS. */
  tls: boolean;
  /** `http/1.1` or `h2`. */
  proto: string;
}

/** Values longer than this are escaped each time, never kept (an HTTP/2 method is any token a client sends). */
const KEPT_VALUE_CHARS = 128;

/**
 * JSON strings of the fields that take few values (method, API and node names, codes, selector
 * outcome), kept once made: these strings live in the snapshot, so the lookup hashes nothing new.
 * Bounded in entries and in their length; cleared when full (names of deleted APIs would otherwise stay).
 */
class JsonStrings {
  private readonly known = new Map<string, string>();

  of(value: string | null): string {
    if (value === null) return 'null';
    if (value.length > KEPT_VALUE_CHARS) return jsonString(value);
    let json = this.known.get(value);
    if (json === undefined) {
      json = jsonString(value);
      if (this.known.size >= 4096) this.known.clear();
      this.known.set(value, json);
    }
    return json;
  }
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

/** Lines are handed to the destination once this many characters are pending… */
export const ACCESS_LOG_BATCH_CHARS = 32 * 1024;
/** …or this long after the first pending line, whichever comes first. */
export const ACCESS_LOG_FLUSH_MS = 100;

/**
 * The per-request access log: the same JSON line pino would write (level, ISO time, pid, component,
 * fields), built by hand and handed to the logger's own destination (so it stays ordered with the
 * other log lines). pino's generic serializer was a fifth of the gateway's CPU per request; handing
 * the destination one batch of lines instead of one write per line saved another sixth. A line
 * reaches the destination at most ACCESS_LOG_FLUSH_MS after its request ended.
 */
export class AccessLog {
  private lastMs = 0;
  private lastTime = '';
  // Lines kept apart and joined once per batch: a string grown with += is a deep rope that the
  // destination flattens at great cost (it was a microsecond per line).
  private pending: string[] = [];
  private pendingChars = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly flushLater = () => {
    this.timer = null;
    this.flush();
  };

  private readonly names = new JsonStrings();
  /** From `,"pid"` to the method's name, the same on every line. */
  private readonly fixed = `,"pid":${process.pid},"component":"access","method":`;

  private constructor(
    private readonly stream: { write(line: string): unknown },
    private readonly prefix: string,
    /** The opt-in fields (`--access-log-fields`) the log stage renders for each line; null: none. */
    readonly fields: AccessLogFields | null,
  ) {}

  /**
   * An access log writing to `log`'s destination, with the opt-in `fields` if given; null when `log`
   * does not log at info level.
   */
  static of(log: Logger, fields: AccessLogFields | null = null): AccessLog | null {
    if (!log.isLevelEnabled('info')) return null;
    const stream = (log as unknown as Record<symbol, { write(line: string): unknown }>)[pino.symbols.streamSym];
    if (!stream) return null;
    return new AccessLog(stream, `{"level":30,"time":`, fields);
  }

  /** Writes one line; `extra` (`,"key":value…`, the rendered opt-in fields) goes at its end. */
  write(r: AccessRecord, extra = ''): void {
    const now = Date.now();
    if (now !== this.lastMs) {
      this.lastMs = now;
      this.lastTime = `"${new Date(now).toISOString()}"`;
    }
    const names = this.names;
    // The path and client address vary per request: escaped as needed, not kept.
    const line =
      `${this.prefix}${this.lastTime}${this.fixed}${names.of(r.method)},"path":${jsonString(r.path)},` +
      `"clientIp":${jsonString(r.clientIp)},"consumer":${names.of(r.consumer)},"api":${names.of(r.api)},"node":${names.of(r.node)},"status":${r.status},"code":${names.of(r.code)},` +
      `"tries":${r.tries},"upstreamError":${names.of(r.upstreamError)},"ms":${round(r.ms)},"upstreamMs":${round(r.upstreamMs)},` +
      `"selector":${names.of(r.selector)},"selectorUs":${r.selectorUs},"version":${r.version},"tls":${r.tls},"proto":${names.of(r.proto)}${extra}}\n`;
    this.pending.push(line);
    this.pendingChars += line.length;
    if (this.pendingChars >= ACCESS_LOG_BATCH_CHARS) this.flush();
    else if (this.timer === null) this.timer = setTimeout(this.flushLater, ACCESS_LOG_FLUSH_MS).unref();
  }

  /** Hands the pending lines to the destination now (on shutdown, before the logger's own flush). */
  flush(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.pending.length === 0) return;
    const lines = this.pending.join('');
    this.pending = [];
    this.pendingChars = 0;
    this.stream.write(lines);
  }
}
