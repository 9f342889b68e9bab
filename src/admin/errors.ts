import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ZodError } from 'zod';
import type { Actor } from '../model/token.js';
import { CertificateProblem } from '../model/certificate-check.js';
import {
  CertificateConflictError,
  StoreConflictError,
  StoreOutcomeUnknownError,
  StoreRefusedError,
  StoreUnavailableError,
  StoredDataError,
} from '../store/errors.js';

/** Every error the admin API answers with: its stable code, HTTP status and default message. */
export const adminErrors = {
  UNAUTHORIZED: { status: 401, message: 'missing or wrong admin token (send Authorization: Bearer <token>)' },
  FORBIDDEN: { status: 403, message: "this admin token's role does not allow this" },
  VALIDATION_FAILED: { status: 400, message: 'the request is not valid' },
  SELECTOR_INVALID: { status: 400, message: 'the selector failed its trial run; nothing was saved' },
  BAD_REQUEST: { status: 400, message: 'bad request' },
  CERTIFICATE_INVALID: { status: 400, message: 'the certificate is not a PEM certificate chain that parses' },
  PRIVATE_KEY_INVALID: { status: 400, message: 'the private key is not an unencrypted PEM private key' },
  KEY_MISMATCH: { status: 400, message: 'the private key does not belong to the certificate' },
  CHAIN_INVALID: { status: 400, message: 'the chain is not in order (leaf first, then each issuer)' },
  CERTIFICATE_EXPIRED: { status: 400, message: 'a certificate of the chain has expired' },
  CERTIFICATE_NOT_YET_VALID: { status: 400, message: 'a certificate of the chain is not valid yet' },
  CERTIFICATE_NO_NAMES: { status: 400, message: 'the certificate names no DNS host in its subjectAltName' },
  CERTIFICATE_WEAK: { status: 400, message: 'the chain has a weak key or signature (RSA under 2048 bits, SHA-1, …)' },
  CERTIFICATE_KEY_UNSUPPORTED: {
    status: 400,
    message: 'the key is of a type, curve or size the TLS port does not serve',
  },
  NOT_FOUND: { status: 404, message: 'no such admin route' },
  API_NOT_FOUND: { status: 404, message: 'no API with this id' },
  NODE_NOT_FOUND: { status: 404, message: 'no node with this id in this API' },
  VARIABLE_NOT_FOUND: { status: 404, message: 'no variable with this name' },
  SELECTOR_VERSION_NOT_FOUND: { status: 404, message: 'no saved selector version with this number' },
  CERTIFICATE_NOT_FOUND: { status: 404, message: 'no certificate with this id' },
  SELECTOR_NOT_FOUND: { status: 404, message: 'this API has no selector' },
  CONSUMER_NOT_FOUND: { status: 404, message: 'no consumer with this id' },
  CREDENTIAL_NOT_FOUND: { status: 404, message: 'no credential with this id for this consumer' },
  TOKEN_NOT_FOUND: { status: 404, message: 'no admin token with this id' },
  VERSION_NOT_FOUND: { status: 404, message: 'no such config version' },
  API_NAME_TAKEN: { status: 409, message: 'an API with this name already exists' },
  ROUTE_CONFLICT: { status: 409, message: 'another API already serves this route' },
  CERTIFICATE_NAME_TAKEN: { status: 409, message: 'another certificate already serves one of these names' },
  CONSUMER_NAME_TAKEN: { status: 409, message: 'a consumer with this name already exists' },
  CREDENTIAL_TAKEN: { status: 409, message: 'another consumer already holds this credential' },
  TOKEN_NAME_TAKEN: { status: 409, message: 'another admin token has this name' },
  IDEMPOTENCY_KEY_IN_USE: {
    status: 409,
    message: 'another request with this Idempotency-Key was saved first; retry to get its answer',
  },
  REVERT_CONFLICT: {
    status: 409,
    message: 'an object this write touched was changed again since; nothing was reverted',
  },
  AUDIT_INCOMPLETE: { status: 409, message: 'the audit log does not hold every write this needs; nothing was changed' },
  SECRET_NOT_STORED: {
    status: 409,
    message:
      'this would put a certificate or credential whose private key or secret is no longer stored (the audit log and exports without secrets never hold one); nothing was changed',
  },
  SELECTOR_BUDGET_EXCEEDED: {
    status: 409,
    message:
      'this would store more selectors, or more selector memory, than each gateway process runs (--selector-max-programs, --selector-memory-mb); nothing was saved',
  },
  PRECONDITION_FAILED: {
    status: 412,
    message: 'If-Match does not name the stored version of the object; nothing was written',
  },
  BODY_TOO_LARGE: { status: 413, message: 'request body is too large' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'send the body as application/json' },
  IDEMPOTENCY_KEY_REUSED: {
    status: 422,
    message: 'this Idempotency-Key was used for another request; use a new key for a new request',
  },
  AUTH_THROTTLED: {
    status: 429,
    message: 'too many wrong admin tokens from this address; try again after Retry-After seconds',
  },
  SELECTOR_TRIALS_BUSY: {
    status: 429,
    message: 'too many selector runs are going at once; try again after Retry-After seconds',
  },
  CONFIG_PARSE_BUSY: {
    status: 429,
    message: 'too many large config files are being parsed at once; try again after Retry-After seconds',
  },
  INTERNAL_ERROR: { status: 500, message: 'internal error' },
  STORE_DATA_INVALID: {
    status: 500,
    message: 'a row stored in the config store is not valid (written outside isogate, or by a newer one); see the log',
  },
  STORE_UNAVAILABLE: {
    status: 503,
    message: 'the config store cannot be reached; nothing was written; try again shortly',
  },
  STORE_OUTCOME_UNKNOWN: {
    status: 503,
    message:
      'the connection to the config store was lost while the write was committing: it may or may not have been saved; read it back, or retry with the same Idempotency-Key',
  },
} as const satisfies Record<string, { status: number; message: string }>;

/** A stable admin error code. */
export type AdminErrorCode = keyof typeof adminErrors;

/** One field-level problem of a request. */
export interface ErrorDetail {
  /** Dotted path into the body (`nodes.0.weight`), or the parameter name. */
  path: string;
  message: string;
  line?: number;
  column?: number;
}

/** The JSON body of every admin error response. */
export interface ErrorBody {
  error: { code: AdminErrorCode; message: string; details?: ErrorDetail[] };
}

/** An error the admin API answers with as is. */
export class AdminError extends Error {
  override readonly name = 'AdminError';
  readonly statusCode: number;

  constructor(
    readonly code: AdminErrorCode,
    message: string = adminErrors[code].message,
    readonly details?: ErrorDetail[],
  ) {
    super(message);
    this.statusCode = adminErrors[code].status;
  }

  /** The response body. */
  toBody(): ErrorBody {
    return { error: { code: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) } };
  }
}

/** Field-level details of a zod failure; `prefix` names where the value came from when it is not the body. */
export function zodDetails(error: ZodError, prefix?: string): ErrorDetail[] {
  const details: ErrorDetail[] = [];
  for (const issue of error.issues) {
    const base = prefix === undefined ? issue.path : [prefix, ...issue.path];
    // One detail per unknown key, so the path points at the field to remove.
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) details.push({ path: joinPath([...base, key]), message: 'unknown field' });
    } else if (issue.code === 'invalid_key' && issue.issues[0] !== undefined) {
      // A record's key (a sample's header name): what is wrong with it, not zod's "Invalid key in record".
      details.push({ path: joinPath(base), message: `the key ${issue.issues[0].message}` });
    } else {
      details.push({ path: joinPath(base), message: issue.message });
    }
  }
  return details;
}

function joinPath(path: readonly PropertyKey[]): string {
  return path.map((p) => String(p)).join('.');
}

/** Maps anything thrown while handling an admin request to the AdminError it is answered with. */
export function toAdminError(err: unknown): AdminError {
  if (err instanceof AdminError) return err;
  // Before the ZodError case, and never 400: a stored row that does not read back is the store's
  // fault, not the request's (the row and the reason stay in the log).
  if (err instanceof StoredDataError) return new AdminError('STORE_DATA_INVALID');
  if (err instanceof ZodError) return new AdminError('VALIDATION_FAILED', undefined, zodDetails(err));
  if (err instanceof StoreConflictError || err instanceof StoreRefusedError)
    return new AdminError(err.code, err.message);
  if (err instanceof CertificateProblem || err instanceof CertificateConflictError)
    return new AdminError(err.code, err.message);
  // The default message only: the cause names database hosts and ports, which stay in the log.
  if (err instanceof StoreOutcomeUnknownError) return new AdminError('STORE_OUTCOME_UNKNOWN');
  if (err instanceof StoreUnavailableError) return new AdminError('STORE_UNAVAILABLE');
  const fastifyError = err as Partial<FastifyError>;
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new AdminError('BODY_TOO_LARGE');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new AdminError('UNSUPPORTED_MEDIA_TYPE');
  }
  const status = fastifyError.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new AdminError('BAD_REQUEST', fastifyError.message || adminErrors.BAD_REQUEST.message);
  }
  return new AdminError('INTERNAL_ERROR');
}

/** The admin scope's error handler: every failure becomes `{ error: { code, message, details? } }`. */
export function handleAdminError(err: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const adminError = toAdminError(err);
  if (adminError.statusCode >= 500) request.log.error({ err }, 'admin request failed');
  else if (refusalWorthLogging(adminError.code, request)) logRefusal(adminError.code, request);
  return reply.code(adminError.statusCode).send(adminError.toBody());
}

/**
 * Whether a refusal says something about who is probing: a wrong token (a request without one is a
 * scanner or a signed-out console; a throttled one was logged as its guesses were), or a role
 * that does not allow the route.
 */
function refusalWorthLogging(code: AdminErrorCode, request: FastifyRequest): boolean {
  return code === 'FORBIDDEN' || (code === 'UNAUTHORIZED' && request.headers.authorization !== undefined);
}

/** Logs a refused request at warn: the token (never its secret), the method and the path without its query. */
function logRefusal(code: AdminErrorCode, request: FastifyRequest): void {
  const actor = request.actor as Actor | null;
  const path = request.url.split('?', 1)[0];
  request.log.warn(
    {
      code,
      actor: actor === null ? null : { id: actor.id, name: actor.name, role: actor.role },
      method: request.method,
      path,
      ip: request.ip,
    },
    'admin request refused',
  );
}

/** The admin scope's 404 handler for unknown routes. */
export function handleAdminNotFound(_request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return reply.code(404).send(new AdminError('NOT_FOUND').toBody());
}
