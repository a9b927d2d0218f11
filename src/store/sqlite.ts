/**
 * SQLite implementation of the ObjectStore (better-sqlite3, WAL, synchronous=FULL).
 *
 * Writes use group commit: every write requested during one turn of the event loop runs in one
 * transaction, so concurrent Creates share one fsync. A write's promise resolves only after its
 * transaction committed, and each write runs in its own savepoint so one failing write does not
 * fail its neighbours.
 */
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
}

export class SqliteObjectStore implements ObjectStore {
  private readonly db: Database.Database;
  private pending: PendingWrite[] = [];
  private flushScheduled = false;
  private readonly inSavepoint: (fn: () => void) => void;
  private readonly stmts: ReturnType<SqliteObjectStore['prepare']>;

  constructor(opts: SqliteStoreOptions) {
    try {
      this.db = new Database(opts.path);
    } catch (e) {
      throw new StoreError('IO', `cannot open store ${opts.path}: ${(e as Error).message}`);
    }
    this.db.pragma('journal_mode = WAL');
    // FULL: a commit is fsync'd before it returns, so an acknowledged write survives a crash.
    this.db.pragma('synchronous = FULL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    this.migrate();
    this.inSavepoint = this.db.transaction((fn: () => void) => fn());
    this.stmts = this.prepare();
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
      deleteAttributes: db.prepare(`DELETE FROM attributes WHERE object_seq = ?`),
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
    return this.enqueue(() => this.doInsert(obj));
  }

  update(uid: string, change: ObjectUpdate): Promise<void> {
    return this.enqueue(() => this.doUpdate(uid, change));
  }

  remove(uid: string): Promise<void> {
    return this.enqueue(() => {
      // Attributes go with the object (ON DELETE CASCADE).
      this.stmts.deleteObject.run(uid);
    });
  }

  writeBatch(ops: ReadonlyArray<{ insert: NewObject } | { uid: string; update: ObjectUpdate }>): Promise<void> {
    return this.enqueue(() => {
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
    if (change.attributes !== undefined) {
      this.stmts.deleteAttributes.run(seq);
      this.writeAttributes(seq, change.attributes);
    }
  }

  private writeAttributes(seq: number, attributes: readonly StoredAttribute[]): void {
    for (const a of attributes) {
      this.stmts.insertAttribute.run(
        seq,
        a.name,
        a.index,
        Buffer.from(encodeTtlv(a.value)),
        attributeSearchKey(a.value),
        attributeNumber(a.value),
      );
    }
  }

  private enqueue(run: () => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ run, resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Runs every queued write in one transaction (one fsync), then settles their promises. */
  private flush(): void {
    this.flushScheduled = false;
    const batch = this.pending;
    this.pending = [];
    const failures = new Map<PendingWrite, unknown>();
    try {
      this.db.transaction(() => {
        for (const w of batch) {
          try {
            this.inSavepoint(w.run);
          } catch (e) {
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
    for (const w of batch) {
      const failure = failures.get(w);
      if (failure !== undefined) w.reject(failure);
      else w.resolve();
    }
  }

  get(uid: string): ManagedObjectRecord | undefined {
    const row = this.stmts.getObject.get(uid) as ObjectRow | undefined;
    if (!row) return undefined;
    const attrs = (this.stmts.getAttributes.all(row.seq) as AttributeRow[]).map(
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
          ? { kekId: row.kek_id, mechanism: row.mechanism, iv: row.iv, ciphertext: row.ciphertext }
          : null,
    };
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
    return this.db.prepare(sql).pluck().all(...params) as string[];
  }

  /** For tests and operators: SQLite's own consistency check. */
  integrityCheck(): string {
    return this.db.pragma('integrity_check', { simple: true }) as string;
  }

  close(): void {
    if (this.pending.length > 0) this.flush();
    this.db.close();
  }
}

function conditionSql(c: LocateCondition): [string, unknown[]] {
  // `o.seq IN (...)` lets SQLite drive the query from the attribute index (name, skey/nval)
  // and fetch objects by rowid, instead of visiting every object of the owner.
  const matching = (test: string) => `o.seq IN (SELECT a.object_seq FROM attributes a WHERE a.name = ? AND ${test})`;
  switch (c.kind) {
    case 'equals':
      return [matching('a.skey = ?'), [c.name, attributeSearchKey(c.value)]];
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
      return [matching('(a.nval & ?) = ?'), [c.name, c.bits, c.bits]];
    case 'absent':
      return [`o.seq NOT IN (SELECT a.object_seq FROM attributes a WHERE a.name = ?)`, [c.name]];
  }
}
