/**
 * Online snapshots of the SQLite store for `backup`, and the reads `restore` does on one: a second
 * connection (another process may be serving from the file), SQLite's online backup API in steps.
 * The store is in WAL mode: each step is a short read transaction that never takes the write lock,
 * so the serving process keeps reading and writing throughout. A write by another process between
 * steps restarts the copy (SQLite's rule, so the snapshot is consistent); after a few restarts the
 * rest is copied in one step, one longer read transaction that still blocks no writer.
 */
import Database from 'better-sqlite3';
import { SCHEMA_VERSION } from './migrations';

/** Pages per backup step (4 KiB pages: 16 MiB), then a yield to the event loop. */
const PAGES_PER_STEP = 4096;
/** Restarts tolerated before the remainder is copied in a single step. */
const MAX_RESTARTS = 3;
const ALL_PAGES = 0x7fffffff;

export interface SnapshotProgress {
  readonly totalPages: number;
  readonly remainingPages: number;
}

export interface SnapshotResult {
  readonly pages: number;
  /** How often a write by another process restarted the copy. */
  readonly restarts: number;
}

/** Copies the store at `source` into the new file `dest` (which must not exist). */
export async function snapshotStore(source: string, dest: string, onProgress?: (p: SnapshotProgress) => void): Promise<SnapshotResult> {
  const db = new Database(source, { readonly: true, fileMustExist: true });
  try {
    let restarts = 0;
    let lastRemaining = Number.POSITIVE_INFINITY;
    const meta = await db.backup(dest, {
      progress: (p) => {
        // A restart copies from the first page again: the step made no headway.
        if (p.remainingPages >= lastRemaining) restarts++;
        lastRemaining = p.remainingPages;
        onProgress?.(p);
        // better-sqlite3 takes no negative step ("all"): the largest count it accepts means the same.
        return restarts >= MAX_RESTARTS ? ALL_PAGES : PAGES_PER_STEP;
      },
    });
    return { pages: meta.totalPages, restarts };
  } finally {
    db.close();
  }
}

export interface StoreInventory {
  readonly schemaVersion: number;
  readonly objects: number;
  /** Object Type enumeration value (decimal) -> count. */
  readonly objectTypes: Record<string, number>;
  /** KEK id -> rows whose material, and rows whose withheld Digest, are wrapped under it. */
  readonly keks: Map<string, { objects: number; digests: number }>;
}

/** What a store file (a snapshot, or a restored store) holds, by type and by KEK. */
export function storeInventory(file: string): StoreInventory {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const schemaVersion = db.pragma('user_version', { simple: true }) as number;
    const objectTypes: Record<string, number> = {};
    let objects = 0;
    for (const r of db.prepare('SELECT object_type AS t, count(*) AS n FROM objects GROUP BY object_type').all() as { t: number; n: number }[]) {
      objectTypes[String(r.t)] = r.n;
      objects += r.n;
    }
    const keks = new Map<string, { objects: number; digests: number }>();
    const entry = (id: string) => keks.get(id) ?? keks.set(id, { objects: 0, digests: 0 }).get(id)!;
    for (const r of db.prepare('SELECT kek_id AS k, count(*) AS n FROM objects WHERE kek_id IS NOT NULL GROUP BY kek_id').all() as { k: string; n: number }[]) entry(r.k).objects = r.n;
    for (const r of db.prepare('SELECT digest_kek_id AS k, count(*) AS n FROM objects WHERE digest_kek_id IS NOT NULL GROUP BY digest_kek_id').all() as { k: string; n: number }[]) entry(r.k).digests = r.n;
    return { schemaVersion, objects, objectTypes, keks };
  } finally {
    db.close();
  }
}

/** Whether this build can serve a store of that schema version (an older one is migrated at start). */
export function schemaSupported(version: number): boolean {
  return version <= SCHEMA_VERSION;
}

/** Objects in the store at `file`; 0 when there is no store there yet. */
export function storeObjectCount(file: string): number {
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
  } catch {
    return 0;
  }
  try {
    const has = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'objects'`).get();
    return has ? (db.prepare('SELECT count(*) FROM objects').pluck().get() as number) : 0;
  } finally {
    db.close();
  }
}

/** One row's wrapped blobs, as `restore` unwraps them to prove the token can serve it. */
export interface WrappedRow {
  readonly uid: string;
  readonly objectType: number;
  readonly material: { kekId: string; mechanism: string; iv: Buffer; ciphertext: Buffer } | null;
  readonly digest: { kekId: string; mechanism: string; iv: Buffer; ciphertext: Buffer } | null;
}

/** Every row's wrapped blobs, in batches (bounded memory for large stores). */
export function* wrappedRows(file: string, batch = 1000): Generator<WrappedRow[]> {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const stmt = db.prepare(
      `SELECT seq, uid, object_type, kek_id, mechanism, iv, ciphertext, digest_kek_id, digest_mechanism, digest_iv, digest_ciphertext
       FROM objects WHERE seq > ? ORDER BY seq LIMIT ?`,
    );
    let after = 0;
    for (;;) {
      const rows = stmt.all(after, batch) as {
        seq: number; uid: string; object_type: number; kek_id: string | null; mechanism: string | null; iv: Buffer | null; ciphertext: Buffer | null;
        digest_kek_id: string | null; digest_mechanism: string | null; digest_iv: Buffer | null; digest_ciphertext: Buffer | null;
      }[];
      if (rows.length === 0) return;
      after = rows[rows.length - 1]!.seq;
      yield rows.map((r) => ({
        uid: r.uid,
        objectType: r.object_type,
        material: r.kek_id && r.mechanism && r.iv && r.ciphertext ? { kekId: r.kek_id, mechanism: r.mechanism, iv: r.iv, ciphertext: r.ciphertext } : null,
        digest:
          r.digest_kek_id && r.digest_mechanism && r.digest_iv && r.digest_ciphertext
            ? { kekId: r.digest_kek_id, mechanism: r.digest_mechanism, iv: r.digest_iv, ciphertext: r.digest_ciphertext }
            : null,
      }));
    }
  } finally {
    db.close();
  }
}
