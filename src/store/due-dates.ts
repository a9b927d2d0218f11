/**
 * The store's dates as a timetable, for the lifecycle scheduler (src/scheduler/): when the next
 * date attribute falls due, and which objects have one in a range of time. Both are range reads
 * of the attr_num index (name, nval, ...), which holds every Date-Time attribute in seconds: the
 * cost is one seek plus the rows returned, never a pass over all objects. Read on a connection of
 * its own (WAL: it never blocks the store's writer), so it needs no change to the store's code.
 */
import Database from 'better-sqlite3';
import { BUSY_TIMEOUT_MS } from './sqlite-tables';

/** One object whose date attribute `name` falls at `at` (seconds since the epoch). */
export interface DueDate {
  readonly uid: string;
  readonly name: string;
  readonly at: bigint;
  /** The object's row: with `at`, where the next page starts. */
  readonly seq: bigint;
}

/** Where a page of dueIn starts: after this date and row. */
export interface DueCursor {
  readonly at: bigint;
  readonly seq: bigint;
}

/**
 * The timetable the scheduler reads, on either engine (this file's SQLite one, postgres-due-dates.ts):
 * the methods of DueDates below, answered asynchronously.
 */
export interface DueDateSource {
  nextAfter(names: readonly string[], after: bigint): Promise<bigint | undefined>;
  dueIn(name: string, from: bigint, to: bigint, limit: number, after?: DueCursor, states?: readonly number[]): Promise<DueDate[]>;
  withAttributeText(name: string, skey: string, afterSeq: bigint, limit: number): Promise<{ uid: string; seq: bigint }[]>;
  ofType(objectType: number, states: readonly number[], afterSeq: bigint, limit: number): Promise<{ uid: string; seq: bigint }[]>;
  close(): Promise<void>;
}

export class DueDates implements DueDateSource {
  private readonly db: Database.Database;
  private readonly next: Database.Statement;
  private readonly inRange: Database.Statement;
  private readonly withText: Database.Statement;
  private readonly typed: Database.Statement;

  constructor(storePath: string) {
    this.db = new Database(storePath, { readonly: true, fileMustExist: true });
    this.db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    this.db.defaultSafeIntegers(true);
    this.next = this.db.prepare('SELECT min(nval) FROM attr_num WHERE name = ? AND nval > ?').pluck();
    // Pages by key (date, row), so rows that leave the result (their State moved) skip none.
    this.inRange = this.db.prepare(
      `SELECT o.uid AS uid, n.nval AS at, o.seq AS seq FROM attr_num n JOIN objects o ON o.seq = n.object_seq
       WHERE n.name = @name AND n.nval > @from AND n.nval >= @afterAt AND n.nval <= @to AND (n.nval, n.object_seq) > (@afterAt, @afterSeq)
         AND (@states IS NULL OR o.state IN (SELECT value FROM json_each(@states)))
       ORDER BY n.nval, n.object_seq LIMIT @limit`,
    );
    this.withText = this.db.prepare(
      `SELECT o.uid AS uid, o.seq AS seq FROM attr_text t JOIN objects o ON o.seq = t.object_seq WHERE t.name = ? AND t.skey = ? AND o.seq > ? ORDER BY o.seq LIMIT ?`,
    );
    this.typed = this.db.prepare(
      `SELECT uid, seq FROM objects WHERE object_type = ? AND state IN (SELECT value FROM json_each(?)) AND seq > ? ORDER BY seq LIMIT ?`,
    );
  }

  /** The earliest value of any of `names` after `after`, or undefined when none is later. */
  nextAfter(names: readonly string[], after: bigint): Promise<bigint | undefined> {
    let best: bigint | undefined;
    for (const name of names) {
      const v = this.next.get(name, after) as bigint | null;
      if (v !== null && (best === undefined || v < best)) best = v;
    }
    return Promise.resolve(best);
  }

  /**
   * Objects whose `name` is in (from, to], earliest first, `limit` of them after `after`; only
   * those in one of `states` when given (the States a date can still move).
   */
  dueIn(name: string, from: bigint, to: bigint, limit: number, after?: DueCursor, states?: readonly number[]): Promise<DueDate[]> {
    const rows = this.inRange.all({
      name,
      from,
      to,
      afterAt: after?.at ?? from,
      afterSeq: after?.seq ?? -1n,
      states: states ? JSON.stringify(states) : null,
      limit,
    }) as { uid: string; at: bigint; seq: bigint }[];
    return Promise.resolve(rows.map((r) => ({ uid: r.uid, name, at: r.at, seq: r.seq })));
  }

  /**
   * Objects whose attribute `name` has the canonical text `skey` (attr_text), in creation order
   * after `afterSeq`: a page of the candidates for automatic rotation.
   */
  withAttributeText(name: string, skey: string, afterSeq: bigint, limit: number): Promise<{ uid: string; seq: bigint }[]> {
    return Promise.resolve(this.withText.all(name, skey, afterSeq, limit) as { uid: string; seq: bigint }[]);
  }

  /** Objects of `objectType` in one of `states`, in creation order after `afterSeq` (the (object_type, state) index). */
  ofType(objectType: number, states: readonly number[], afterSeq: bigint, limit: number): Promise<{ uid: string; seq: bigint }[]> {
    return Promise.resolve(this.typed.all(objectType, JSON.stringify(states), afterSeq, limit) as { uid: string; seq: bigint }[]);
  }

  close(): Promise<void> {
    this.db.close();
    return Promise.resolve();
  }
}
