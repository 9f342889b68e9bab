import { createRequire } from 'node:module';
import type { Logger } from 'pino';

/** Signals a serving isogate process ignores (with a warning) instead of Node's default action. */
export const IGNORED_SIGNALS = ['SIGHUP', 'SIGUSR1', 'SIGUSR2'] as const;

/** How often, and how long apart, a SIGUSR1 is followed by a check that no inspector was opened. */
const INSPECTOR_CHECKS = 5;
const INSPECTOR_CHECK_MS = 100;

interface InspectorModule {
  url(): string | undefined;
  close(): void;
}

/** `node:inspector`, or null in a Node built without it (importing it would throw there). */
function inspectorModule(): InspectorModule | null {
  if (!process.features.inspector) return null;
  try {
    return createRequire(import.meta.url)('node:inspector') as InspectorModule;
  } catch {
    return null;
  }
}

/**
 * Keeps a stray signal from changing a serving process:
 *
 * - SIGHUP (a terminal hang-up, an nginx-style "reload") and SIGUSR2 would end the process (Node's
 *   default action). isogate reloads its config by itself, so there is nothing to reload: it logs a
 *   warning and serves on.
 * - SIGUSR1 makes Node open its inspector on 127.0.0.1:9229, which runs any code a local user sends
 *   it in this process (admin token, store credentials); Node 20 has no `--disable-sigusr1`. A
 *   listener of its own replaces Node's handler (libuv takes the signal over), so no inspector is
 *   started; as a safety net, an inspector found open afterwards that was not open when the guard
 *   was installed (`--inspect` on purpose) is closed, checked a few times over half a second.
 */
export function ignoreStraySignals(log: Logger): void {
  const inspector = inspectorModule();
  const openedOnPurpose = inspector?.url() !== undefined;
  for (const signal of IGNORED_SIGNALS) {
    process.on(signal, () => {
      log.warn(
        { signal },
        signal === 'SIGUSR1'
          ? 'SIGUSR1 ignored: no inspector is opened (isogate reopens no log files; its logs go to stdout)'
          : `${signal} ignored: isogate reloads its config by itself; stop it with SIGTERM`,
      );
      if (signal === 'SIGUSR1' && inspector && !openedOnPurpose) closeInspector(inspector, INSPECTOR_CHECKS);
    });
  }
}

function closeInspector(inspector: InspectorModule, checksLeft: number): void {
  if (inspector.url() !== undefined) inspector.close();
  if (checksLeft > 1) setTimeout(() => closeInspector(inspector, checksLeft - 1), INSPECTOR_CHECK_MS).unref();
}
