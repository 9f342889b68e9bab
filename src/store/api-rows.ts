import { NO_ACCESS } from '../model/access.js';
import { Api } from '../model/api.js';
import { ApiHealth } from '../model/health.js';
import { RetryPolicy } from '../model/retry.js';
import { Node } from '../model/node.js';
import { SelectorConfig } from '../model/selector.js';
import type { SelectorVersion } from './store.js';
import { apiNameKey } from './conflicts.js';
import { fromSqlBoolean, type SqlBoolean } from './sql-boolean.js';
import { fromStored } from './stored-data.js';

// The rows of an API's configuration (`apis`, `nodes`, `selector_versions`) and their mapping, shared
// by every driver (see rows.ts).

/** An `apis` row as a driver returns it. */
export interface ApiRow {
  id: string;
  name: string;
  name_key: string;
  host: string | null;
  methods: string;
  path: string;
  strip_prefix: SqlBoolean;
  algorithm: string;
  timeouts: string;
  retries: number;
  max_body_bytes: number;
  selector: string | null;
  /** JSON; NULL in rows from before migration 2 (read as the defaults). */
  retry: string | null;
  /** JSON; NULL in rows from before migration 2 (read as the defaults). */
  health: string | null;
  hash_on: string | null;
  /** NULL in rows from before the TLS migration (read as false). */
  https_redirect: SqlBoolean | null;
  /** JSON; NULL in rows from before the access migration (read as no access config). */
  access: string | null;
  created_at: string;
  updated_at: string;
}

/** A `nodes` row as a driver returns it (position is set by the store, not by the model). */
export interface NodeRow {
  id: string;
  api_id: string;
  position: number;
  name: string;
  connector: string;
  enabled: SqlBoolean;
  weight: number;
  tags: string;
  rules: string;
  created_at: string;
  updated_at: string;
}

/** A `selector_versions` row. */
export interface SelectorVersionRow {
  api_id: string;
  version: number;
  selector: string | null;
  saved_at: string;
}

// Rows are validated on the way out too, so a row damaged outside isogate fails loudly here rather
// than deep inside the gateway.

/** Maps an `apis` row to the model. */
export function apiFromRow(row: ApiRow): Api {
  return fromStored('api', row.id, () =>
    Api.parse({
      id: row.id,
      name: row.name,
      host: row.host,
      methods: JSON.parse(row.methods),
      path: row.path,
      stripPrefix: fromSqlBoolean(row.strip_prefix),
      algorithm: row.algorithm,
      timeouts: JSON.parse(row.timeouts),
      retries: row.retries,
      maxBodyBytes: row.max_body_bytes,
      selector: row.selector === null ? null : JSON.parse(row.selector),
      retry: row.retry === null ? RetryPolicy.parse({}) : JSON.parse(row.retry),
      health: row.health === null ? ApiHealth.parse({}) : JSON.parse(row.health),
      hashOn: row.hash_on === null ? null : JSON.parse(row.hash_on),
      httpsRedirect: row.https_redirect === null ? false : fromSqlBoolean(row.https_redirect),
      access: row.access === null ? NO_ACCESS : JSON.parse(row.access),
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    }),
  );
}

/** Maps a validated API to its row. */
export function apiToRow(api: Api): ApiRow {
  return {
    id: api.id,
    name: api.name,
    name_key: apiNameKey(api.name),
    host: api.host,
    methods: JSON.stringify(api.methods),
    path: api.path,
    strip_prefix: api.stripPrefix ? 1 : 0,
    algorithm: api.algorithm,
    timeouts: JSON.stringify(api.timeouts),
    retries: api.retries,
    max_body_bytes: api.maxBodyBytes,
    selector: selectorToText(api.selector),
    retry: JSON.stringify(api.retry),
    health: JSON.stringify(api.health),
    hash_on: api.hashOn === null ? null : JSON.stringify(api.hashOn),
    https_redirect: api.httpsRedirect ? 1 : 0,
    access: JSON.stringify(api.access),
    created_at: api.createdAt,
    updated_at: api.updatedAt,
  };
}

/** Maps a `nodes` row to the model. */
export function nodeFromRow(row: NodeRow): Node {
  return fromStored('node', row.id, () =>
    Node.parse({
      id: row.id,
      apiId: row.api_id,
      name: row.name,
      connector: JSON.parse(row.connector),
      enabled: fromSqlBoolean(row.enabled),
      weight: row.weight,
      tags: JSON.parse(row.tags),
      rules: JSON.parse(row.rules),
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    }),
  );
}

/** Maps a validated node to its row. */
export function nodeToRow(node: Node, position: number): NodeRow {
  return {
    id: node.id,
    api_id: node.apiId,
    position,
    name: node.name,
    connector: JSON.stringify(node.connector),
    enabled: node.enabled ? 1 : 0,
    weight: node.weight,
    tags: JSON.stringify(node.tags),
    rules: JSON.stringify(node.rules),
    created_at: node.createdAt,
    updated_at: node.updatedAt,
  };
}

/** Maps a `selector_versions` row to the model. */
export function selectorVersionFromRow(row: SelectorVersionRow): SelectorVersion {
  return fromStored('selector version', `${row.api_id}/${row.version}`, () => ({
    apiId: row.api_id,
    version: row.version,
    selector: row.selector === null ? null : SelectorConfig.parse(JSON.parse(row.selector)),
    savedAt: row.saved_at,
  }));
}

/** The stored text of a selector (null clears it). */
export function selectorToText(selector: SelectorConfig | null): string | null {
  return selector === null ? null : JSON.stringify(selector);
}
