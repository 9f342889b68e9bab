import type {
  Actor,
  AdminToken,
  Api,
  ApiTraffic,
  AuditPage,
  Availability,
  DryRunAnswer,
  PlanResult,
  Role,
  ApiSummary,
  BackendNode,
  BalanceExplanation,
  ClusterView,
  ConnectorKindInfo,
  ConsumerView,
  CredentialView,
  ErrorDetail,
  NodeStatsView,
  ApiHealthReport,
  CertificateView,
  SampleRequest,
  SelectorConfig,
  SelectorTemplate,
  SelectorView,
  Variable,
  VariableUsage,
  VariableUse,
} from './types.js';
import { errorSentence } from './words.js';

const TOKEN_KEY = 'isogate.token';

/** Dispatched on `document` after every write the console made, so views showing derived state (the outage banner) refresh at once. */
export const CONFIG_CHANGED = 'isogate:config-changed';

/** The admin token of this browser tab, or null when signed out. */
export function getToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

/** Keeps the token for this browser session only: it is gone when the tab closes. */
export function setToken(token: string): void {
  sessionStorage.setItem(TOKEN_KEY, token);
}

/** Forgets the token. */
export function clearToken(): void {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** A failed admin call: the API's error code, message and field details, or a network failure. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    /** HTTP status; 0 when the admin API could not be reached. */
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: ErrorDetail[] = [],
  ) {
    super(message);
  }
}

/** A failed call in words for a notice or an alert: the admin API's sentence for its code, else the error as text. */
export function errorText(err: unknown): string {
  return err instanceof ApiError ? errorSentence(err.code, err.message) : String(err);
}

/** Whether an error is the abort of a request whose page was left; such errors are not shown. */
export function isAbort(err: unknown): boolean {
  return err instanceof DOMException && err.name === 'AbortError';
}

let unauthorized: () => void = () => undefined;

/** Sets what happens when the API answers 401: the app sends the user back to sign-in. */
export function onUnauthorized(handler: () => void): void {
  unauthorized = handler;
}

interface CallOptions {
  signal?: AbortSignal;
  /** Use this token instead of the stored one and leave a 401 to the caller (sign-in checks). */
  token?: string;
}

/** Calls the admin API; resolves with the parsed JSON body (undefined for 204) or throws ApiError. */
export async function call<T>(method: string, path: string, body?: unknown, options: CallOptions = {}): Promise<T> {
  const token = options.token ?? getToken();
  const headers: Record<string, string> = { accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: options.signal ?? null,
      cache: 'no-store',
    });
  } catch (err) {
    if (isAbort(err)) throw err;
    throw new ApiError(0, 'NETWORK', 'Could not reach the admin API. Is isogate running?');
  }
  const text = await res.text();
  let parsed: unknown = undefined;
  if (text !== '') {
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new ApiError(
        res.status,
        'BAD_RESPONSE',
        `The admin API answered ${res.status} with something that is not JSON.`,
      );
    }
  }
  if (res.ok) {
    if (method !== 'GET' && !path.includes('dryRun=true')) document.dispatchEvent(new Event(CONFIG_CHANGED));
    return parsed as T;
  }
  const error = (parsed as { error?: { code?: string; message?: string; details?: ErrorDetail[] } } | undefined)?.error;
  const apiError = new ApiError(
    res.status,
    error?.code ?? `HTTP_${res.status}`,
    error?.message ?? `The admin API answered ${res.status}.`,
    error?.details ?? [],
  );
  if (res.status === 401 && options.token === undefined) {
    clearToken();
    unauthorized();
  }
  throw apiError;
}

const enc = encodeURIComponent;
type Opt = { signal?: AbortSignal };

/** Typed calls of every admin route the console uses. */
export const admin = {
  checkToken: (token: string) => call<{ version: number }>('GET', '/admin/config/version', undefined, { token }),
  configVersion: (o?: Opt) => call<{ version: number }>('GET', '/admin/config/version', undefined, o),

  listApis: (o?: Opt) => call<ApiSummary[]>('GET', '/admin/apis', undefined, o),
  getApi: (id: string, o?: Opt) => call<Api>('GET', `/admin/apis/${enc(id)}`, undefined, o),
  createApi: (body: Record<string, unknown>) => call<Api>('POST', '/admin/apis', body),
  patchApi: (id: string, body: Record<string, unknown>) => call<Api>('PATCH', `/admin/apis/${enc(id)}`, body),
  deleteApi: (id: string) => call<void>('DELETE', `/admin/apis/${enc(id)}`),

  listNodes: (apiId: string, o?: Opt) => call<BackendNode[]>('GET', `/admin/apis/${enc(apiId)}/nodes`, undefined, o),
  createNode: (apiId: string, body: Record<string, unknown>) =>
    call<BackendNode>('POST', `/admin/apis/${enc(apiId)}/nodes`, body),
  patchNode: (apiId: string, nodeId: string, body: Record<string, unknown>) =>
    call<BackendNode>('PATCH', `/admin/apis/${enc(apiId)}/nodes/${enc(nodeId)}`, body),
  deleteNode: (apiId: string, nodeId: string) => call<void>('DELETE', `/admin/apis/${enc(apiId)}/nodes/${enc(nodeId)}`),
  nodeStats: (apiId: string, o?: Opt) =>
    call<{ api: ApiTraffic; nodes: Record<string, NodeStatsView> }>(
      'GET',
      `/admin/apis/${enc(apiId)}/stats`,
      undefined,
      o,
    ),
  availability: (apiId: string, o?: Opt) =>
    call<Availability>('GET', `/admin/apis/${enc(apiId)}/availability`, undefined, o),
  nodeHealth: (apiId: string, o?: Opt) =>
    call<ApiHealthReport>('GET', `/admin/apis/${enc(apiId)}/health`, undefined, o),
  listConnectors: (o?: Opt) => call<ConnectorKindInfo[]>('GET', '/admin/connectors', undefined, o),

  listVariables: (o?: Opt) => call<Variable[]>('GET', '/admin/variables', undefined, o),
  variableUsage: (o?: Opt) => call<VariableUsage[]>('GET', '/admin/variable-usage', undefined, o),
  putVariable: (name: string, value: string) => call<Variable>('PUT', `/admin/variables/${enc(name)}`, { value }),
  deleteVariable: (name: string) =>
    call<{ deleted: string; usedBy: VariableUse[] }>('DELETE', `/admin/variables/${enc(name)}`),

  getSelector: (apiId: string, o?: Opt) =>
    call<SelectorView>('GET', `/admin/apis/${enc(apiId)}/selector`, undefined, o),
  putSelector: (apiId: string, body: SelectorConfig & { sample?: SampleRequest }) =>
    call<Api>('PUT', `/admin/apis/${enc(apiId)}/selector`, body),
  deleteSelector: (apiId: string) => call<void>('DELETE', `/admin/apis/${enc(apiId)}/selector`),
  rollbackSelector: (apiId: string, version: number) =>
    call<Api>('POST', `/admin/apis/${enc(apiId)}/selector/rollback`, { version }),
  restartSelector: (apiId: string) =>
    call<{ selector: SelectorConfig; status: SelectorView['status'] }>(
      'POST',
      `/admin/apis/${enc(apiId)}/selector/restart`,
    ),
  testSelector: (apiId: string, body: { request: SampleRequest; selector?: SelectorConfig | null }) =>
    call<BalanceExplanation>('POST', `/admin/apis/${enc(apiId)}/selector/test`, body),
  selectorTemplates: (o?: Opt) => call<SelectorTemplate[]>('GET', '/admin/selector-templates', undefined, o),

  cluster: (o?: Opt) => call<ClusterView>('GET', '/admin/cluster', undefined, o),
  listCertificates: (o?: Opt) => call<CertificateView[]>('GET', '/admin/certificates', undefined, o),
  uploadCertificate: (body: { certificate: string; privateKey: string; isDefault?: boolean }) =>
    call<CertificateView>('POST', '/admin/certificates', body),
  replaceCertificate: (id: string, body: { certificate: string; privateKey: string; isDefault?: boolean }) =>
    call<CertificateView>('PUT', `/admin/certificates/${enc(id)}`, body),
  setDefaultCertificate: (id: string) =>
    call<CertificateView>('PATCH', `/admin/certificates/${enc(id)}`, { isDefault: true }),
  deleteCertificate: (id: string) => call<void>('DELETE', `/admin/certificates/${enc(id)}`),

  listConsumers: (o?: Opt) => call<ConsumerView[]>('GET', '/admin/consumers', undefined, o),
  /** The answer carries generated secrets (`credentials[i].secret`) this once. */
  createConsumer: (body: Record<string, unknown>) =>
    call<Omit<ConsumerView, 'credentials'> & { credentials: Array<CredentialView & { secret?: string }> }>(
      'POST',
      '/admin/consumers',
      body,
    ),
  patchConsumer: (id: string, body: Record<string, unknown>) =>
    call<ConsumerView>('PATCH', `/admin/consumers/${enc(id)}`, body),
  deleteConsumer: (id: string) => call<void>('DELETE', `/admin/consumers/${enc(id)}`),
  addCredential: (id: string, body: Record<string, unknown>) =>
    call<CredentialView & { secret?: string }>('POST', `/admin/consumers/${enc(id)}/credentials`, body),
  deleteCredential: (id: string, credentialId: string) =>
    call<void>('DELETE', `/admin/consumers/${enc(id)}/credentials/${enc(credentialId)}`),

  whoami: (o?: Opt) => call<Actor>('GET', '/admin/whoami', undefined, o),
  listTokens: (o?: Opt) => call<AdminToken[]>('GET', '/admin/tokens', undefined, o),
  /** The answer carries the new token's `secret` this once; the store keeps only its hash. */
  createToken: (body: { name: string; role: Role }) =>
    call<AdminToken & { secret: string }>('POST', '/admin/tokens', body),
  deleteToken: (id: string) => call<void>('DELETE', `/admin/tokens/${enc(id)}`),
  audit: (query: Record<string, string>, o?: Opt) =>
    call<AuditPage>('GET', `/admin/audit?${new URLSearchParams(query)}`, undefined, o),
  revert: (version: number) => call<PlanResult>('POST', '/admin/audit/revert', { version }),
  restore: (version: number) => call<PlanResult>('POST', '/admin/config/restore', { version }),
  /** Any write as a dry run: what it would change and its impact on traffic; nothing is written. */
  preview: (method: string, path: string, body?: unknown) => call<DryRunAnswer>(method, `${path}?dryRun=true`, body),
};

/** The admin paths of the writes the console previews. */
export const paths = {
  variable: (name: string) => `/admin/variables/${enc(name)}`,
  node: (apiId: string, nodeId: string) => `/admin/apis/${enc(apiId)}/nodes/${enc(nodeId)}`,
  api: (apiId: string) => `/admin/apis/${enc(apiId)}`,
};
