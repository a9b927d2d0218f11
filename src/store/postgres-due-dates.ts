/**
 * The scheduler's timetable on the PostgreSQL store (due-dates.ts says what it answers): the same
 * range reads of the attr_num index (name, nval, ...) and the attr_text and (object_type, state)
 * indexes, over a small pool of its own. BIGINT columns come back as text and are read as bigint.
 */
import { Pool } from 'pg';
import type { DueCursor, DueDate, DueDateSource } from './due-dates';

export class PostgresDueDates implements DueDateSource {
  private readonly pool: Pool;

  constructor(url: string) {
    this.pool = new Pool({ connectionString: url, max: 2, connectionTimeoutMillis: 10_000 });
    // An idle connection the server drops emits 'error' on the pool: without a listener, the process would exit.
    this.pool.on('error', () => undefined);
  }

  async nextAfter(names: readonly string[], after: bigint): Promise<bigint | undefined> {
    const r = await this.pool.query<{ v: string | null }>('SELECT min(nval)::text AS v FROM attr_num WHERE name = ANY($1::text[]) AND nval > $2', [[...names], after.toString()]);
    const v = r.rows[0]?.v;
    return v === null || v === undefined ? undefined : BigInt(v);
  }

  async dueIn(name: string, from: bigint, to: bigint, limit: number, after?: DueCursor, states?: readonly number[]): Promise<DueDate[]> {
    const afterAt = after?.at ?? from;
    const r = await this.pool.query<{ uid: string; at: string; seq: string }>(
      `SELECT o.uid AS uid, n.nval AS at, o.seq AS seq FROM attr_num n JOIN objects o ON o.seq = n.object_seq
       WHERE n.name = $1 AND n.nval > $2 AND n.nval >= $3 AND n.nval <= $4 AND (n.nval, n.object_seq) > ($3, $5)
         AND ($6::int[] IS NULL OR o.state = ANY($6::int[]))
       ORDER BY n.nval, n.object_seq LIMIT $7`,
      [name, from.toString(), afterAt.toString(), to.toString(), (after?.seq ?? -1n).toString(), states ? [...states] : null, limit],
    );
    return r.rows.map((x) => ({ uid: x.uid, name, at: BigInt(x.at), seq: BigInt(x.seq) }));
  }

  async withAttributeText(name: string, skey: string, afterSeq: bigint, limit: number): Promise<{ uid: string; seq: bigint }[]> {
    const r = await this.pool.query<{ uid: string; seq: string }>(
      'SELECT o.uid AS uid, o.seq AS seq FROM attr_text t JOIN objects o ON o.seq = t.object_seq WHERE t.name = $1 AND t.skey = $2 AND o.seq > $3 ORDER BY o.seq LIMIT $4',
      [name, skey, afterSeq.toString(), limit],
    );
    return r.rows.map((x) => ({ uid: x.uid, seq: BigInt(x.seq) }));
  }

  async ofType(objectType: number, states: readonly number[], afterSeq: bigint, limit: number): Promise<{ uid: string; seq: bigint }[]> {
    const r = await this.pool.query<{ uid: string; seq: string }>('SELECT uid, seq FROM objects WHERE object_type = $1 AND state = ANY($2::int[]) AND seq > $3 ORDER BY seq LIMIT $4', [
      objectType,
      [...states],
      afterSeq.toString(),
      limit,
    ]);
    return r.rows.map((x) => ({ uid: x.uid, seq: BigInt(x.seq) }));
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
