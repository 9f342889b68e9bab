import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Where the README and docs pages take their screenshots from (committed). */
export const DOC_SCREENSHOT_DIR = join(root, 'docs', 'screenshots');

/**
 * The browser tests' screenshots that the docs show: the name a test gives `screenshot()` → the file
 * under `docs/screenshots/`. With `UPDATE_SCREENSHOTS=1` a test run writes them there too.
 */
export const DOC_SCREENSHOTS: Readonly<Record<string, string>> = {
  'desktop-apis': 'apis.png',
  'desktop-nodes': 'nodes.png',
  'desktop-traffic': 'traffic.png',
  'desktop-selector': 'selector.png',
  'desktop-variables': 'variables.png',
  'desktop-cluster': 'cluster.png',
  'desktop-audit': 'audit.png',
  'desktop-outage-banner': 'outage-banner.png',
};

/** Copies a just-taken screenshot into `docs/screenshots/` when it is one the docs show and UPDATE_SCREENSHOTS=1. */
export function updateDocScreenshot(name: string, file: string): void {
  const target = DOC_SCREENSHOTS[name];
  if (target === undefined || process.env.UPDATE_SCREENSHOTS !== '1') return;
  mkdirSync(DOC_SCREENSHOT_DIR, { recursive: true });
  copyFileSync(file, join(DOC_SCREENSHOT_DIR, target));
}
