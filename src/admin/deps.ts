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
  /** The built web console served at `/` (default `web/dist` under the package root). */
  consoleDir?: string;
  /** Where `GET /admin/selector-templates` reads its `*.js` files (default `scripts-examples/`). */
  templatesDir?: string;
}
