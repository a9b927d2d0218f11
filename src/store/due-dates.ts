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
}

export class DueDates {
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
    this.inRange = this.db.prepare(
      `SELECT o.uid AS uid, n.nval AS at FROM attr_num n JOIN objects o ON o.seq = n.object_seq
       WHERE n.name = ? AND n.nval > ? AND n.nval <= ? ORDER BY n.nval, n.object_seq LIMIT ? OFFSET ?`,
    );
    this.withText = this.db.prepare(
      `SELECT o.uid AS uid, o.seq AS seq FROM attr_text t JOIN objects o ON o.seq = t.object_seq WHERE t.name = ? AND t.skey = ? AND o.seq > ? ORDER BY o.seq LIMIT ?`,
    );
    this.typed = this.db.prepare(
      `SELECT uid, seq FROM objects WHERE object_type = ? AND state IN (SELECT value FROM json_each(?)) AND seq > ? ORDER BY seq LIMIT ?`,
    );
  }

  /** The earliest value of any of `names` after `after`, or undefined when none is later. */
  nextAfter(names: readonly string[], after: bigint): bigint | undefined {
    let best: bigint | undefined;
    for (const name of names) {
      const v = this.next.get(name, after) as bigint | null;
      if (v !== null && (best === undefined || v < best)) best = v;
    }
    return best;
  }

  /** Objects whose `name` is in (from, to], earliest first: `limit` of them from `offset`. */
  dueIn(name: string, from: bigint, to: bigint, limit: number, offset = 0): DueDate[] {
    const rows = this.inRange.all(name, from, to, limit, offset) as { uid: string; at: bigint }[];
    return rows.map((r) => ({ uid: r.uid, name, at: r.at }));
  }

  /**
   * Objects whose attribute `name` has the canonical text `skey` (attr_text), in creation order
   * after `afterSeq`: a page of the candidates for automatic rotation.
   */
  withAttributeText(name: string, skey: string, afterSeq: bigint, limit: number): { uid: string; seq: bigint }[] {
    return this.withText.all(name, skey, afterSeq, limit) as { uid: string; seq: bigint }[];
  }

  /** Objects of `objectType` in one of `states`, in creation order after `afterSeq` (the (object_type, state) index). */
  ofType(objectType: number, states: readonly number[], afterSeq: bigint, limit: number): { uid: string; seq: bigint }[] {
    return this.typed.all(objectType, JSON.stringify(states), afterSeq, limit) as { uid: string; seq: bigint }[];
  }

  close(): void {
    this.db.close();
  }
}
