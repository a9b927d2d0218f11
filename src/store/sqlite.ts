/**
 * SQLite implementation of the ObjectStore (better-sqlite3, WAL).
 *
 * Writes use group commit in two stages. Every write requested during one turn of the event loop
 * runs in one transaction, each in its own savepoint so that one failing write does not fail its
 * neighbours. The commit itself does not wait for the disk (synchronous=NORMAL); instead the WAL
 * file is fdatasync'd on libuv's thread pool, one sync at a time, and a write's promise resolves
 * only once a sync that began after its commit has finished. Writes committed while a sync runs
 * wait for the next one, so any number of them share one fsync, and the event loop keeps serving
 * requests meanwhile instead of blocking in fsync (as synchronous=FULL would).
 *
 * Deferred writes (deferAttribute) ride the same commits, but nobody waits for them: they run last
 * in the next transaction (one another write starts, or one started 20 ms later), on top of what
 * is committed then and of the batch's own updates, and get() shows them from the moment they are
 * queued.
 *
 * Beside it: sqlite-tables.ts (the rows, the prepared statements, what one write does to the
 * tables) and locate-query.ts (Locate as SQL).
 */
import fs from 'node:fs';
import Database from 'better-sqlite3';
import { MIGRATIONS, SCHEMA_VERSION } from './migrations';
import { decodeAttributeBlob, indexEntries } from './attribute-rows';
import { LocateStatements } from './locate-query';
import {
  BUSY_TIMEOUT_MS,
  applyDeferred,
  deleteEntry,
  insertObject,
  prepareStatements,
  updateObject,
  withDeferred,
  type ObjectRow,
  type Statements,
} from './sqlite-tables';
import {
  StoreError,
  type DigestSealing,
  type DeferredAttribute,
  type DeferredWrite,
  type LocateQuery,
  type ManagedObjectRecord,
  type NewObject,
  type ObjectStore,
  type ObjectUpdate,
} from './object-store';
import { openedFile, storeFileProblem, type OpenedFile, type StoreObserver, type WriteStats } from './sqlite-watch';
import { SqliteGrantStore } from './sqlite-grants';
import type { GrantStore } from './grants';

interface PendingWrite {
  /** Objects the write touches: their cached rows are dropped when it commits. */
  uids: readonly string[];
  run: () => void;
  resolve: () => void;
  reject: (e: unknown) => void;
  /** Set for a deferred write (deferAttribute): what it sets on which object. */
  readonly deferred?: { readonly uid: string; readonly attribute: DeferredAttribute };
}

export interface SqliteStoreOptions {
  /** Path of the database file; ':memory:' is refused (durability is the point). */
  readonly path: string;
  /** Objects whose rows are kept in memory for get() (least recently used go first); 0 disables. */
  readonly cachedObjects?: number;
  /**
   * Other processes write the same file (the server's workers). Cached rows are then trusted only
   * while SQLite's data_version says no other connection committed, and a write batch that finds
   * the write lock taken is retried shortly instead of waiting in SQLite's busy handler, which
   * would block the event loop.
   */
  readonly sharedWithOtherProcesses?: boolean;
  /** Told of each group commit and WAL sync (the server's metrics); absent: nothing is timed. */
  readonly observer?: StoreObserver;
}

/** Default size of the row cache: a few MB, and the working set of a busy storage array. */
const DEFAULT_CACHED_OBJECTS = 10_000;

/**
 * How long deferred writes wait for another write's commit before they start one themselves:
 * well under what a client notices, long enough for a sequential client's Gets to share commits.
 */
const DEFERRED_COMMIT_DELAY_MS = 20;

export class SqliteObjectStore implements ObjectStore, DigestSealing {
  private readonly db: Database.Database;
  /** Deferred writes not yet committed or given up (settled()). */
  private readonly deferredOutstanding = new Set<Promise<boolean>>();
  private pending: PendingWrite[] = [];
  /** Deferred writes for the next transaction, where they run after `pending`. */
  private deferredQueue: PendingWrite[] = [];
  /** Armed while deferred writes wait for a commit that no other write has brought yet. */
  private deferredTimer: NodeJS.Timeout | null = null;
  /** uid -> its deferred writes not yet committed, which get() applies to the committed row. */
  private readonly overlay = new Map<string, PendingWrite[]>();
  private commits = 0;
  private syncs = 0;
  private flushScheduled = false;
  private readonly inSavepoint: (fn: () => void) => void;
  private readonly stmts: Statements;
  /** uid -> committed row (no key material, only its wrapped form), least recently used first (a Map iterates in insertion order). */
  private readonly rowCache = new Map<string, ObjectRow>();
  /** Rows inserted by the open transaction: cached once it commits (a Get right after a Create reads no row). */
  private readonly insertedRows = new Map<string, ObjectRow>();
  private readonly cacheLimit: number;
  private readonly locateStatements: LocateStatements;
  /** The WAL file, for our own fdatasync after commits. */
  private readonly walFd: number;
  /** Committed writes waiting for the next sync to start. */
  private unsynced: PendingWrite[] = [];
  /** The writes the running sync will acknowledge; null when no sync runs. */
  private syncing: PendingWrite[] | null = null;
  private closed = false;
  /** Set when a sync failed: what is on disk is unknown, so no later write is acknowledged. */
  private syncFailure: StoreError | null = null;
  private readonly shared: boolean;
  /** data_version when the row cache was last known to match the database (shared mode). */
  private seenDataVersion = -1;
  /** Consecutive write batches that found the lock taken by another process. */
  private lockRetries = 0;
  private readonly observer: StoreObserver | undefined;
  private readonly file: OpenedFile;
  private grantStore: GrantStore | undefined;

  constructor(opts: SqliteStoreOptions) {
    this.observer = opts.observer;
    this.cacheLimit = opts.cachedObjects ?? DEFAULT_CACHED_OBJECTS;
    this.shared = opts.sharedWithOtherProcesses ?? false;
    try {
      this.db = new Database(opts.path);
    } catch (e) {
      throw new StoreError('IO', `cannot open store ${opts.path}: ${(e as Error).message}`);
    }
    this.db.pragma('journal_mode = WAL');
    // NORMAL: commits do not fsync; flush() syncs the WAL itself before acknowledging any write.
    // Checkpoints still fsync the WAL and the database file, as SQLite does in FULL mode.
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    this.migrate();
    this.inSavepoint = this.db.transaction((fn: () => void) => fn());
    this.stmts = prepareStatements(this.db);
    this.locateStatements = new LocateStatements(this.db);
    // Reading opens the WAL file if the migrations wrote nothing; it lives until close().
    this.db.prepare('SELECT count(*) FROM objects WHERE seq = 0').get();
    try {
      this.walFd = fs.openSync(`${opts.path}-wal`, 'r');
    } catch (e) {
      this.db.close();
      throw new StoreError('IO', `cannot open the write-ahead log of ${opts.path}: ${(e as Error).message}`);
    }
    this.file = openedFile(opts.path);
  }

  private migrate(): void {
    const current = this.db.pragma('user_version', { simple: true }) as number;
    if (current > SCHEMA_VERSION) {
      throw new StoreError(
        'SCHEMA',
        `store schema version ${current} is newer than this server supports (${SCHEMA_VERSION})`,
      );
    }
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue;
      this.db.transaction(() => {
        this.db.exec(m.sql);
        m.convert?.(this.db);
        this.db.pragma(`user_version = ${m.version}`);
      })();
    }
  }

  insert(obj: NewObject): Promise<void> {
    return this.enqueue([obj.uid], () => this.doInsert(obj));
  }

  update(uid: string, change: ObjectUpdate): Promise<void> {
    return this.enqueue([uid], () => updateObject(this.stmts, uid, change));
  }

  remove(uid: string): Promise<void> {
    return this.enqueue([uid], () => {
      const row = this.stmts.seqAndAttributes.get(uid) as { seq: number; attrs: Buffer } | undefined;
      if (row === undefined) return;
      for (const e of indexEntries(decodeAttributeBlob(row.attrs))) deleteEntry(this.stmts, row.seq, e);
      this.stmts.deleteObject.run(row.seq);
    });
  }

  writeBatch(ops: ReadonlyArray<{ insert: NewObject } | { uid: string; update: ObjectUpdate }>): Promise<void> {
    const uids = ops.map((op) => ('insert' in op ? op.insert.uid : op.uid));
    return this.enqueue(uids, () => {
      for (const op of ops) {
        if ('insert' in op) this.doInsert(op.insert);
        else updateObject(this.stmts, op.uid, op.update);
      }
    });
  }

  private doInsert(obj: NewObject): void {
    insertObject(this.stmts, obj, this.cacheLimit > 0 ? this.insertedRows : null);
  }

  /** Resolves once every deferred write made so far is committed or given up (tests, a clean stop). */
  async settled(): Promise<void> {
    await Promise.all([...this.deferredOutstanding]);
  }

  deferAttribute(uid: string, attribute: DeferredAttribute): DeferredWrite {
    let settle!: (durable: boolean) => void;
    const durable = new Promise<boolean>((r) => (settle = r));
    this.deferredOutstanding.add(durable);
    void durable.then(() => this.deferredOutstanding.delete(durable));
    if (this.closed || this.syncFailure !== null) {
      settle(false);
      return { durable, cancel: () => undefined };
    }
    const w: PendingWrite = {
      uids: [uid],
      run: () => applyDeferred(this.stmts, uid, attribute),
      resolve: () => settle(true),
      reject: () => settle(false),
      deferred: { uid, attribute },
    };
    this.deferredQueue.push(w);
    const list = this.overlay.get(uid);
    if (list === undefined) this.overlay.set(uid, [w]);
    else list.push(w);
    this.armDeferredFlush();
    return {
      durable,
      cancel: () => {
        const i = this.deferredQueue.indexOf(w);
        if (i < 0) return; // committed already (or failed): an Undo puts the object back itself
        this.deferredQueue.splice(i, 1);
        this.dropOverlay(w);
        settle(false);
      },
    };
  }

  private dropOverlay(w: PendingWrite): void {
    const uid = w.deferred!.uid;
    const list = this.overlay.get(uid);
    if (list === undefined) return;
    const rest = list.filter((x) => x !== w);
    if (rest.length === 0) this.overlay.delete(uid);
    else this.overlay.set(uid, rest);
  }

  /** For tests and operators: how many commits and syncs the store has done, and what waits. */
  writeStats(): WriteStats {
    return { commits: this.commits, syncs: this.syncs, deferredQueued: this.deferredQueue.length };
  }

  private enqueue(uids: readonly string[], run: () => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ uids, run, resolve, reject });
      this.scheduleFlush();
    });
  }

  /**
   * Deferred writes do not start a commit of their own at once: they ride the next one another
   * write starts, or, if none comes, one a short while later. A client fetching its keys one after
   * another then has its Fresh writes committed a few dozen at a time, not one commit (and its
   * WAL frames and sync) per Get.
   */
  private armDeferredFlush(): void {
    if (this.deferredTimer !== null || this.closed) return;
    this.deferredTimer = setTimeout(() => {
      this.deferredTimer = null;
      // If a sync runs, its end flushes them (startSync's callback).
      if (this.deferredQueue.length > 0) this.scheduleFlush();
    }, DEFERRED_COMMIT_DELAY_MS);
    // Nothing to wait for at exit: close() commits what is queued.
    this.deferredTimer.unref();
  }

  private scheduleFlush(): void {
    // While a sync runs, writes gather: its completion commits them all in one transaction.
    if (!this.flushScheduled && this.syncing === null) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Runs every queued write in one transaction, then hands the committed ones to the WAL sync. */
  private flush(): void {
    this.flushScheduled = false;
    // One commit per sync: fewer, larger transactions write each shared B-tree page once.
    if (this.syncing !== null && !this.closed) return;
    const regular = this.pending;
    const deferred = this.deferredQueue;
    this.pending = [];
    this.deferredQueue = [];
    if (this.deferredTimer !== null) {
      clearTimeout(this.deferredTimer);
      this.deferredTimer = null;
    }
    // Deferred writes last: they apply on top of the batch's updates (applyDeferred).
    const batch = regular.concat(deferred);
    if (batch.length === 0) return;
    if (this.syncFailure !== null) {
      for (const w of deferred) this.dropOverlay(w);
      for (const w of batch) w.reject(this.syncFailure);
      return;
    }
    if (!this.beginWrite()) {
      // Another process holds the write lock: keep the batch (in order) and try again shortly.
      this.pending = regular.concat(this.pending);
      this.deferredQueue = deferred.concat(this.deferredQueue);
      this.retryFlush();
      return;
    }
    let failures: Map<PendingWrite, unknown>;
    const started = this.observer && process.hrtime.bigint();
    try {
      failures = this.runWrites(batch);
      if (failures.size === batch.length) {
        this.stmts.rollback.run();
        this.insertedRows.clear();
      } else {
        this.stmts.commit.run();
        this.commits++;
        if (started) this.observer!.committed(batch.length, Number(process.hrtime.bigint() - started) / 1e9);
      }
    } catch (e) {
      this.insertedRows.clear();
      if (this.db.inTransaction) this.stmts.rollback.run();
      // The commit itself failed (disk full, I/O error): nothing of this batch is durable. A
      // deferred write is then lost, which no client was promised otherwise.
      const err = new StoreError('IO', `store commit failed: ${(e as Error).message}`);
      for (const w of deferred) this.dropOverlay(w);
      for (const w of batch) w.reject(err);
      return;
    }
    // Committed (or failed): from now on get() reads what the database has.
    for (const w of deferred) this.dropOverlay(w);
    // Committed: later reads of these objects go to the database (a rolled-back savepoint
    // changed nothing, but dropping its rows too costs one read), except an object inserted by a
    // write that succeeded and the only one of the batch to touch it: its row is known as written.
    const touches = new Map<string, number>();
    for (const w of batch) for (const uid of w.uids) touches.set(uid, (touches.get(uid) ?? 0) + 1);
    for (const w of batch) {
      for (const uid of w.uids) {
        this.rowCache.delete(uid);
        const inserted = this.insertedRows.get(uid);
        if (inserted !== undefined && touches.get(uid) === 1 && !failures.has(w)) this.cacheRow(inserted);
      }
    }
    this.insertedRows.clear();
    for (const w of batch) {
      const failure = failures.get(w);
      if (failure !== undefined) w.reject(failure);
      else this.unsynced.push(w);
    }
    this.startSync();
  }

  /**
   * Runs a batch's writes inside its open transaction; returns the ones that failed, with their
   * errors, having undone what each of them wrote. Writes rarely fail, so they first run together
   * under one savepoint; only if one fails does the batch go again, each write in a savepoint of
   * its own, so that it alone fails (the writes read what they change, so running again is safe).
   */
  private runWrites(batch: readonly PendingWrite[]): Map<PendingWrite, unknown> {
    const failures = new Map<PendingWrite, unknown>();
    // A lone write needs no savepoint: if it fails, flush() rolls the transaction back.
    if (batch.length === 1) {
      try {
        batch[0]!.run();
      } catch (e) {
        if (!this.db.inTransaction) throw e;
        failures.set(batch[0]!, e);
      }
      return failures;
    }
    this.stmts.savepointBatch.run();
    try {
      for (const w of batch) w.run();
      this.stmts.releaseBatch.run();
      return failures;
    } catch (e) {
      // SQLITE_FULL or an I/O error can roll back the whole transaction, not only a savepoint:
      // then every write of the batch is gone. Fail the batch.
      if (!this.db.inTransaction) throw e;
      this.stmts.rollbackToBatch.run();
      this.stmts.releaseBatch.run();
    }
    for (const w of batch) {
      try {
        this.inSavepoint(w.run);
      } catch (e) {
        if (!this.db.inTransaction) throw e;
        failures.set(w, e);
      }
    }
    return failures;
  }

  /**
   * Opens the batch's transaction. Alone on the file, a plain BEGIN (SQLite takes the write lock
   * at the first write). Shared with other processes, BEGIN IMMEDIATE without waiting: false when
   * another process holds the lock. Taking it up front also spares a batch whose first statement
   * reads from failing with SQLITE_BUSY_SNAPSHOT when another process commits meanwhile.
   */
  private beginWrite(): boolean {
    if (!this.shared || this.closed) {
      this.stmts.begin.run();
      return true;
    }
    this.stmts.noBusyWait.run();
    try {
      this.stmts.beginImmediate.run();
      this.lockRetries = 0;
      return true;
    } catch (e) {
      if ((e as { code?: string }).code === 'SQLITE_BUSY') return false;
      throw e;
    } finally {
      this.stmts.busyWait.run();
    }
  }

  private retryFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // The holder's transaction is one synchronous batch (a few ms at most): look again at once,
    // then every millisecond, serving requests in between.
    if (this.lockRetries++ === 0) setImmediate(() => this.flush());
    else setTimeout(() => this.flush(), 1);
  }

  /** One fdatasync of the WAL at a time; it acknowledges the writes committed before it began. */
  private startSync(): void {
    if (this.syncing !== null || this.unsynced.length === 0 || this.closed) return;
    const covered = this.unsynced;
    this.syncing = covered;
    this.unsynced = [];
    const started = this.observer && process.hrtime.bigint();
    fs.fdatasync(this.walFd, (err) => {
      this.syncing = null;
      if (started && !err) this.observer!.synced(Number(process.hrtime.bigint() - started) / 1e9);
      if (this.closed) return; // close() synced and settled these itself
      if (err) this.failSync(err, covered);
      else {
        this.syncs++;
        for (const w of covered) w.resolve();
      }
      // Deferred writes alone wait for their timer, unless it fired during the sync.
      if (this.pending.length > 0 || (this.deferredQueue.length > 0 && this.deferredTimer === null)) this.flush();
      else this.startSync();
    });
  }

  private failSync(err: Error, covered: readonly PendingWrite[]): void {
    // After a failed fsync the kernel may have dropped the dirty pages: nothing can be promised.
    this.syncFailure = new StoreError('IO', `store sync failed (${err.message}); writes are refused until a restart`);
    for (const w of [...covered, ...this.unsynced.splice(0)]) w.reject(this.syncFailure);
  }

  /** Answered from the row cache or the local file: no I/O to wait for, so the promise settles in one microtask. */
  async get(uid: string): Promise<ManagedObjectRecord | undefined> {
    return this.record(uid);
  }

  private record(uid: string): ManagedObjectRecord | undefined {
    const row = this.readRow(uid);
    if (!row) return undefined;
    // Decoded afresh on every call: callers own the record they get (decoding copies byte strings).
    let attrs = decodeAttributeBlob(row.attrs);
    // Deferred writes not yet committed show at once (in this process: other workers see them
    // when they commit, and Locate, which reads the database, too). The revision stays the
    // committed one: an update computed from this record goes through if it commits in the same
    // transaction (before the deferred write, which then has nothing to do), and is refused as
    // stale, then run again, if the deferred write committed first.
    const deferred = this.overlay.get(uid);
    if (deferred !== undefined) attrs = withDeferred(attrs, deferred.map((w) => w.deferred!.attribute)) ?? attrs;
    return {
      uid: row.uid,
      objectType: row.object_type,
      state: row.state,
      owner: row.owner,
      seq: row.seq,
      revision: row.rev,
      digestMac: row.digest_mac === null ? null : Buffer.from(row.digest_mac),
      sealedDigest:
        row.digest_ciphertext && row.digest_iv && row.digest_kek_id && row.digest_mechanism
          ? { kekId: row.digest_kek_id, mechanism: row.digest_mechanism, iv: Buffer.from(row.digest_iv), ciphertext: Buffer.from(row.digest_ciphertext) }
          : null,
      attributes: attrs,
      protectedMaterial:
        row.ciphertext && row.iv && row.kek_id && row.mechanism
          ? { kekId: row.kek_id, mechanism: row.mechanism, iv: Buffer.from(row.iv), ciphertext: Buffer.from(row.ciphertext) }
          : null,
    };
  }

  /** The committed row of an object, from the cache or the database. */
  private readRow(uid: string): ObjectRow | undefined {
    if (this.shared) this.dropCacheIfOthersWrote();
    const hit = this.rowCache.get(uid);
    if (hit !== undefined) {
      this.rowCache.delete(uid);
      this.rowCache.set(uid, hit);
      return hit;
    }
    const row = this.stmts.getObject.get(uid) as ObjectRow | undefined;
    if (!row) return undefined;
    this.cacheRow(row);
    return row;
  }

  private cacheRow(row: ObjectRow): void {
    if (this.cacheLimit === 0) return;
    this.rowCache.set(row.uid, row);
    if (this.rowCache.size > this.cacheLimit) this.rowCache.delete(this.rowCache.keys().next().value as string);
  }

  /** data_version changes when another connection commits: then no cached row can be trusted. */
  private dropCacheIfOthersWrote(): void {
    const version = this.stmts.dataVersion.get() as number;
    if (version === this.seenDataVersion) return;
    this.rowCache.clear();
    this.seenDataVersion = version;
  }

  /** Synchronous underneath (better-sqlite3): the promise settles in one microtask. */
  async locate(query: LocateQuery): Promise<string[]> {
    return this.locateStatements.run(query);
  }

  needsDigestSealing(): boolean {
    return this.db.prepare(`SELECT 1 FROM store_tasks WHERE name = 'seal-digests'`).get() !== undefined;
  }

  async recordsAfter(afterSeq: number, limit: number): Promise<ManagedObjectRecord[]> {
    const uids = this.db.prepare('SELECT uid FROM objects WHERE seq > ? ORDER BY seq LIMIT ?').pluck().all(afterSeq, limit) as string[];
    return uids.map((uid) => this.record(uid)!);
  }

  finishDigestSealing(): void {
    if (this.pending.length > 0 || this.deferredQueue.length > 0 || this.syncing !== null || this.unsynced.length > 0) {
      throw new StoreError('IO', 'the store is busy: finish the Digest conversion before serving');
    }
    this.db.exec('VACUUM');
    this.db.pragma('wal_checkpoint(TRUNCATE)');
    this.db.exec(`DELETE FROM store_tasks WHERE name = 'seal-digests'`);
    // The deletion is the one write left: synced like any acknowledged write.
    fs.fdatasyncSync(this.walFd);
    this.rowCache.clear();
  }

  /** The grants kept in this store file (store/grants.ts); their writes are synced like any acknowledged write. */
  grants(): GrantStore {
    return (this.grantStore ??= new SqliteGrantStore(this.db, () => fs.fdatasyncSync(this.walFd)));
  }

  /** For tests and operators: SQLite's own consistency check. */
  integrityCheck(): string {
    return this.db.pragma('integrity_check', { simple: true }) as string;
  }

  /** The KEKs the stored objects (and the Digests kept of destroyed ones) are wrapped under (checked against the HSM at start). */
  kekIds(): string[] {
    const sql = 'SELECT kek_id FROM objects WHERE kek_id IS NOT NULL UNION SELECT digest_kek_id FROM objects WHERE digest_kek_id IS NOT NULL';
    return (this.db.prepare(sql).pluck().all() as string[]);
  }

  /** Why the store cannot serve now (closed, a failed WAL sync, its file: sqlite-watch.ts), or undefined. */
  unusableReason(): string | undefined {
    if (this.closed) return 'the store is closed';
    return this.syncFailure?.message ?? storeFileProblem(this.file, () => this.stmts.probeRead.get());
  }

  close(): void {
    // A sync may be running on the thread pool; the one below covers it and everything after.
    this.closed = true;
    if (this.deferredTimer !== null) clearTimeout(this.deferredTimer);
    // Deferred writes too: a clean stop keeps them.
    if (this.pending.length > 0 || this.deferredQueue.length > 0) this.flush();
    const waiting = [...(this.syncing ?? []), ...this.unsynced.splice(0)];
    try {
      fs.fdatasyncSync(this.walFd);
      for (const w of waiting) w.resolve();
    } catch (e) {
      this.failSync(e as Error, waiting);
    }
    this.db.close();
    fs.closeSync(this.walFd);
  }
}
