import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { StoreUnavailableError } from '../errors.js';
import type { StoreHealth } from '../store.js';

/** The device and inode of a file, as `stat` gives them (bigint: an inode may not fit a double). */
interface Identity {
  readonly dev: bigint;
  readonly ino: bigint;
}

/** The identity of the file at `path` now, or null when nothing is there. */
function identityOf(path: string): Identity | null {
  const st = statSync(path, { bigint: true, throwIfNoEntry: false });
  return st === undefined ? null : { dev: st.dev, ino: st.ino };
}

/**
 * Whether the path of an open SQLite file still names the file the connection has open. A file
 * removed (a cleanup script) or replaced (a restore done with `mv`) under a running process stays
 * open and writable, but no later start reads what is committed into it: writes are refused instead
 * (StoreUnavailableError, nothing written) and the store's health says why. One `stat` per check.
 */
export class FileIdentity {
  private constructor(
    private readonly path: string,
    private readonly opened: Identity | null,
  ) {}

  /** Records the identity of `file` just after the connection opened it (none for an in-memory database). */
  static record(file: string): FileIdentity {
    const path = resolve(file);
    return new FileIdentity(path, file === ':memory:' || file === '' ? null : identityOf(path));
  }

  /** Why the path no longer names the open file, or null while it does. */
  problem(): string | null {
    if (this.opened === null) return null;
    let now: Identity | null;
    try {
      now = identityOf(this.path);
    } catch (err) {
      return `the SQLite file ${this.path} cannot be checked (${(err as Error).message})`;
    }
    if (now === null) return `the SQLite file ${this.path} was removed while this process had it open`;
    if (now.dev !== this.opened.dev || now.ino !== this.opened.ino)
      return `the SQLite file ${this.path} was replaced by another file while this process had it open`;
    return null;
  }

  /** Throws StoreUnavailableError (nothing written; restart to use the file now at the path) unless the path still names the open file. */
  requireSame(): void {
    const problem = this.problem();
    if (problem !== null) throw new StoreUnavailableError(`${problem}; restart isogate to use the file at that path`);
  }

  /** The store's health: not connected while the path no longer names the open file. */
  health(): StoreHealth {
    const problem = this.problem();
    return { connected: problem === null, lastError: problem };
  }
}
