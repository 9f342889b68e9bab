import { parse as parseScript } from 'acorn';
import { z } from 'zod';
import { Lexer, isAlias, parseDocument, stringify, visit } from 'yaml';
import { strictUtf8, unstorableText } from '../model/text.js';
import { routesCollide, apiNameKey } from '../store/conflicts.js';
import type { ConfigState } from '../store/store.js';
import { SECTIONS, type ExportOptions, type FileIssue } from './sections.js';

/** The version of the file format, the `isogate` key every file starts with. */
export const FORMAT_VERSION = 1;

/** Largest config file read, by the CLI and by `POST /admin/config/apply` (the admin API's other bodies are smaller). */
export const CONFIG_FILE_MAX_BYTES = 16 * 1024 * 1024;
/**
 * Anchors and aliases a file may use in all (exports use none). The yaml package resolves each alias
 * by a scan of those before it, so their number, not only each anchor's alias count, must be bounded.
 */
export const CONFIG_FILE_MAX_ANCHORS = 1_000;

/**
 * The last line of a YAML export. YAML has no end of its own, so an export cut short between two
 * entries (a half-written copy, a full disk) would parse as a smaller config and its apply would
 * delete every entry after the cut; an export's first line says it ends with this line, and a file
 * that says so and does not is refused (as APISIX's standalone file ends with `#END`).
 */
export const END_LINE = '# end of isogate config';
/** The first line of a YAML export; exports older than END_LINE lacked "with end line" and are not checked. */
const HEADER_WITH_END = `# isogate config (format ${FORMAT_VERSION}, with end line)`;

/**
 * How deep a file may nest: flow collections (`[` and `{`) at most CONFIG_FILE_MAX_DEPTH inside one
 * another, and block ones indented (a compact `- - -` counts its columns) at most
 * CONFIG_FILE_MAX_INDENT columns, which bounds their depth too. The yaml package builds a file's
 * whole syntax tree before it finds it too deep: a few megabytes of `[` or `- ` took a minute and
 * gigabytes, and ended the process, so the depth is looked at first, on the lexer's tokens (which
 * know what is inside a string, a comment or a block scalar).
 */
export const CONFIG_FILE_MAX_DEPTH = 64;
/** See CONFIG_FILE_MAX_DEPTH. */
export const CONFIG_FILE_MAX_INDENT = 128;

/** Why `text` nests too deep to be parsed as a config file, and where (1-based), or null. */
function yamlTooDeep(text: string): { message: string; line: number; column: number } | null {
  let flow = 0;
  let line = 1;
  let column = 0;
  let lineStart = true;
  const at = (message: string) => ({ message, line, column: column + 1 });
  for (const token of new Lexer().lex(text)) {
    const first = token.charCodeAt(0);
    // The lexer's own markers (document start, scalar, flow end) hold no source text.
    if (token.length === 1 && (first === 0x02 || first === 0x1f || first === 0x18)) continue;
    if (token === '\n' || token === '\r\n') {
      line++;
      column = 0;
      lineStart = true;
      continue;
    }
    const blank = first === 32 || first === 9;
    if (flow === 0 && ((lineStart && !blank) || token === '-' || token === '?') && column > CONFIG_FILE_MAX_INDENT)
      return at(`a block collection indented past column ${CONFIG_FILE_MAX_INDENT}`);
    if (!blank) lineStart = false;
    if (token === '[' || token === '{') {
      if (++flow > CONFIG_FILE_MAX_DEPTH)
        return at(`more than ${CONFIG_FILE_MAX_DEPTH} nested [ ] and { } collections`);
    } else if (token === ']' || token === '}') flow = Math.max(0, flow - 1);
    const newline = token.lastIndexOf('\n');
    if (newline < 0) column += token.length;
    else {
      for (let i = token.indexOf('\n'); i >= 0; i = token.indexOf('\n', i + 1)) line++;
      column = token.length - newline - 1;
    }
  }
  return null;
}

/** Checks across entries: unique names, nodes naming an API of the file, no two APIs on one route. */
function crossChecks(given: {
  variables?: Array<{ name: string }>;
  apis?: Array<{
    name: string;
    host?: string | null;
    path: string;
    methods?: string[];
    selector?: { code?: unknown } | null;
  }>;
  nodes?: Array<{ api: string; name: string }>;
}): FileIssue[] {
  const issues: FileIssue[] = [];
  // Nodes name their API, so a file that lists nodes lists the APIs too (an omitted list is left alone).
  if (given.nodes !== undefined && given.apis === undefined)
    issues.push({ path: ['nodes'], message: 'a file that lists nodes must list their apis too' });
  const file = { variables: given.variables ?? [], apis: given.apis ?? [], nodes: given.nodes ?? [] };
  const firstOf = <T>(
    list: T[],
    key: (x: T) => string,
    path: (i: number) => PropertyKey[],
    what: (x: T, first: number) => string,
  ) => {
    const seen = new Map<string, number>();
    list.forEach((x, i) => {
      const k = key(x);
      const first = seen.get(k);
      if (first === undefined) seen.set(k, i);
      else issues.push({ path: path(i), message: what(x, first) });
    });
    return seen;
  };
  firstOf(
    file.variables,
    (v) => v.name,
    (i) => ['variables', i, 'name'],
    (v, first) => `variable ${v.name} is already set by variables.${first}`,
  );
  const apis = firstOf(
    file.apis,
    (a) => apiNameKey(a.name),
    (i) => ['apis', i, 'name'],
    (a, first) => `an API named "${a.name}" is already in apis.${first}`,
  );
  file.apis.forEach((a, i) => {
    const other = file.apis.findIndex((b, j) => j < i && routesCollide(route(a), route(b)));
    if (other >= 0)
      issues.push({
        path: ['apis', i, 'path'],
        message: `apis.${other} (${file.apis[other]!.name}) already serves this route`,
      });
  });
  // The admin API trial-runs a selector before saving it; a file can at least not store one that does not parse.
  file.apis.forEach((a, i) => {
    const code = a.selector?.code;
    if (typeof code !== 'string') return;
    try {
      parseScript(code, { ecmaVersion: 'latest', sourceType: 'script' });
    } catch (err) {
      issues.push({
        path: ['apis', i, 'selector', 'code'],
        message: `the selector does not parse: ${(err as Error).message}`,
      });
    }
  });
  file.nodes.forEach((n, i) => {
    if (!apis.has(apiNameKey(n.api)))
      issues.push({ path: ['nodes', i, 'api'], message: `no API named "${n.api}" in this file's apis` });
  });
  // Two nodes of one API may share a name, as through the admin API: they match the stored ones in order.
  return issues;
}

const ALL_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
function route(a: { name: string; host?: string | null; path: string; methods?: string[] }) {
  return {
    id: a.name,
    name: a.name,
    host: a.host ?? null,
    path: a.path,
    methods: (a.methods ?? [...ALL_METHODS]) as (typeof ALL_METHODS)[number][],
  };
}

/**
 * A config file: `isogate: 1` and one list per object kind, every object referring to others by name,
 * so a file moves between installations. Built from the admin API's own zod models; its JSON Schema
 * is `configFileSchema()`.
 */
export const ConfigFile = z
  .strictObject({
    isogate: z.literal(FORMAT_VERSION, { error: `must be ${FORMAT_VERSION} (the config file format version)` }),
    // An omitted list leaves that kind as it is stored; an empty one deletes every object of it.
    ...Object.fromEntries(SECTIONS.map((s) => [s.key, z.array(s.entry).max(s.max).optional()])),
  })
  .superRefine((file, ctx) => {
    const sections = SECTIONS.flatMap(
      (s) => s.check?.(((file as Record<string, unknown>)[s.key] ?? []) as never[]) ?? [],
    );
    for (const issue of [...crossChecks(file as unknown as Parameters<typeof crossChecks>[0]), ...sections])
      ctx.addIssue({ code: 'custom', ...issue });
  });
/** A parsed config file: the format version and each section's entries. */
export type ConfigFile = { isogate: typeof FORMAT_VERSION } & Record<string, unknown[] | undefined>;

/** The JSON Schema of a config file (draft 2020-12), for editors and CI checks. */
export function configFileSchema(): unknown {
  return {
    ...z.toJSONSchema(ConfigFile, { io: 'input' }),
    title: 'isogate config file',
    $id: 'https://isogate.dev/schema/config-file-1.json',
  };
}

/** The config as a file's content (secrets left out unless asked for). */
export function exportConfig(state: ConfigState, options: ExportOptions = { secrets: false }): Record<string, unknown> {
  const file: Record<string, unknown> = { isogate: FORMAT_VERSION };
  for (const section of SECTIONS) file[section.key] = section.export(state, options);
  return file;
}

/** A config file as text: YAML (the default, for review in git) or JSON. */
export function formatConfig(file: unknown, format: 'yaml' | 'json'): string {
  if (format === 'json') return JSON.stringify(file, null, 2) + '\n';
  return (
    `${HEADER_WITH_END}; apply with: isogate config apply FILE\n` +
    stringify(file, { lineWidth: 0, aliasDuplicateObjects: false }) +
    `${END_LINE}\n`
  );
}

/** A config file's text that is not YAML or JSON at all. */
export class ConfigSyntaxError extends Error {
  override readonly name: string = 'ConfigSyntaxError';
  constructor(
    message: string,
    readonly line: number | undefined,
    readonly column: number | undefined,
  ) {
    super(message);
  }
}

/** A YAML export whose first line promises END_LINE and whose last line is not it: the file was cut short. */
export class ConfigCutShortError extends ConfigSyntaxError {
  override readonly name = 'ConfigCutShortError';
}

/** Refuses an export cut short: one whose first line promises END_LINE as its last and lacks it. */
function checkEndLine(text: string): void {
  if (!text.startsWith(HEADER_WITH_END)) return;
  const lines = text.trimEnd().split(/\r?\n/);
  if (lines[lines.length - 1]!.trimEnd() === END_LINE) return;
  throw new ConfigCutShortError(
    `its first line says it ends with "${END_LINE}", and its last line (${lines.length}) is not that line: ` +
      'the file was cut short (restore the whole file; an edited export must keep that line last)',
    lines.length,
    1,
  );
}

/** A config file's bytes as text: UTF-8 only (a stray Latin-1 byte would be stored as U+FFFD), at most CONFIG_FILE_MAX_BYTES. */
export function decodeConfigBytes(bytes: Uint8Array): string {
  if (bytes.length > CONFIG_FILE_MAX_BYTES)
    throw new ConfigSyntaxError(`the file is larger than ${CONFIG_FILE_MAX_BYTES} bytes`, undefined, undefined);
  const text = strictUtf8(bytes);
  if (text === null) throw new ConfigSyntaxError('the file is not UTF-8 text', undefined, undefined);
  return text;
}

/**
 * Parses a config file's text (JSON is YAML too); throws ConfigSyntaxError with the line of the
 * first error. One document, no custom tags, at most CONFIG_FILE_MAX_ANCHORS anchors and aliases
 * (100 uses of one anchor: no billion laughs), nesting within CONFIG_FILE_MAX_DEPTH and
 * CONFIG_FILE_MAX_INDENT, and no string that a store cannot keep as it is.
 */
export function parseConfigText(text: string): unknown {
  if (Buffer.byteLength(text, 'utf8') > CONFIG_FILE_MAX_BYTES)
    throw new ConfigSyntaxError(`the file is larger than ${CONFIG_FILE_MAX_BYTES} bytes`, undefined, undefined);
  checkEndLine(text);
  const tooDeep = yamlTooDeep(text);
  if (tooDeep !== null)
    throw new ConfigSyntaxError(`the file nests too deep: ${tooDeep.message}`, tooDeep.line, tooDeep.column);
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  const error = doc.errors[0];
  if (error)
    throw new ConfigSyntaxError(error.message.split('\n')[0]!, error.linePos?.[0].line, error.linePos?.[0].col);
  let anchors = 0;
  visit(doc, {
    Node(_key, node) {
      if ((isAlias(node) || node.anchor !== undefined) && ++anchors > CONFIG_FILE_MAX_ANCHORS) return visit.BREAK;
      return undefined;
    },
  });
  if (anchors > CONFIG_FILE_MAX_ANCHORS)
    throw new ConfigSyntaxError(`more than ${CONFIG_FILE_MAX_ANCHORS} anchors and aliases`, undefined, undefined);
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    // Past an anchor's alias count, or an alias that names no anchor before it.
    throw new ConfigSyntaxError((err as Error).message.split('\n')[0]!, undefined, undefined);
  }
  checkStrings(value, []);
  return value;
}

/** Refuses a key or string no store keeps as it is, naming where it is. */
function checkStrings(value: unknown, path: PropertyKey[]): void {
  if (typeof value === 'string') {
    const bad = unstorableText(value);
    if (bad !== null) throw new ConfigSyntaxError(`${path.join('.') || '(top)'} ${bad}`, undefined, undefined);
  } else if (Array.isArray(value)) value.forEach((v, i) => checkStrings(v, [...path, i]));
  else if (typeof value === 'object' && value !== null)
    for (const [k, v] of Object.entries(value)) {
      const bad = unstorableText(k);
      if (bad !== null)
        throw new ConfigSyntaxError(`a key in ${path.join('.') || '(top)'} ${bad}`, undefined, undefined);
      checkStrings(v, [...path, k]);
    }
}
