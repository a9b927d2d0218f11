/**
 * PostgreSQL implementation of the ObjectStore (node-postgres and its pool), for several server
 * nodes on one database. The tables are SQLite's ideas (postgres-migrations.ts): one row per object
 * with its attributes as one blob, an index entry per searchable attribute instance, Locate as one
 * indexed query (locate-query.ts), a revision per object.
 *
 * Every write is one transaction on a pooled connection, acknowledged after its COMMIT returns:
 * with synchronous_commit remote_apply (set for each connection, whatever the server's default),
 * that is after PostgreSQL flushed it to its WAL, and applied it on a synchronous standby when
 * synchronous_standby_names names one. Concurrent commits share WAL flushes in PostgreSQL itself (its group
 * commit), so the store needs no batching of its own. An update locks its row (SELECT ... FOR
 * UPDATE) and compares the revision it was computed from: a stale one is refused (CONFLICT), as
 * SQLite's store does. Reads go to the database every time: no row cache, so no node serves a row
 * another node changed.
 *
 * Deferred writes (deferAttribute) gather for a moment and are committed together in one
 * transaction that nobody waits for; get() in this process shows them from the moment they are
 * queued (sqlite.ts says why that is safe).
 */
import { Pool, type PoolClient } from 'pg';
import { decodeAttributeBlob, entryKey, indexEntries } from './attribute-rows';
import { candidateMatches, locateSql, type BlobCandidate } from './locate-query';
import { POSTGRES_MIGRATIONS, POSTGRES_SCHEMA_VERSION } from './postgres-migrations';
import { hostList, redactedUrl } from './postgres-url';
import { failoverClient } from './postgres-hosts';
import { PostgresGrantStore } from './postgres-grants';
import { PostgresKekCatalog } from './postgres-keks';
import type { GrantStore } from './grants';
import { withDeferred } from './sqlite-tables';
import { ROW_COLUMNS, applyDeferredRow, insertRow, recordOf, updateRow, type PgRow } from './postgres-rows';
import {
  StoreError,
  type DeferredAttribute,
  type DeferredWrite,
  type DigestSealing,
  type LocateQuery,
  type ManagedObjectRecord,
  type NewObject,
  type ObjectStore,
  type ObjectUpdate,
} from './object-store';

export interface PostgresStoreOptions {
  /** postgresql://user:password@host:port/database */
  readonly url: string;
  /** Connections in the pool (default 10). */
  readonly poolSize?: number;
  /** How long opening waits for the database (default 10 s). */
  readonly connectTimeoutMs?: number;
}

const DEFAULT_POOL_SIZE = 10;
/** The durability every connection asks for (see open()). */
export const SYNCHRONOUS_COMMIT = 'remote_apply';

/** As sqlite.ts: well under what a client notices, long enough for a client's Gets to share commits. */
const DEFERRED_COMMIT_DELAY_MS = 20;
/**
 * Reads run as named prepared statements, parsed once per connection and planned generically once
 * PostgreSQL finds that as good (a Locate by Name on one connection: about half its database time
 * was parse and plan). Locate's text varies with its conditions, so past this many distinct texts
 * reads run unnamed: a client's unusual queries cannot grow every connection's statement cache.
 */
const PREPARED_READS = 256;
/** Any value, the same on every node: migrations run under it one node at a time. */
const MIGRATION_LOCK = 0x6b6d6970;

interface QueuedDeferred {
  readonly uid: string;
  readonly attribute: DeferredAttribute;
  readonly settle: (durable: boolean) => void;
}

/** An error's text on one line; a connection attempt to several addresses fails with an AggregateError and no message of its own. */
function describe(e: unknown): string {
  const err = e as { message?: string; code?: string; errors?: unknown[] };
  const text = err.message || (err.errors?.length ? describe(err.errors[0]) : '') || err.code || String(e);
  return text.replace(/\s+/g, ' ').trim();
}

/** Errors of the connection rather than of the statement: the database is unreachable or went away. */
function isConnectionError(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  if (typeof code !== 'string') return true;
  // Class 08: connection exception; 57P01-03: the server shut down or cannot accept connections.
  return code.startsWith('08') || code.startsWith('57P') || /^E[A-Z]+$/.test(code);
}

export class PostgresObjectStore implements ObjectStore, DigestSealing {
  private deferredQueue: QueuedDeferred[] = [];
  private deferredTimer: NodeJS.Timeout | null = null;
  private readonly deferredOutstanding = new Set<Promise<boolean>>();
  /** uid -> attributes deferred and not yet committed, which get() applies to the committed row. */
  private readonly overlay = new Map<string, QueuedDeferred[]>();
  private closed = false;
  /** The last connection failure, cleared by the next statement that succeeds (readiness). */
  private connectionProblem: string | undefined;
  private sealingNeeded: boolean;
  private grantStore: PostgresGrantStore | undefined;

  private constructor(
    private readonly pool: Pool,
    private readonly shownUrl: string,
    sealingNeeded: boolean,
  ) {
    this.sealingNeeded = sealingNeeded;
  }

  /**
   * Connects, applies the migrations this database lacks and answers the open store. An
   * unreachable database is a StoreError naming the URL without its password.
   */
  static async open(opts: PostgresStoreOptions): Promise<PostgresObjectStore> {
    const shown = redactedUrl(opts.url);
    const hosts = hostList(opts.url);
    const pool = new Pool({
      // Several hosts (a primary and its standbys): connections follow the one that answers read-write.
      ...(hosts.urls.length > 1 ? { Client: failoverClient(hosts) } : { connectionString: opts.url }),
      max: opts.poolSize ?? DEFAULT_POOL_SIZE,
      connectionTimeoutMillis: opts.connectTimeoutMs ?? 10_000,
      // Every connection acknowledges only what is flushed, whatever postgresql.conf says; and, when
      // the database names synchronous standbys, only what a standby has applied too (readable there
      // at once). Without synchronous_standby_names, remote_apply is exactly `on` (PostgreSQL's docs),
      // so a standby configured later is waited for without restarting the nodes.
      options: `-c synchronous_commit=${SYNCHRONOUS_COMMIT}`,
    });
    // An idle connection the server drops emits 'error' on the pool: without a listener, the process would exit.
    pool.on('error', () => undefined);
    let client: PoolClient;
    try {
      client = await pool.connect();
    } catch (e) {
      await pool.end().catch(() => undefined);
      throw new StoreError('IO', `cannot reach the PostgreSQL store at ${shown}: ${describe(e)}`);
    }
    let sealingNeeded: boolean;
    try {
      await migrate(client);
      const sealing = await client.query(`SELECT 1 FROM store_tasks WHERE name = 'seal-digests'`);
      sealingNeeded = (sealing.rowCount ?? 0) > 0;
      client.release();
    } catch (e) {
      client.release(true);
      await pool.end().catch(() => undefined);
      if (e instanceof StoreError) throw e;
      throw new StoreError('SCHEMA', `cannot prepare the PostgreSQL store at ${shown}: ${describe(e)}`);
    }
    return new PostgresObjectStore(pool, shown, sealingNeeded);
  }

  /** One statement, its own transaction (insertRow): acknowledged once PostgreSQL committed it. */
  async insert(obj: NewObject): Promise<void> {
    if (this.closed) throw new StoreError('IO', 'the store is closed');
    try {
      await insertRow(this.pool, obj);
      this.connectionProblem = undefined;
    } catch (e) {
      if (e instanceof StoreError) throw e;
      // Lost mid-statement, the insert may or may not have committed: not acknowledged either way.
      if (isConnectionError(e)) throw this.unreachable(e);
      throw new StoreError('IO', `store write failed: ${describe(e)}`);
    }
  }

  update(uid: string, change: ObjectUpdate): Promise<void> {
    return this.transaction([uid], (c) => updateRow(c, uid, change));
  }

  writeBatch(ops: ReadonlyArray<{ insert: NewObject } | { uid: string; update: ObjectUpdate }>): Promise<void> {
    const uids = ops.map((op) => ('insert' in op ? op.insert.uid : op.uid));
    return this.transaction(uids, async (c) => {
      for (const op of ops) {
        if ('insert' in op) await insertRow(c, op.insert);
        else await updateRow(c, op.uid, op.update);
      }
    });
  }

  remove(uid: string): Promise<void> {
    // The index entries go with the row (ON DELETE CASCADE).
    return this.transaction([uid], async (c) => {
      await c.query('DELETE FROM objects WHERE uid = $1', [uid]);
    });
  }

  /**
   * Runs `work` in one transaction and resolves after its COMMIT. A statement's own failure
   * (NOT_FOUND, EXISTS, CONFLICT) rolls it back and rejects as that error; a lost connection is
   * StoreError IO: nothing of the transaction is acknowledged, and PostgreSQL kept all or none of it.
   */
  private async transaction(uids: readonly string[], work: (c: PoolClient) => Promise<void>): Promise<void> {
    if (this.closed) throw new StoreError('IO', 'the store is closed');
    const client = await this.begun();
    let broken: unknown;
    try {
      await work(client);
      await client.query('COMMIT');
      this.connectionProblem = undefined;
    } catch (e) {
      if (e instanceof StoreError) {
        await client.query('ROLLBACK').catch((r: unknown) => (broken = r));
        throw e;
      }
      const code = (e as { code?: unknown }).code;
      // A deadlock or serialization failure between writes of several rows: run the request again.
      if (code === '40P01' || code === '40001') {
        await client.query('ROLLBACK').catch((r: unknown) => (broken = r));
        throw new StoreError('CONFLICT', `object ${uids[0] ?? ''} changed while it was written`, uids[0]);
      }
      if (isConnectionError(e)) {
        broken = e;
        throw this.unreachable(e);
      }
      await client.query('ROLLBACK').catch(() => undefined);
      throw new StoreError('IO', `store write failed: ${describe(e)}`);
    } finally {
      // A connection that failed is not put back into the pool.
      client.release(broken instanceof Error ? broken : broken === undefined ? undefined : true);
    }
  }

  /**
   * A pooled connection with a transaction begun. A connection the database dropped while it sat
   * idle in the pool fails at BEGIN, before anything was written: then once more on a new one.
   */
  private async begun(): Promise<PoolClient> {
    for (let attempt = 0; ; attempt++) {
      let client: PoolClient;
      try {
        client = await this.pool.connect();
      } catch (e) {
        throw this.unreachable(e);
      }
      try {
        await client.query('BEGIN');
        return client;
      } catch (e) {
        client.release(e instanceof Error ? e : true);
        if (attempt >= 1 || !isConnectionError(e)) throw this.unreachable(e);
      }
    }
  }

  /** Read statement texts and their prepared statements' names (PREPARED_READS at most). */
  private readonly preparedNames = new Map<string, string>();

  private preparedName(sql: string): string | undefined {
    let name = this.preparedNames.get(sql);
    if (name === undefined && this.preparedNames.size < PREPARED_READS) {
      name = `kmip_read_${this.preparedNames.size}`;
      this.preparedNames.set(sql, name);
    }
    return name;
  }

  private unreachable(e: unknown): StoreError {
    this.connectionProblem = `the PostgreSQL store at ${this.shownUrl} is unreachable: ${describe(e)}`;
    return new StoreError('IO', this.connectionProblem);
  }

  private async query<R extends object>(sql: string, params: unknown[]): Promise<R[]> {
    if (this.closed) throw new StoreError('IO', 'the store is closed');
    // A read changes nothing: one more try on a new connection if the pooled one had been dropped.
    for (let attempt = 0; ; attempt++) {
      try {
        const name = this.preparedName(sql);
        const r = await (name === undefined ? this.pool.query(sql, params) : this.pool.query({ name, text: sql, values: params }));
        this.connectionProblem = undefined;
        return r.rows as R[];
      } catch (e) {
        if (!isConnectionError(e)) throw new StoreError('IO', `store read failed: ${describe(e)}`);
        if (attempt >= 1) throw this.unreachable(e);
      }
    }
  }

  async get(uid: string): Promise<ManagedObjectRecord | undefined> {
    // The deferred writes queued when the read was asked for, not when it is answered: a caller
    // that reads before it defers (the Undo journal's before-image) must not see its own deferral.
    const deferred = this.overlay.get(uid)?.slice();
    const rows = await this.query<PgRow>(`SELECT ${ROW_COLUMNS} FROM objects WHERE uid = $1`, [uid]);
    const row = rows[0];
    if (row === undefined) return undefined;
    const record = recordOf(row);
    if (deferred === undefined) return record;
    const attributes = withDeferred(record.attributes, deferred.map((d) => d.attribute));
    return attributes === undefined ? record : { ...record, attributes };
  }

  async locate(query: LocateQuery): Promise<string[]> {
    const { sql, params, onBlob } = locateSql(query, null);
    const numbered = numberPlaceholders(sql);
    if (onBlob.length === 0) {
      return (await this.query<{ uid: string }>(numbered, params)).map((r) => r.uid);
    }
    // Offset and limit count matches, so they apply after the blob conditions.
    const limit = query.limit ?? Infinity;
    if (limit <= 0) return [];
    const out: string[] = [];
    let skip = query.offset ?? 0;
    for (const row of await this.query<BlobCandidate>(numbered, params)) {
      if (!candidateMatches(row, onBlob)) continue;
      if (skip > 0) {
        skip--;
        continue;
      }
      out.push(row.uid);
      if (out.length >= limit) break;
    }
    return out;
  }

  deferAttribute(uid: string, attribute: DeferredAttribute): DeferredWrite {
    let settle!: (durable: boolean) => void;
    const durable = new Promise<boolean>((r) => (settle = r));
    this.deferredOutstanding.add(durable);
    void durable.then(() => this.deferredOutstanding.delete(durable));
    if (this.closed) {
      settle(false);
      return { durable, cancel: () => undefined };
    }
    const d: QueuedDeferred = { uid, attribute, settle };
    this.deferredQueue.push(d);
    const list = this.overlay.get(uid);
    if (list === undefined) this.overlay.set(uid, [d]);
    else list.push(d);
    if (this.deferredTimer === null) {
      this.deferredTimer = setTimeout(() => void this.flushDeferred(), DEFERRED_COMMIT_DELAY_MS);
      this.deferredTimer.unref();
    }
    return {
      durable,
      cancel: () => {
        const i = this.deferredQueue.indexOf(d);
        if (i < 0) return; // being committed or done: an Undo puts the object back itself
        this.deferredQueue.splice(i, 1);
        this.dropOverlay(d);
        settle(false);
      },
    };
  }

  /** Commits the queued deferred writes in one transaction; a failure loses them (the conservative direction). */
  private async flushDeferred(): Promise<void> {
    this.deferredTimer = null;
    const batch = this.deferredQueue;
    this.deferredQueue = [];
    if (batch.length === 0) return;
    let ok = true;
    try {
      await this.transaction(
        batch.map((d) => d.uid),
        async (c) => {
          for (const d of batch) await applyDeferredRow(c, d.uid, d.attribute);
        },
      );
    } catch {
      ok = false;
    }
    for (const d of batch) {
      this.dropOverlay(d);
      d.settle(ok);
    }
  }

  private dropOverlay(d: QueuedDeferred): void {
    const list = this.overlay.get(d.uid);
    if (list === undefined) return;
    const rest = list.filter((x) => x !== d);
    if (rest.length === 0) this.overlay.delete(d.uid);
    else this.overlay.set(d.uid, rest);
  }

  /** Resolves once every deferred write made so far is committed or given up (tests, a clean stop). */
  async settled(): Promise<void> {
    await Promise.all([...this.deferredOutstanding]);
  }

  needsDigestSealing(): boolean {
    return this.sealingNeeded;
  }

  async recordsAfter(afterSeq: number, limit: number): Promise<ManagedObjectRecord[]> {
    const rows = await this.query<PgRow>(`SELECT ${ROW_COLUMNS} FROM objects WHERE seq > $1 ORDER BY seq LIMIT $2`, [afterSeq, limit]);
    return rows.map(recordOf);
  }

  /** PostgreSQL reuses a row's space itself and keeps no old version past VACUUM: the flag is what remains. */
  async finishDigestSealing(): Promise<void> {
    await this.query(`DELETE FROM store_tasks WHERE name = 'seal-digests'`, []);
    this.sealingNeeded = false;
  }

  /** The KEKs the stored objects (and the Digests kept of destroyed ones) are wrapped under. */
  async kekIds(): Promise<string[]> {
    const sql = 'SELECT kek_id AS k FROM objects WHERE kek_id IS NOT NULL UNION SELECT digest_kek_id FROM objects WHERE digest_kek_id IS NOT NULL';
    return (await this.query<{ k: string }>(sql, [])).map((r) => r.k);
  }

  /** Why the store cannot serve now (closed, the database unreachable at the last statement), or undefined. */
  unusableReason(): string | undefined {
    if (this.closed) return 'the store is closed';
    return this.connectionProblem;
  }

  /**
   * For tests and operators, as SQLite's integrity_check: 'ok', or what is wrong. PostgreSQL keeps
   * its own pages consistent; what it cannot know is that the index entries are the ones each
   * object's attribute blob implies (none missing, none left over, none of a removed object).
   */
  async integrityCheck(): Promise<string> {
    const problems: string[] = [];
    const stored = new Map<string, Set<string>>();
    const entries = await this.query<{ object_seq: string; name: string; idx: number; skey: string | null; nval: string | null }>(
      'SELECT object_seq, name, idx, skey, NULL::text AS nval FROM attr_text UNION ALL SELECT object_seq, name, idx, NULL, nval::text FROM attr_num',
      [],
    );
    for (const e of entries) {
      const key = entryKey({ name: e.name, index: e.idx, number: e.nval === null ? null : BigInt(e.nval), text: e.skey ?? '' });
      let set = stored.get(e.object_seq);
      if (set === undefined) stored.set(e.object_seq, (set = new Set()));
      set.add(key);
    }
    for (let after = 0; ; ) {
      const rows = await this.query<{ seq: string; uid: string; attrs: Buffer }>('SELECT seq, uid, attrs FROM objects WHERE seq > $1 ORDER BY seq LIMIT 1000', [after]);
      if (rows.length === 0) break;
      after = Number(rows[rows.length - 1]!.seq);
      for (const r of rows) {
        const want = new Set(indexEntries(decodeAttributeBlob(r.attrs)).map(entryKey));
        const got = stored.get(r.seq) ?? new Set<string>();
        stored.delete(r.seq);
        if (want.size !== got.size || [...want].some((k) => !got.has(k))) problems.push(`object ${r.uid}: its index entries differ from its attributes`);
      }
    }
    for (const seq of stored.keys()) problems.push(`index entries of a missing object (seq ${seq})`);
    return problems.length === 0 ? 'ok' : problems.join('; ');
  }

  /** For tests: the schema version the database is at. */
  async schemaVersion(): Promise<number> {
    const rows = await this.query<{ version: number }>('SELECT version FROM schema_version', []);
    return rows[0]?.version ?? 0;
  }

  /** Commits the deferred writes still queued (a clean stop keeps them), then closes the pool. */
  /** The grants kept in this database (store/grants.ts), read fresh on every call. */
  grants(): GrantStore {
    return (this.grantStore ??= new PostgresGrantStore(this.pool));
  }

  /** The KEK rows nodes share (current KEK, which KEK each process wraps under), over this store's pool. */
  kekCatalog(): PostgresKekCatalog {
    return PostgresKekCatalog.over(this.pool);
  }

  async closeAsync(): Promise<void> {
    if (this.closed) return;
    if (this.deferredTimer !== null) clearTimeout(this.deferredTimer);
    await this.flushDeferred();
    await this.settled();
    this.closed = true;
    await this.pool.end();
  }

  close(): void {
    void this.closeAsync().catch(() => undefined);
  }
}

async function migrate(c: PoolClient): Promise<void> {
  await c.query('BEGIN');
  try {
    // One node at a time: the others wait here, then find the work done.
    await c.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await c.query('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
    const got = await c.query<{ version: number }>('SELECT version FROM schema_version');
    let current = got.rows[0]?.version ?? 0;
    if (got.rows.length === 0) await c.query('INSERT INTO schema_version (version) VALUES (0)');
    if (current > POSTGRES_SCHEMA_VERSION) {
      throw new StoreError('SCHEMA', `store schema version ${current} is newer than this server supports (${POSTGRES_SCHEMA_VERSION})`);
    }
    for (const m of POSTGRES_MIGRATIONS) {
      if (m.version <= current) continue;
      if (m.sql.trim() !== '') await c.query(m.sql);
      await c.query('UPDATE schema_version SET version = $1', [m.version]);
      current = m.version;
    }
    await c.query('COMMIT');
  } catch (e) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw e;
  }
}

/** `?` placeholders as PostgreSQL's `$1, $2...` (locate-query.ts writes none inside a literal). */
function numberPlaceholders(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}
