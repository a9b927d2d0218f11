/**
 * What the SQLite store tells about its own work (for tests, operators and the server's metrics),
 * and the readiness check of its file. Apart from sqlite.ts so that file stays about storing.
 */
import fs from 'node:fs';

/** Counters of the store's own work, for tests and operators. */
export interface WriteStats {
  /** Transactions committed. */
  readonly commits: number;
  /** fdatasyncs of the WAL completed (each acknowledges the writes committed before it began). */
  readonly syncs: number;
  /** Deferred writes queued and not yet committed. */
  readonly deferredQueued: number;
}

/** Told as it happens (the server's metrics). */
export interface StoreObserver {
  /** A transaction committed `writes` writes in `seconds` (before its WAL sync). */
  committed(writes: number, seconds: number): void;
  /** One fdatasync of the WAL took `seconds`. */
  synced(seconds: number): void;
}

export interface ObjectCount {
  readonly objectType: number;
  readonly state: number;
  readonly count: number;
}

/** The database file as opened: its path and what the path named then. */
export interface OpenedFile {
  readonly path: string;
  readonly dev: number;
  readonly ino: number;
}

export function openedFile(path: string): OpenedFile {
  const st = fs.statSync(path);
  return { path, dev: st.dev, ino: st.ino };
}

/**
 * Why the store's file cannot serve, or undefined: gone or replaced under the running server
 * (writes would go to a file no one opens again), or a read that fails.
 */
export function storeFileProblem(file: OpenedFile, read: () => unknown): string | undefined {
  let st: fs.Stats;
  try {
    st = fs.statSync(file.path);
  } catch (e) {
    return `the store file ${file.path} is gone (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`;
  }
  if (st.dev !== file.dev || st.ino !== file.ino) return `the store file ${file.path} was replaced under the running server`;
  try {
    read();
    return undefined;
  } catch (e) {
    return `the store cannot be read: ${(e as Error).message}`;
  }
}
