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
 */
import fs from 'node:fs';
import Database from 'better-sqlite3';
import { encodeTtlv } from '../../ttlv/encode';
import { decodeTtlv } from '../../ttlv/decode';
import { ItemType, type TtlvItem } from '../../ttlv/types';
import { MIGRATIONS, SCHEMA_VERSION } from './migrations';
import {
  StoreError,
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
}

interface AttributeRow {
  name: string;
  idx: number;
  ttlv: Buffer;
}

interface PendingWrite {
  /** Objects the write touches: their cached rows are dropped when it commits. */
  uids: readonly string[];
  run: () => void;
  resolve: () => void;
  reject: (e: unknown) => void;
}

/** Canonical text of a value for equality matching in Locate. */
export function attributeSearchKey(value: TtlvItem): string {
  switch (value.type) {
    case ItemType.TextString:
      return value.value;
    case ItemType.ByteString:
      return Buffer.from(value.value).toString('hex');
    case ItemType.Boolean:
      return value.value ? '1' : '0';
    case ItemType.Structure:
      // Structures (Name, Link, ...) match as a whole: tag-independent encoding of the children.
      return value.value.map((c) => Buffer.from(encodeTtlv(c)).toString('hex')).join('');
    default:
      return value.value.toString();
  }
}

/** Numeric value for ranges and masks, where the type has one. */
function attributeNumber(value: TtlvItem): bigint | null {
  switch (value.type) {
    case ItemType.Integer:
    case ItemType.Enumeration:
    case ItemType.Interval:
      return BigInt(value.value);
    case ItemType.LongInteger:
    case ItemType.DateTime:
    case ItemType.DateTimeExtended:
      return value.value;
    default:
      return null;
  }
}

export interface SqliteStoreOptions {
  /** Path of the database file; ':memory:' is refused (durability is the point). */
  readonly path: string;
  /** Objects whose rows are kept in memory for get() (least recently used go first); 0 disables. */
  readonly cachedObjects?: number;
}

/** The rows of one object as read from the database: no key material, only its wrapped form. */
interface CachedRows {
  readonly object: ObjectRow;
  readonly attributes: readonly AttributeRow[];
}

/** Default size of the row cache: a few MB, and the working set of a busy storage array. */
const DEFAULT_CACHED_OBJECTS = 10_000;

export class SqliteObjectStore implements ObjectStore {
  private readonly db: Database.Database;
  private pending: PendingWrite[] = [];
  private flushScheduled = false;
  private readonly inSavepoint: (fn: () => void) => void;
  private readonly stmts: ReturnType<SqliteObjectStore['prepare']>;
  /** uid -> rows, in least-recently-used order (a Map iterates in insertion order). */
  private readonly rowCache = new Map<string, CachedRows>();
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

  constructor(opts: SqliteStoreOptions) {
    this.cacheLimit = opts.cachedObjects ?? DEFAULT_CACHED_OBJECTS;
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
    this.db.pragma('busy_timeout = 5000');
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
        this.db.pragma(`user_version = ${m.version}`);
      })();
    }
  }

  private prepare() {
    const db = this.db;
    return {
      insertObject: db.prepare(
        `INSERT INTO objects (uid, object_type, state, owner, kek_id, mechanism, iv, ciphertext, created_at, updated_at)
         VALUES (@uid, @objectType, @state, @owner, @kekId, @mechanism, @iv, @ciphertext, @now, @now)`,
      ),
      insertAttribute: db.prepare(
        `INSERT INTO attributes (object_seq, name, idx, ttlv, skey, nval) VALUES (?, ?, ?, ?, ?, ?)`,
      ),
      deleteAttribute: db.prepare(`DELETE FROM attributes WHERE object_seq = ? AND name = ? AND idx = ?`),
      deleteObject: db.prepare(`DELETE FROM objects WHERE uid = ?`),
      seqOf: db.prepare(`SELECT seq FROM objects WHERE uid = ?`).pluck(),
      updateState: db.prepare(`UPDATE objects SET state = ?, updated_at = ? WHERE seq = ?`),
      updateMaterial: db.prepare(
        `UPDATE objects SET kek_id = ?, mechanism = ?, iv = ?, ciphertext = ?, updated_at = ? WHERE seq = ?`,
      ),
      getObject: db.prepare(
        `SELECT seq, uid, object_type, state, owner, kek_id, mechanism, iv, ciphertext FROM objects WHERE uid = ?`,
      ),
      getAttributes: db.prepare(`SELECT name, idx, ttlv FROM attributes WHERE object_seq = ? ORDER BY name, idx`),
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
      // Attributes go with the object (ON DELETE CASCADE).
      this.stmts.deleteObject.run(uid);
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
    let seq: number;
    try {
      seq = Number(
        this.stmts.insertObject.run({
          uid: obj.uid,
          objectType: obj.objectType,
          state: obj.state,
          owner: obj.owner,
          kekId: m?.kekId ?? null,
          mechanism: m?.mechanism ?? null,
          iv: m ? Buffer.from(m.iv) : null,
          ciphertext: m ? Buffer.from(m.ciphertext) : null,
          now: Date.now(),
        }).lastInsertRowid,
      );
    } catch (e) {
      if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') {
        throw new StoreError('EXISTS', `object ${obj.uid} already exists`);
      }
      throw e;
    }
    this.writeAttributes(seq, obj.attributes);
  }

  private doUpdate(uid: string, change: ObjectUpdate): void {
    const seq = this.stmts.seqOf.get(uid) as number | undefined;
    if (seq === undefined) throw new StoreError('NOT_FOUND', `object ${uid} not found`);
    const now = Date.now();
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
    if (change.attributes !== undefined) this.replaceAttributes(seq, change.attributes);
  }

  /**
   * Rewrites only the attribute rows that changed: a state change touches two or three of an
   * object's twenty rows, and every row costs three B-tree updates.
   */
  private replaceAttributes(seq: number, attributes: readonly StoredAttribute[]): void {
    const old = new Map<string, Buffer>();
    for (const row of this.stmts.getAttributes.all(seq) as AttributeRow[]) old.set(`${row.idx}:${row.name}`, row.ttlv);
    for (const a of attributes) {
      const encoded = Buffer.from(encodeTtlv(a.value));
      const key = `${a.index}:${a.name}`;
      const before = old.get(key);
      old.delete(key);
      if (before !== undefined) {
        if (before.equals(encoded)) continue;
        this.stmts.deleteAttribute.run(seq, a.name, a.index);
      }
      this.insertAttribute(seq, a, encoded);
    }
    for (const key of old.keys()) {
      const colon = key.indexOf(':');
      this.stmts.deleteAttribute.run(seq, key.slice(colon + 1), Number(key.slice(0, colon)));
    }
  }

  private writeAttributes(seq: number, attributes: readonly StoredAttribute[]): void {
    for (const a of attributes) this.insertAttribute(seq, a, Buffer.from(encodeTtlv(a.value)));
  }

  private insertAttribute(seq: number, a: StoredAttribute, encoded: Buffer): void {
    const number = attributeNumber(a.value);
    // A row sits in one of the two value indexes (see migration 2): numbers by value, the rest by text.
    this.stmts.insertAttribute.run(seq, a.name, a.index, encoded, number === null ? attributeSearchKey(a.value) : '', number);
  }

  private enqueue(uids: readonly string[], run: () => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ uids, run, resolve, reject });
      // While a sync runs, writes gather: its completion commits them all in one transaction.
      if (!this.flushScheduled && this.syncing === null) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Runs every queued write in one transaction, then hands the committed ones to the WAL sync. */
  private flush(): void {
    this.flushScheduled = false;
    // One commit per sync: fewer, larger transactions write each shared B-tree page once.
    if (this.syncing !== null && !this.closed) return;
    const batch = this.pending;
    this.pending = [];
    if (this.syncFailure !== null) {
      for (const w of batch) w.reject(this.syncFailure);
      return;
    }
    const failures = new Map<PendingWrite, unknown>();
    try {
      this.db.transaction(() => {
        for (const w of batch) {
          try {
            if (batch.length === 1) w.run();
            else this.inSavepoint(w.run);
          } catch (e) {
            // SQLITE_FULL or an I/O error can roll back the whole transaction, not only the
            // savepoint: then every write of the batch is gone, and the ones after this must not
            // run as transactions of their own. Fail the batch.
            if (!this.db.inTransaction) throw e;
            failures.set(w, e);
          }
        }
      })();
    } catch (e) {
      // The commit itself failed (disk full, I/O error): nothing of this batch is durable.
      const err = new StoreError('IO', `store commit failed: ${(e as Error).message}`);
      for (const w of batch) w.reject(err);
      return;
    }
    // Committed: later reads of these objects go to the database (a rolled-back savepoint
    // changed nothing, but dropping its rows too costs one read).
    for (const w of batch) for (const uid of w.uids) this.rowCache.delete(uid);
    for (const w of batch) {
      const failure = failures.get(w);
      if (failure !== undefined) w.reject(failure);
      else this.unsynced.push(w);
    }
    this.startSync();
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
      else for (const w of covered) w.resolve();
      if (this.pending.length > 0) this.flush();
      else this.startSync();
    });
  }

  private failSync(err: Error, covered: readonly PendingWrite[]): void {
    // After a failed fsync the kernel may have dropped the dirty pages: nothing can be promised.
    this.syncFailure = new StoreError('IO', `store sync failed (${err.message}); writes are refused until a restart`);
    for (const w of [...covered, ...this.unsynced.splice(0)]) w.reject(this.syncFailure);
  }

  get(uid: string): ManagedObjectRecord | undefined {
    const rows = this.readRows(uid);
    if (!rows) return undefined;
    const row = rows.object;
    // Decoded afresh on every call: callers own the record they get (decoding copies byte strings).
    const attrs = rows.attributes.map(
      (a): StoredAttribute => ({ name: a.name, index: a.idx, value: decodeTtlv(a.ttlv) }),
    );
    return {
      uid: row.uid,
      objectType: row.object_type,
      state: row.state,
      owner: row.owner,
      seq: row.seq,
      attributes: attrs,
      protectedMaterial:
        row.ciphertext && row.iv && row.kek_id && row.mechanism
          ? { kekId: row.kek_id, mechanism: row.mechanism, iv: Buffer.from(row.iv), ciphertext: Buffer.from(row.ciphertext) }
          : null,
    };
  }

  /** The committed rows of an object, from the cache or the database. */
  private readRows(uid: string): CachedRows | undefined {
    const hit = this.rowCache.get(uid);
    if (hit !== undefined) {
      this.rowCache.delete(uid);
      this.rowCache.set(uid, hit);
      return hit;
    }
    const object = this.stmts.getObject.get(uid) as ObjectRow | undefined;
    if (!object) return undefined;
    const rows: CachedRows = { object, attributes: this.stmts.getAttributes.all(object.seq) as AttributeRow[] };
    if (this.cacheLimit > 0) {
      this.rowCache.set(uid, rows);
      if (this.rowCache.size > this.cacheLimit) this.rowCache.delete(this.rowCache.keys().next().value as string);
    }
    return rows;
  }

  locate(query: LocateQuery): string[] {
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
    for (const c of query.conditions) {
      const [sql, p] = conditionSql(c);
      where.push(sql);
      params.push(...p);
    }
    const order = query.order === 'oldest' ? 'ASC' : 'DESC';
    let sql = `SELECT o.uid FROM objects o${where.length ? ' WHERE ' + where.join(' AND ') : ''} ORDER BY o.seq ${order}`;
    if (query.limit !== undefined || query.offset !== undefined) {
      sql += ' LIMIT ? OFFSET ?';
      params.push(query.limit ?? -1, query.offset ?? 0);
    }
    let stmt = this.locateStatements.get(sql);
    if (stmt === undefined) {
      stmt = this.db.prepare(sql).pluck();
      // Bounded: conditions vary, but a client's query shapes are few.
      if (this.locateStatements.size >= 256) this.locateStatements.clear();
      this.locateStatements.set(sql, stmt);
    }
    return stmt.all(...params) as string[];
  }

  /** For tests and operators: SQLite's own consistency check. */
  integrityCheck(): string {
    return this.db.pragma('integrity_check', { simple: true }) as string;
  }

  close(): void {
    // A sync may be running on the thread pool; the one below covers it and everything after.
    this.closed = true;
    if (this.pending.length > 0) this.flush();
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

function conditionSql(c: LocateCondition): [string, unknown[]] {
  // `o.seq IN (...)` lets SQLite drive the query from the attribute index (name, skey/nval)
  // and fetch objects by rowid, instead of visiting every object of the owner.
  const matching = (test: string) => `o.seq IN (SELECT a.object_seq FROM attributes a WHERE a.name = ? AND ${test})`;
  switch (c.kind) {
    case 'equals': {
      // Numbers match on nval, everything else on skey: each has its own partial index.
      const number = attributeNumber(c.value);
      return number === null
        ? [matching('a.nval IS NULL AND a.skey = ?'), [c.name, attributeSearchKey(c.value)]]
        : [matching('a.nval = ?'), [c.name, number]];
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
      return [matching(tests.length ? tests.join(' AND ') : 'a.nval IS NOT NULL'), p];
    }
    case 'maskContains':
      return [matching('a.nval IS NOT NULL AND (a.nval & ?) = ?'), [c.name, c.bits, c.bits]];
    case 'absent':
      // Checked per candidate on the primary key (object_seq, name): no value index holds every row.
      return [`NOT EXISTS (SELECT 1 FROM attributes a WHERE a.object_seq = o.seq AND a.name = ?)`, [c.name]];
  }
}
