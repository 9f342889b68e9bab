import type { Logger } from 'pino';
import type { Store } from '../store/store.js';
import type { AdminRuntime } from './runtime.js';

/** What the admin API is built from. */
export interface AdminDeps {
  store: Store;
  /** The bearer token every `/admin/*` request must present. */
  token: string;
  runtime: AdminRuntime;
  logger: Logger;
}
