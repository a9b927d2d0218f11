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
 */
import fs from 'node:fs';
import Database from 'better-sqlite3';
import { encodeTtlv } from '../../ttlv/encode';
import { ItemType, type TtlvItem } from '../../ttlv/types';
import { MIGRATIONS, SCHEMA_VERSION } from './migrations';
import {
  attributeNumber,
  attributeSearchKey,
  attributesMatch,
  decodeAttributeBlob,
  encodeAttributeBlob,
  patchBareValue,
  entryKey,
  indexEntries,
  isIndexed,
  type IndexEntry,
} from './attribute-rows';
import {
  StoreError,
  type DigestSealing,
  type DeferredAttribute,
  type DeferredWrite,
  type LocateCondition,
  type LocateQuery,
  type ManagedObjectRecord,
  type NewObject,
  type ObjectStore,
  type ObjectUpdate,
  type StoredAttribute,
} from './object-store';

interface ObjectRow {
  seq: number;
  uid: string;
  object_type: number;
  state: number;
  owner: string;
  kek_id: string | null;
  mechanism: string | null;
  iv: Buffer | null;
  ciphertext: Buffer | null;
  attrs: Buffer;
  rev: number;
  digest_mac: Buffer | null;
  digest_kek_id: string | null;
  digest_mechanism: string | null;
  digest_iv: Buffer | null;
  digest_ciphertext: Buffer | null;
}

interface PendingWrite {
  /** Objects the write touches: their cached rows are dropped when it commits. */
  uids: readonly string[];
  run: () => void;
  resolve: () => void;
  reject: (e: unknown) => void;
  /** Set for a deferred write (deferAttribute): what it sets on which object. */
  readonly deferred?: { readonly uid: string; readonly attribute: DeferredAttribute };
}

/** Counters of the store's own work, for tests and operators. */
export interface WriteStats {
  /** Transactions committed. */
  readonly commits: number;
  /** fdatasyncs of the WAL completed (each acknowledges the writes committed before it began). */
  readonly syncs: number;
  /** Deferred writes queued and not yet committed. */
  readonly deferredQueued: number;
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
}


const ROW_COLUMNS =
  'seq, uid, object_type, state, owner, kek_id, mechanism, iv, ciphertext, attrs, rev, digest_mac, digest_kek_id, digest_mechanism, digest_iv, digest_ciphertext';

/** Default size of the row cache: a few MB, and the working set of a busy storage array. */
const DEFAULT_CACHED_OBJECTS = 10_000;

/**
 * How long deferred writes wait for another write's commit before they start one themselves:
 * well under what a client notices, long enough for a sequential client's Gets to share commits.
 */
const DEFERRED_COMMIT_DELAY_MS = 20;

/** How long a read (or a blocking write) waits for a lock another connection holds. */
const BUSY_TIMEOUT_MS = 5000;

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
  private readonly stmts: ReturnType<SqliteObjectStore['prepare']>;
  /** uid -> committed row (no key material, only its wrapped form), least recently used first (a Map iterates in insertion order). */
  private readonly rowCache = new Map<string, ObjectRow>();
  /** Rows inserted by the open transaction: cached once it commits (a Get right after a Create reads no row). */
  private readonly insertedRows = new Map<string, ObjectRow>();
  private readonly cacheLimit: number;
  /** Compiled Locate queries by SQL text (the shapes clients use repeat). */
  private readonly locateStatements = new Map<string, Database.Statement>();
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

  constructor(opts: SqliteStoreOptions) {
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
    this.stmts = this.prepare();
    // Reading opens the WAL file if the migrations wrote nothing; it lives until close().
    this.db.prepare('SELECT count(*) FROM objects WHERE seq = 0').get();
    try {
      this.walFd = fs.openSync(`${opts.path}-wal`, 'r');
    } catch (e) {
      this.db.close();
      throw new StoreError('IO', `cannot open the write-ahead log of ${opts.path}: ${(e as Error).message}`);
    }
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

  private prepare() {
    const db = this.db;
    return {
      insertObject: db.prepare(
        `INSERT INTO objects (uid, object_type, state, owner, kek_id, mechanism, iv, ciphertext, attrs, digest_mac,
                              digest_kek_id, digest_mechanism, digest_iv, digest_ciphertext, created_at, updated_at)
         VALUES (@uid, @objectType, @state, @owner, @kekId, @mechanism, @iv, @ciphertext, @attrs, @digestMac,
                 @digestKekId, @digestMechanism, @digestIv, @digestCiphertext, @now, @now)`,
      ),
      insertText: db.prepare(`INSERT INTO attr_text (name, skey, object_seq, idx) VALUES (?, ?, ?, ?)`),
      insertNumber: db.prepare(`INSERT INTO attr_num (name, nval, object_seq, idx) VALUES (?, ?, ?, ?)`),
      deleteText: db.prepare(`DELETE FROM attr_text WHERE name = ? AND skey = ? AND object_seq = ? AND idx = ?`),
      deleteNumber: db.prepare(`DELETE FROM attr_num WHERE name = ? AND nval = ? AND object_seq = ? AND idx = ?`),
      deleteObject: db.prepare(`DELETE FROM objects WHERE seq = ?`),
      updateState: db.prepare(`UPDATE objects SET state = ?, updated_at = ? WHERE seq = ?`),
      updateAttributes: db.prepare(`UPDATE objects SET attrs = ?, updated_at = ? WHERE seq = ?`),
      bumpRevision: db.prepare(`UPDATE objects SET rev = rev + 1 WHERE seq = ?`),
      updateAttributesAndRevision: db.prepare(`UPDATE objects SET attrs = ?, updated_at = ?, rev = rev + 1 WHERE seq = ?`),
      updateMaterial: db.prepare(
        `UPDATE objects SET kek_id = ?, mechanism = ?, iv = ?, ciphertext = ?, updated_at = ? WHERE seq = ?`,
      ),
      updateDigestMac: db.prepare(`UPDATE objects SET digest_mac = ? WHERE seq = ?`),
      updateSealedDigest: db.prepare(`UPDATE objects SET digest_kek_id = ?, digest_mechanism = ?, digest_iv = ?, digest_ciphertext = ? WHERE seq = ?`),
      getObject: db.prepare(
        `SELECT ${ROW_COLUMNS} FROM objects WHERE uid = ?`,
      ),
      seqAndAttributes: db.prepare(`SELECT seq, attrs, rev FROM objects WHERE uid = ?`),
      dataVersion: db.prepare('PRAGMA data_version').pluck(),
      begin: db.prepare('BEGIN'),
      beginImmediate: db.prepare('BEGIN IMMEDIATE'),
      commit: db.prepare('COMMIT'),
      rollback: db.prepare('ROLLBACK'),
      savepointBatch: db.prepare('SAVEPOINT batch'),
      releaseBatch: db.prepare('RELEASE batch'),
      rollbackToBatch: db.prepare('ROLLBACK TO batch'),
      noBusyWait: db.prepare('PRAGMA busy_timeout = 0'),
      busyWait: db.prepare(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`),
    };
  }

  insert(obj: NewObject): Promise<void> {
    return this.enqueue([obj.uid], () => this.doInsert(obj));
  }

  update(uid: string, change: ObjectUpdate): Promise<void> {
    return this.enqueue([uid], () => this.doUpdate(uid, change));
  }

  remove(uid: string): Promise<void> {
    return this.enqueue([uid], () => {
      const row = this.stmts.seqAndAttributes.get(uid) as { seq: number; attrs: Buffer } | undefined;
      if (row === undefined) return;
      for (const e of indexEntries(decodeAttributeBlob(row.attrs))) this.deleteEntry(row.seq, e);
      this.stmts.deleteObject.run(row.seq);
    });
  }

  writeBatch(ops: ReadonlyArray<{ insert: NewObject } | { uid: string; update: ObjectUpdate }>): Promise<void> {
    const uids = ops.map((op) => ('insert' in op ? op.insert.uid : op.uid));
    return this.enqueue(uids, () => {
      for (const op of ops) {
        if ('insert' in op) this.doInsert(op.insert);
        else this.doUpdate(op.uid, op.update);
      }
    });
  }

  private doInsert(obj: NewObject): void {
    const m = obj.protectedMaterial;
    const row: Omit<ObjectRow, 'seq'> = {
      uid: obj.uid,
      object_type: obj.objectType,
      state: obj.state,
      owner: obj.owner,
      kek_id: m?.kekId ?? null,
      mechanism: m?.mechanism ?? null,
      iv: m ? Buffer.from(m.iv) : null,
      ciphertext: m ? Buffer.from(m.ciphertext) : null,
      attrs: encodeAttributeBlob(obj.attributes),
      rev: 0,
      digest_mac: obj.digestMac ? Buffer.from(obj.digestMac) : null,
      digest_kek_id: obj.sealedDigest?.kekId ?? null,
      digest_mechanism: obj.sealedDigest?.mechanism ?? null,
      digest_iv: obj.sealedDigest ? Buffer.from(obj.sealedDigest.iv) : null,
      digest_ciphertext: obj.sealedDigest ? Buffer.from(obj.sealedDigest.ciphertext) : null,
    };
    let seq: number;
    try {
      seq = Number(
        this.stmts.insertObject.run({
          uid: row.uid,
          objectType: row.object_type,
          state: row.state,
          owner: row.owner,
          kekId: row.kek_id,
          mechanism: row.mechanism,
          iv: row.iv,
          ciphertext: row.ciphertext,
          attrs: row.attrs,
          digestMac: row.digest_mac,
          digestKekId: row.digest_kek_id,
          digestMechanism: row.digest_mechanism,
          digestIv: row.digest_iv,
          digestCiphertext: row.digest_ciphertext,
          now: Date.now(),
        }).lastInsertRowid,
      );
      if (this.cacheLimit > 0) this.insertedRows.set(row.uid, { ...row, seq });
    } catch (e) {
      if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') {
        throw new StoreError('EXISTS', `object ${obj.uid} already exists`);
      }
      throw e;
    }
    for (const e of indexEntries(obj.attributes)) this.insertEntry(seq, e);
  }

  private doUpdate(uid: string, change: ObjectUpdate): void {
    const row = this.stmts.seqAndAttributes.get(uid) as { seq: number; attrs: Buffer; rev: number } | undefined;
    if (row === undefined) throw new StoreError('NOT_FOUND', `object ${uid} not found`);
    if (change.expectedRevision !== null && change.expectedRevision !== row.rev) {
      throw new StoreError('CONFLICT', `object ${uid} changed since it was read`, uid);
    }
    const seq = row.seq;
    const now = Date.now();
    this.stmts.bumpRevision.run(seq);
    if (change.state !== undefined) this.stmts.updateState.run(change.state, now, seq);
    if (change.protectedMaterial !== undefined) {
      const m = change.protectedMaterial;
      this.stmts.updateMaterial.run(
        m?.kekId ?? null,
        m?.mechanism ?? null,
        m ? Buffer.from(m.iv) : null,
        m ? Buffer.from(m.ciphertext) : null,
        now,
        seq,
      );
    }
    if (change.digestMac !== undefined) this.stmts.updateDigestMac.run(change.digestMac ? Buffer.from(change.digestMac) : null, seq);
    if (change.sealedDigest !== undefined) {
      const d = change.sealedDigest;
      this.stmts.updateSealedDigest.run(d?.kekId ?? null, d?.mechanism ?? null, d ? Buffer.from(d.iv) : null, d ? Buffer.from(d.ciphertext) : null, seq);
    }
    if (change.attributes !== undefined) this.replaceAttributes(seq, row.attrs, change.attributes, now);
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
      run: () => this.runDeferred(uid, attribute),
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

  /**
   * A deferred write, run last in its transaction: on the object as committed by then, including
   * the transaction's own updates, so one computed from a read before the deferral does not put
   * the old value back (and one computed after it already carries the value). Nothing to do if
   * the object is gone or has the value; otherwise the revision moves on like any update's.
   */
  private runDeferred(uid: string, attribute: DeferredAttribute): void {
    const row = this.stmts.seqAndAttributes.get(uid) as { seq: number; attrs: Buffer; rev: number } | undefined;
    if (row === undefined) return;
    if (!isIndexed(attribute.name)) {
      const patched = patchBareValue(row.attrs, attribute.value);
      if (patched === 'same') return;
      if (patched !== undefined) {
        this.stmts.updateAttributesAndRevision.run(patched, Date.now(), row.seq);
        return;
      }
    }
    const attributes = withDeferred(decodeAttributeBlob(row.attrs), [attribute]);
    if (attributes === undefined) return;
    if (isIndexed(attribute.name)) {
      this.stmts.bumpRevision.run(row.seq);
      this.replaceAttributes(row.seq, row.attrs, attributes, Date.now());
    } else {
      // No index entry changes (Fresh has none): one statement, no index comparison.
      this.stmts.updateAttributesAndRevision.run(encodeAttributeBlob(attributes), Date.now(), row.seq);
    }
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

  /**
   * Writes the new attribute blob and changes only the index entries that differ: a state change
   * touches one or two entries of an object's dozen.
   */
  private replaceAttributes(seq: number, oldBlob: Buffer, attributes: readonly StoredAttribute[], now: number): void {
    const blob = encodeAttributeBlob(attributes);
    if (blob.equals(oldBlob)) return;
    this.stmts.updateAttributes.run(blob, now, seq);
    const old = new Map<string, IndexEntry>();
    for (const e of indexEntries(decodeAttributeBlob(oldBlob))) old.set(entryKey(e), e);
    for (const e of indexEntries(attributes)) {
      if (!old.delete(entryKey(e))) this.insertEntry(seq, e);
    }
    for (const e of old.values()) this.deleteEntry(seq, e);
  }

  private insertEntry(seq: number, e: IndexEntry): void {
    if (e.number === null) this.stmts.insertText.run(e.name, e.text, seq, e.index);
    else this.stmts.insertNumber.run(e.name, e.number, seq, e.index);
  }

  private deleteEntry(seq: number, e: IndexEntry): void {
    if (e.number === null) this.stmts.deleteText.run(e.name, e.text, seq, e.index);
    else this.stmts.deleteNumber.run(e.name, e.number, seq, e.index);
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
    // Deferred writes last: they apply on top of the batch's updates (runDeferred).
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
    try {
      failures = this.runWrites(batch);
      if (failures.size === batch.length) {
        this.stmts.rollback.run();
        this.insertedRows.clear();
      } else {
        this.stmts.commit.run();
        this.commits++;
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
    fs.fdatasync(this.walFd, (err) => {
      this.syncing = null;
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
    const where: string[] = [];
    const params: unknown[] = [];
    if (query.owner !== undefined) {
      where.push('o.owner = ?');
      params.push(query.owner);
    }
    if (query.objectType !== undefined) {
      where.push('o.object_type = ?');
      params.push(query.objectType);
    }
    if (query.states && query.states.length > 0) {
      where.push(`o.state IN (${query.states.map(() => '?').join(',')})`);
      params.push(...query.states);
    }
    // Conditions on attributes without index entries are checked on the candidates' blobs.
    const onBlob: LocateCondition[] = [];
    for (const c of query.conditions) {
      if (c.kind === 'digest' || !isIndexed(c.name)) {
        onBlob.push(c);
        continue;
      }
      const [sql, p] = conditionSql(c);
      where.push(sql);
      params.push(...p);
    }
    const order = query.order === 'oldest' ? 'ASC' : 'DESC';
    const columns = onBlob.length > 0 ? 'o.uid, o.attrs, o.digest_mac' : 'o.uid';
    let sql = `SELECT ${columns} FROM objects o${where.length ? ' WHERE ' + where.join(' AND ') : ''} ORDER BY o.seq ${order}`;
    const paged = onBlob.length === 0 && (query.limit !== undefined || query.offset !== undefined);
    if (paged) {
      sql += ' LIMIT ? OFFSET ?';
      params.push(query.limit ?? -1, query.offset ?? 0);
    }
    const stmt = this.locateStatement(sql, onBlob.length === 0);
    if (onBlob.length === 0) return stmt.all(...params) as string[];
    // Offset and limit count matches, so they apply after the blob conditions.
    const out: string[] = [];
    let skip = query.offset ?? 0;
    const limit = query.limit ?? Infinity;
    if (limit <= 0) return out;
    for (const row of stmt.iterate(...params) as IterableIterator<{ uid: string; attrs: Buffer; digest_mac: Buffer | null }>) {
      const attributes = decodeAttributeBlob(row.attrs);
      const withheld = (c: LocateCondition) => c.kind === 'digest' && row.digest_mac !== null && row.digest_mac.equals(c.mac);
      if (!onBlob.every((c) => attributesMatch(attributes, c) || withheld(c))) continue;
      if (skip > 0) {
        skip--;
        continue;
      }
      out.push(row.uid);
      if (out.length >= limit) break;
    }
    return out;
  }

  private locateStatement(sql: string, pluck: boolean): Database.Statement {
    let stmt = this.locateStatements.get(sql);
    if (stmt === undefined) {
      stmt = this.db.prepare(sql);
      if (pluck) stmt.pluck();
      // Bounded: conditions vary, but a client's query shapes are few.
      if (this.locateStatements.size >= 256) this.locateStatements.clear();
      this.locateStatements.set(sql, stmt);
    }
    return stmt;
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

  /** For tests and operators: SQLite's own consistency check. */
  integrityCheck(): string {
    return this.db.pragma('integrity_check', { simple: true }) as string;
  }

  /** The KEKs the stored objects (and the Digests kept of destroyed ones) are wrapped under (checked against the HSM at start). */
  kekIds(): string[] {
    const sql = 'SELECT kek_id FROM objects WHERE kek_id IS NOT NULL UNION SELECT digest_kek_id FROM objects WHERE digest_kek_id IS NOT NULL';
    return (this.db.prepare(sql).pluck().all() as string[]);
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

/**
 * `attrs` with each deferred attribute set, where the object has it (one instance, in the place of
 * the first); undefined when that changes nothing.
 */
function withDeferred(attrs: readonly StoredAttribute[], changes: readonly DeferredAttribute[]): StoredAttribute[] | undefined {
  let out: StoredAttribute[] | undefined;
  for (const c of changes) {
    const current = out ?? attrs;
    const instances = current.filter((a) => a.name === c.name);
    if (instances.length === 0) continue;
    if (instances.length === 1 && sameItem(instances[0]!.value, c.value)) continue;
    let placed = false;
    out = current.flatMap((a) => {
      if (a.name !== c.name) return [a];
      if (placed) return [];
      placed = true;
      return [{ name: c.name, index: 0, value: c.value }];
    });
  }
  return out;
}

function sameItem(a: TtlvItem, b: TtlvItem): boolean {
  if (a.tag !== b.tag || a.type !== b.type) return false;
  if (a.type === ItemType.Structure || a.type === ItemType.ByteString) return Buffer.from(encodeTtlv(a)).equals(Buffer.from(encodeTtlv(b)));
  return a.value === b.value;
}

function conditionSql(c: Exclude<LocateCondition, { kind: 'digest' }>): [string, unknown[]] {
  // `o.seq IN (...)` lets SQLite drive the query from an index table (name, value, object_seq)
  // and fetch objects by rowid, instead of visiting every object of the owner.
  const text = (test: string) => `o.seq IN (SELECT a.object_seq FROM attr_text a WHERE a.name = ? AND ${test})`;
  const number = (test: string) => `o.seq IN (SELECT a.object_seq FROM attr_num a WHERE a.name = ? AND ${test})`;
  switch (c.kind) {
    case 'equals': {
      const n = attributeNumber(c.value);
      return n === null ? [text('a.skey = ?'), [c.name, attributeSearchKey(c.value)]] : [number('a.nval = ?'), [c.name, n]];
    }
    case 'equalsAny': {
      const numbers = c.values.map(attributeNumber);
      const marks = c.values.map(() => '?').join(',');
      if (numbers.every((n) => n !== null)) return [number(`a.nval IN (${marks})`), [c.name, ...numbers]];
      return [text(`a.skey IN (${marks})`), [c.name, ...c.values.map(attributeSearchKey)]];
    }
    case 'range': {
      const tests: string[] = [];
      const p: unknown[] = [c.name];
      if (c.min !== undefined) {
        tests.push('a.nval >= ?');
        p.push(c.min);
      }
      if (c.max !== undefined) {
        tests.push('a.nval <= ?');
        p.push(c.max);
      }
      return [number(tests.length ? tests.join(' AND ') : '1'), p];
    }
    case 'maskContains':
      return [number('(a.nval & ?) = ?'), [c.name, c.bits, c.bits]];
    case 'absent':
      // The objects that have it are few for the attributes this is asked of (Archive Date): one
      // pass over them, not a probe per candidate.
      return [
        `o.seq NOT IN (SELECT object_seq FROM attr_text WHERE name = ? UNION ALL SELECT object_seq FROM attr_num WHERE name = ?)`,
        [c.name, c.name],
      ];
  }
}
