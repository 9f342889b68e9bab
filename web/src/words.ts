// Words the console shows for codes the server sends. Pure data and string functions, so a unit test
// can hold the gateway table against src/gateway/errors.ts.

/** What each gateway error code means (the same table as `src/gateway/errors.ts` and the README). */
export const GATEWAY_ERROR_WORDS: Record<string, string> = {
  ROUTE_NOT_FOUND: 'No API matches this host, method and path.',
  METHOD_NOT_ALLOWED: 'The API does not accept this method.',
  BODY_TOO_LARGE: 'The request body is larger than this API accepts.',
  IP_FORBIDDEN: "The API does not accept requests from this client's address.",
  CORS_FORBIDDEN: 'The API does not allow this cross-origin request.',
  AUTH_REQUIRED: 'The API requires authentication.',
  AUTH_FAILED: 'The credentials are not valid for this API.',
  CONSUMER_FORBIDDEN: 'This consumer may not call the API.',
  RATE_LIMITED: 'Too many requests; retry after the time in Retry-After.',
  AUTH_BUSY: 'Too many credential checks are in progress; retry shortly.',
  RATE_LIMIT_UNAVAILABLE: 'The shared rate limit cannot be checked and the API refuses without it.',
  NO_ENABLED_NODE: 'The API has no enabled node.',
  RULES_EXCLUDED_ALL: "No node's rules hold for the current variables.",
  SELECTOR_EMPTY: 'The selector returned no node for this request.',
  SELECTOR_FAILED: 'The selector failed and the API rejects on selector errors.',
  SELECTOR_OVER_BUDGET: "The API's selector is not running: it is past this gateway process's selector budget.",
  NO_HEALTHY_NODE: 'Every candidate node is unhealthy and the API rejects in panic mode.',
  UPSTREAM_CONNECT_FAILED: 'Could not connect to the chosen node.',
  ALL_NODES_TRIED: 'Every candidate node was tried and none could be reached.',
  UPSTREAM_TIMEOUT: 'The node did not answer in time.',
  UPSTREAM_ERROR: 'The node closed the connection or sent an invalid response.',
  NOT_READY: 'The gateway has not loaded its configuration yet.',
  INTERNAL_ERROR: 'The gateway failed while handling the request.',
  BAD_REQUEST: 'The request is not valid HTTP/1.1.',
  REQUEST_TIMEOUT: 'The request head did not arrive in time.',
  BODY_TIMEOUT: 'The request body stopped arriving before it was complete.',
  URI_TOO_LONG: 'The request line is longer than the gateway accepts.',
  EXPECTATION_FAILED: 'The gateway supports no expectation but 100-continue.',
  HEADERS_TOO_LARGE: 'The request head is larger than the gateway accepts.',
  TRANSFER_CODING_UNSUPPORTED: 'The request uses a transfer coding other than chunked.',
  HTTP_VERSION_UNSUPPORTED: 'The gateway speaks HTTP/1.0 and HTTP/1.1 only.',
  TOO_MANY_CONNECTIONS: 'The gateway holds as many client connections as it accepts.',
  CLIENT_CONNECTION_LIMIT: 'This address holds as many connections as the gateway accepts from one client.',
  HEAD_MEMORY_FULL: 'Unfinished request heads hold all the memory the gateway gives them.',
  UPSTREAM_QUEUE_FULL: 'Too many requests are waiting for a connection to the chosen node.',
  UPSTREAM_QUEUE_TIMEOUT: 'No connection to the chosen node became free in time.',
  UPSTREAM_SOCKETS_EXHAUSTED:
    'The gateway holds as many connections to nodes as it may, all busy, and none became free in time.',
  GATEWAY_OUT_OF_FILES: 'The gateway has no open file left for a connection to the node.',
};

/** Selector failure kinds in words. */
export const SELECTOR_ERROR_KINDS: Record<string, string> = {
  compile: 'does not compile',
  throw: 'threw an error',
  timeout: 'ran out of time',
  memory: 'ran out of memory',
  crash: 'crashed its sandbox',
  'bad-result': 'returned something that is not a list of the given nodes',
  quarantined: 'is quarantined',
  unavailable: 'could not run (no sandbox free)',
};

// Admin error codes whose message belongs next to one field of the form.
const CODE_FIELDS: Record<string, string> = {
  API_NAME_TAKEN: 'name',
  ROUTE_CONFLICT: 'path',
  CERTIFICATE_INVALID: 'certificate',
  CHAIN_INVALID: 'certificate',
  CERTIFICATE_EXPIRED: 'certificate',
  CERTIFICATE_NOT_YET_VALID: 'certificate',
  CERTIFICATE_NO_NAMES: 'certificate',
  CERTIFICATE_WEAK: 'certificate',
  CERTIFICATE_KEY_UNSUPPORTED: 'certificate',
  CERTIFICATE_NAME_TAKEN: 'certificate',
  PRIVATE_KEY_INVALID: 'privateKey',
  KEY_MISMATCH: 'privateKey',
  TOKEN_NAME_TAKEN: 'name',
  CONSUMER_NAME_TAKEN: 'name',
};

/** The form field an admin error without details is about, if any. */
export function fieldOfCode(code: string): string | undefined {
  return CODE_FIELDS[code];
}

/** Admin error codes in words, for errors that are about the whole form. */
const CODE_WORDS: Record<string, string> = {
  NETWORK: 'Could not reach the admin API. Is isogate running?',
  API_NOT_FOUND: 'This API no longer exists; someone may have deleted it.',
  NODE_NOT_FOUND: 'This node no longer exists; someone may have deleted it.',
  VARIABLE_NOT_FOUND: 'This variable no longer exists.',
  SELECTOR_VERSION_NOT_FOUND: 'That selector version is no longer kept.',
  SELECTOR_NOT_FOUND: 'This API has no selector any more; someone may have removed it.',
  TOKEN_NOT_FOUND: 'This admin token no longer exists; someone may have revoked it.',
  TOKEN_NAME_TAKEN: 'Another admin token has this name (names are unique regardless of case).',
  BODY_TOO_LARGE: 'What you sent is too large.',
  INTERNAL_ERROR: 'The admin API failed; see the isogate log.',
};

/** The sentence to show for an admin error as a whole. */
export function errorSentence(code: string, message: string): string {
  const words = CODE_WORDS[code];
  if (words) return words;
  return sentence(message);
}

/** Capitalises and ends with a full stop. */
export function sentence(text: string): string {
  const t = text.trim();
  if (t === '') return t;
  const cap = t.charAt(0).toUpperCase() + t.slice(1);
  return /[.!?)]$/.test(cap) ? cap : cap + '.';
}

/**
 * Turns a validation message from the admin API (zod's wording) into plain words for the field it is
 * shown next to: "Too small: expected string to have >=1 characters" becomes "Required.".
 */
export function fieldMessage(message: string): string {
  let m: RegExpMatchArray | null;
  if (/received undefined$/.test(message) || /expected string to have >=1 characters?$/.test(message))
    return 'Required.';
  if ((m = message.match(/expected string to have >=(\d+) characters?$/))) return `Use at least ${m[1]} characters.`;
  if ((m = message.match(/expected string to have <=(\d+) characters?$/))) return `Use at most ${m[1]} characters.`;
  if ((m = message.match(/expected array to have >=(\d+) items?$/)))
    return m[1] === '1' ? 'Add at least one.' : `Add at least ${m[1]}.`;
  if ((m = message.match(/expected array to have <=(\d+) items?$/))) return `At most ${m[1]} are allowed.`;
  if ((m = message.match(/expected number to be >=?(-?[\d.]+)$/))) return `Must be at least ${m[1]}.`;
  if ((m = message.match(/expected number to be <=?(-?[\d.]+)$/))) return `Must be at most ${m[1]}.`;
  if (/expected int, received/.test(message)) return 'Must be a whole number.';
  if (/expected number, received/.test(message)) return 'Must be a number.';
  if (/expected boolean, received/.test(message)) return 'Must be on or off.';
  if ((m = message.match(/expected one of (.+)$/)))
    return `Choose one of: ${m[1]!.replace(/"/g, '').split('|').join(', ')}.`;
  if (message === 'unknown field') return 'This field is not accepted here.';
  return sentence(message);
}
