import type { RequestContext, RetryReason } from '../gateway/context.js';
import { GATEWAY_ERRORS, type GatewayErrorCode } from '../gateway/errors.js';
import type { MemoEndCause } from '../selector/sandbox.js';
import type { SelectorErrorKind } from '../selector/types.js';
import type { CompiledApi, Snapshot } from '../snapshot/snapshot.js';
import { histogramCells, LATENCY_BOUNDS_MS, observe, SELECTOR_BOUNDS_US } from './buckets.js';

/** Status classes of `isogate_requests_total` (a client that left before the answer counts as 499, 4xx). */
export const STATUS_CLASSES = ['2xx', '3xx', '4xx', '5xx'] as const;
/** Gateway error codes in table order (the `code` label). */
export const ERROR_CODES = Object.keys(GATEWAY_ERRORS) as GatewayErrorCode[];
/** Why an upstream attempt was given up and another node tried (the `reason` label). */
export const RETRY_REASONS = [
  'connect',
  'queue',
  'timeout',
  'reset',
  'status',
] as const satisfies readonly RetryReason[];
/** Selector call outcomes (the `outcome` label). */
export const SELECTOR_OUTCOMES = ['ok', 'empty', 'error'] as const;
/** Selector failure kinds (the `kind` label), in the order of `SelectorErrorKind`. */
export const SELECTOR_ERROR_KINDS = Object.keys({
  compile: 0,
  throw: 0,
  timeout: 0,
  memory: 0,
  crash: 0,
  'bad-result': 0,
  quarantined: 0,
  unavailable: 0,
} satisfies Record<SelectorErrorKind, 0>) as SelectorErrorKind[];

/** Why memoization of a selector version ended: a run changed kept state, or the verifier disagreed. */
export const MEMO_END_CAUSES: readonly MemoEndCause[] = ['stateful', 'mismatch'];

const CODE_INDEX = new Map<string, number>(ERROR_CODES.map((c, i) => [c, i]));
const KIND_INDEX = new Map<string, number>(SELECTOR_ERROR_KINDS.map((k, i) => [k, i]));
const REASON_INDEX = new Map<string, number>(RETRY_REASONS.map((r, i) => [r, i]));

/** Counts of one (API, node) pair; node '' for requests answered before a node was picked. */
export class NodeCell {
  readonly requests = new Float64Array(STATUS_CLASSES.length);
  readonly duration = histogramCells(LATENCY_BOUNDS_MS);
  readonly upstream = histogramCells(LATENCY_BOUNDS_MS);
  connectFailures = 0;

  constructor(
    readonly api: string,
    readonly node: string,
    readonly nodeId: string,
  ) {}
}

/** Counts of one API (api '' for requests no API matched). */
export class ApiCell {
  readonly errors = new Float64Array(ERROR_CODES.length);
  readonly retries = new Float64Array(RETRY_REASONS.length);
  /** Retries not made because the API's retry budget was spent. */
  retriesRefused = 0;
  readonly selectorCalls = new Float64Array(SELECTOR_OUTCOMES.length);
  readonly selectorErrors = new Float64Array(SELECTOR_ERROR_KINDS.length);
  readonly selectorTime = histogramCells(SELECTOR_BOUNDS_US);
  selectorFallbacks = 0;
  selectorQuarantines = 0;
  /** Memoization of a selector version ended while serving, by cause (MEMO_END_CAUSES order). */
  readonly memoEnded = new Float64Array(MEMO_END_CAUSES.length);

  constructor(readonly api: string) {}
}

/** The cells one compiled API writes to, found with one WeakMap lookup per request. */
interface ApiEntry {
  readonly cell: ApiCell;
  /** Requests of this API that reached no node. */
  readonly nodeless: NodeCell;
  /** By catalog index. */
  readonly nodes: readonly NodeCell[];
}

/**
 * Per-request counters behind the Prometheus metrics. The hot path adds to flat arrays cached per
 * compiled API (so per snapshot); label strings are built only when a cell is first made and at
 * scrape time. Cells are keyed by id and name, so a renamed node starts a new series.
 */
export class Traffic {
  private readonly apiCells = new Map<string, ApiCell>();
  private readonly nodeCells = new Map<string, NodeCell>();
  private readonly byApi = new WeakMap<CompiledApi, ApiEntry>();
  private readonly none = new ApiCell('');
  private readonly noneNode = new NodeCell('', '', '');

  /** Counts one finished request from its context; `ms` is its total time. */
  record(ctx: RequestContext, ms: number): void {
    const status = ctx.status === 0 && ctx.res.destroyed ? 499 : ctx.status;
    const api = ctx.api;
    const code = ctx.errorCode;
    if (api === null) {
      countRequest(this.noneNode, status, ms, 0);
      if (code !== null) this.none.errors[CODE_INDEX.get(code)!]!++;
      return;
    }
    let entry = this.byApi.get(api);
    if (entry === undefined) this.byApi.set(api, (entry = this.entry(api)));
    const node = ctx.node;
    countRequest(node === null ? entry.nodeless : entry.nodes[node.index]!, status, ms, ctx.upstreamMs);
    const cell = entry.cell;
    if (code !== null) cell.errors[CODE_INDEX.get(code)!]!++;

    if (ctx.retryRefused) cell.retriesRefused++;
    const tried = ctx.tried;
    if (tried.length > 0) {
      // retryReasons[i] says why the i-th node tried was given up; the last node tried failed to
      // connect too when the request ended on a connect error.
      const reasons = ctx.retryReasons;
      for (let i = 0; i < reasons.length; i++) {
        const reason = reasons[i]!;
        cell.retries[REASON_INDEX.get(reason)!]!++;
        if (reason === 'connect') entry.nodes[tried[i]!]!.connectFailures++;
      }
      if (code === 'UPSTREAM_CONNECT_FAILED' || code === 'ALL_NODES_TRIED')
        entry.nodes[tried[tried.length - 1]!]!.connectFailures++;
    }

    const outcome = ctx.selectorOutcome;
    if (outcome !== 'none') {
      if (outcome === 'ok') cell.selectorCalls[0]!++;
      else if (outcome === 'empty') cell.selectorCalls[1]!++;
      else {
        cell.selectorCalls[2]!++;
        cell.selectorErrors[KIND_INDEX.get(outcome.slice(6)) ?? KIND_INDEX.get('unavailable')!]!++;
        if (api.api.selector?.onError !== 'reject') cell.selectorFallbacks++;
      }
      if (ctx.selectorUs > 0) observe(cell.selectorTime, SELECTOR_BOUNDS_US, ctx.selectorUs);
    }
  }

  /** Counts a request refused at the HTTP layer, before any API (a malformed request, a head timeout). */
  rejected(code: GatewayErrorCode): void {
    countRequest(this.noneNode, GATEWAY_ERRORS[code].status, 0, 0);
    this.none.errors[CODE_INDEX.get(code)!]!++;
  }

  /** Counts a selector version put in quarantine (reported by the sandbox, not by a request). */
  quarantined(apiId: string, snapshot: Snapshot | null): void {
    const api = snapshot?.apis.get(apiId);
    if (api) this.apiCell(api).selectorQuarantines++;
  }

  /** Counts the end of a selector version's memoization (reported by the sandbox). */
  memoEnded(apiId: string, cause: MemoEndCause, snapshot: Snapshot | null): void {
    const api = snapshot?.apis.get(apiId);
    if (api) this.apiCell(api).memoEnded[MEMO_END_CAUSES.indexOf(cause)]!++;
  }

  /**
   * Drops the cells of APIs and nodes that are no longer in the config (deleted or renamed), so the
   * series stay bounded by the current config. Called at scrape time.
   */
  prune(snapshot: Snapshot | null): void {
    if (snapshot === null) return;
    const apis = new Set<string>();
    const nodes = new Set<string>();
    for (const api of snapshot.apis.values()) {
      apis.add(apiKey(api));
      nodes.add(nodeKey(api, '', ''));
      for (const node of api.nodes) nodes.add(nodeKey(api, node.id, node.name));
    }
    for (const key of this.apiCells.keys()) if (!apis.has(key)) this.apiCells.delete(key);
    for (const key of this.nodeCells.keys()) if (!nodes.has(key)) this.nodeCells.delete(key);
  }

  /** Every API cell, the one for unmatched requests first. */
  apis(): ApiCell[] {
    return [this.none, ...this.apiCells.values()];
  }

  /** Every (API, node) cell, the one for unmatched requests first. */
  nodes(): NodeCell[] {
    return [this.noneNode, ...this.nodeCells.values()];
  }

  private entry(api: CompiledApi): ApiEntry {
    return {
      cell: this.apiCell(api),
      nodeless: this.nodeCell(api, '', ''),
      nodes: api.nodes.map((n) => this.nodeCell(api, n.id, n.name)),
    };
  }

  private apiCell(api: CompiledApi): ApiCell {
    const key = apiKey(api);
    let cell = this.apiCells.get(key);
    if (!cell) this.apiCells.set(key, (cell = new ApiCell(api.api.name)));
    return cell;
  }

  private nodeCell(api: CompiledApi, nodeId: string, name: string): NodeCell {
    const key = nodeKey(api, nodeId, name);
    let cell = this.nodeCells.get(key);
    if (!cell) this.nodeCells.set(key, (cell = new NodeCell(api.api.name, name, nodeId)));
    return cell;
  }
}

function countRequest(cell: NodeCell, status: number, ms: number, upstreamMs: number): void {
  // No status at all (nothing was sent and the client is still there) is the gateway's failure.
  const c = status < 200 ? 3 : status < 300 ? 0 : status < 400 ? 1 : status < 500 ? 2 : 3;
  cell.requests[c]!++;
  observe(cell.duration, LATENCY_BOUNDS_MS, ms);
  if (upstreamMs > 0) observe(cell.upstream, LATENCY_BOUNDS_MS, upstreamMs);
}

function apiKey(api: CompiledApi): string {
  return `${api.api.id}\n${api.api.name}`;
}

function nodeKey(api: CompiledApi, nodeId: string, name: string): string {
  return `${api.api.id}\n${api.api.name}\n${nodeId}\n${name}`;
}
