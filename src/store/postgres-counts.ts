/**
 * Objects by type and state for the server's metrics on the PostgreSQL store: one GROUP BY on the
 * (object_type, state) index, run by PostgreSQL (the event loop only waits for the answer), over a
 * connection of its own so the primary of several workers, which holds no store, can count too. As
 * the SQLite counter (object-counts.ts): at most once per `maxAgeMs`, scrapes in between and
 * concurrent ones share the last answer or the one under way, a failed count is not kept.
 */
import { Pool } from 'pg';
import type { ObjectCount } from './sqlite-watch';

export class PostgresObjectCounter {
  private readonly pool: Pool;
  private last: { at: number; rows: Promise<ObjectCount[]> } | undefined;

  constructor(
    url: string,
    private readonly maxAgeMs = 5_000,
  ) {
    this.pool = new Pool({ connectionString: url, max: 1, connectionTimeoutMillis: 5_000, idleTimeoutMillis: 30_000 });
    // An idle connection the server drops emits 'error' on the pool: without a listener, the process would exit.
    this.pool.on('error', () => undefined);
  }

  /** Objects by Object Type and State, at most `maxAgeMs` old. */
  counts(): Promise<ObjectCount[]> {
    const now = Date.now();
    if (this.last && now - this.last.at < this.maxAgeMs) return this.last.rows;
    const rows = this.pool
      .query<{ object_type: number; state: number; count: string }>('SELECT object_type, state, count(*) AS count FROM objects GROUP BY object_type, state')
      .then(
        (r) => r.rows.map((x) => ({ objectType: x.object_type, state: x.state, count: Number(x.count) })),
        (e: unknown) => {
          throw new Error(`cannot count the store's objects: ${(e as Error).message || String(e)}`);
        },
      );
    this.last = { at: now, rows };
    rows.catch(() => {
      if (this.last?.rows === rows) this.last = undefined;
    });
    return rows;
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
