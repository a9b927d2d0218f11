/**
 * A lease in the PostgreSQL store: of several nodes on one database, the one holding lease `name`
 * does the work it guards (the lifecycle scheduler). The holder renews it well before it expires; a
 * node that stops renewing (killed, hung, cut off) loses it at expiry and another takes it over.
 * Taking and renewing are one statement each (an upsert that succeeds only for the holder or over an
 * expired lease), timed by the database's clock, so two nodes never both hold it by their own clocks.
 */
import { Pool } from 'pg';

const NOW_MS = '(extract(epoch from clock_timestamp()) * 1000)::bigint';

export class PostgresLease {
  private readonly pool: Pool;

  constructor(
    url: string,
    readonly name: string,
    /** Who this process is, in the row and the logs (host, pid and a random part). */
    readonly holder: string,
    private readonly ttlMs: number,
  ) {
    this.pool = new Pool({ connectionString: url, max: 1, connectionTimeoutMillis: Math.max(1_000, Math.floor(ttlMs / 3)) });
    // An idle connection the server drops emits 'error' on the pool: without a listener, the process would exit.
    this.pool.on('error', () => undefined);
  }

  /** Takes or renews the lease; true when this process holds it until now + ttl (by the database's clock). */
  async acquire(): Promise<boolean> {
    const r = await this.pool.query(
      `INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, ${NOW_MS} + $3)
       ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
       WHERE leases.holder = EXCLUDED.holder OR leases.expires_at < ${NOW_MS}`,
      [this.name, this.holder, this.ttlMs],
    );
    return r.rowCount === 1;
  }

  /** Gives it up (a clean stop), so another node takes over at once rather than at expiry. */
  async release(): Promise<void> {
    await this.pool.query('DELETE FROM leases WHERE name = $1 AND holder = $2', [this.name, this.holder]);
  }

  /** The current holder, if the lease is held and not expired. */
  async holderNow(): Promise<string | undefined> {
    const r = await this.pool.query<{ holder: string }>(`SELECT holder FROM leases WHERE name = $1 AND expires_at >= ${NOW_MS}`, [this.name]);
    return r.rows[0]?.holder;
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
