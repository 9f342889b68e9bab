// The row mapping every driver shares: both schemas store the same columns with the same meaning
// (JSON as text, ISO 8601 timestamps as text). Only booleans differ on the way out. The rows live in
// sibling modules by kind; this module re-exports them all, so drivers import from one place.

export type { SqlBoolean } from './sql-boolean.js';
export {
  apiFromRow,
  apiToRow,
  nodeFromRow,
  nodeToRow,
  selectorToText,
  selectorVersionFromRow,
  type ApiRow,
  type NodeRow,
  type SelectorVersionRow,
} from './api-rows.js';
export {
  CERTIFICATE_COLUMNS,
  CONSUMER_COLUMNS,
  certificateFromRow,
  certificateValues,
  consumerFromRow,
  consumerToRow,
  variableFromRow,
  type CertificateRow,
  type ConsumerRow,
  type VariableRow,
} from './record-rows.js';
export {
  PROCESS_BEAT_COLUMNS,
  TOKEN_COLUMNS,
  processBeatValues,
  processFromRow,
  processesFromRows,
  tokenFromRow,
  tokenToRow,
  type ProcessRow,
  type TokenRow,
} from './cluster-rows.js';
