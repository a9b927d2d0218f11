/**
 * The KEK facts several nodes on one PostgreSQL database share (migration 9): nodes on different
 * machines have data dirs of their own but one HSM (a network HSM, or a replicated one), so which
 * KEK is current, an unfinished rotation's state and which KEK each running process wraps under
 * are rows here rather than files in a data dir (keys/kek-current.ts is the embedded store's).
 *
 * The re-wrap of a rotation goes through here too: rows are read in batches and each is written
 * back only if its revision is still the one read (and the revision moves on, so an update a node
 * computed from the row before is refused as CONFLICT and runs again on the re-wrapped row).
 */
import { Pool } from 'pg';

/** Times are the database's clock in ms, so nodes' clocks need not agree (as leases). */
const NOW_MS = '(extract(epoch from clock_timestamp()) * 1000)::bigint';

/** How often a server process looks at the database's current KEK (and reports its own): server-kek.ts. */
export const KEK_FOLLOW_MS = 2_000;
/** A process that has not reported for this long is taken for gone (killed, or cut off from the database, where it writes nothing). */
export const KEK_NODE_LIVE_MS = 5 * KEK_FOLLOW_MS;

export interface KekReferences {
  objects: number;
  digests: number;
}

export interface KekNode {
  readonly node: string;
  readonly kekId: string;
  /** How long ago it last said so (ms, by the database's clock). */
  readonly ageMs: number;
}

/** An object row's wrapped columns, as both engines' re-wraps read them (custody/rotation.ts rewrapRow). */
export interface WrappedColumns {
  readonly uid: string;
  readonly kek_id: string | null;
  readonly mechanism: string | null;
  readonly iv: Buffer | null;
  readonly ciphertext: Buffer | null;
  readonly digest_kek_id: string | null;
  readonly digest_mechanism: string | null;
  readonly digest_iv: Buffer | null;
  readonly digest_ciphertext: Buffer | null;
}

/** An object's row as a re-wrap on PostgreSQL reads it: written back only at revision `rev`. */
export interface WrappedRow extends WrappedColumns {
  readonly seq: string;
  readonly rev: number;
}

export interface Blob {
  readonly kekId: string;
  readonly mechanism: string;
  readonly iv: Uint8Array;
  readonly ciphertext: Uint8Array;
}

/** A re-wrapped row: its new blobs (undefined: that column stays), written only at revision `rev`. */
export interface Rewrapped {
  readonly seq: string;
  readonly rev: number;
  readonly material?: Blob;
  readonly digest?: Blob;
}

const UNDER_ANOTHER = '((kek_id IS NOT NULL AND kek_id <> $1) OR (digest_kek_id IS NOT NULL AND digest_kek_id <> $1))';

export class PostgresKekCatalog {
  private constructor(
    private readonly db: Pool,
    /** Whether close() ends the pool (its own), or leaves it to the store that lent it. */
    private readonly owned: boolean,
  ) {}

  /** Over connections of its own (the kek commands beside running nodes). */
  static open(url: string): PostgresKekCatalog {
    const pool = new Pool({ connectionString: url, max: 2, connectionTimeoutMillis: 10_000 });
    // An idle connection the server drops emits 'error' on the pool: without a listener, the process would exit.
    pool.on('error', () => undefined);
    return new PostgresKekCatalog(pool, true);
  }

  /** Over a store's pool (a node's periodic look at the current KEK). */
  static over(pool: Pool): PostgresKekCatalog {
    return new PostgresKekCatalog(pool, false);
  }

  async current(): Promise<{ kekId: string; since: number } | undefined> {
    const r = await this.db.query<{ kek_id: string; since: string }>('SELECT kek_id, since FROM kek_current');
    const row = r.rows[0];
    return row === undefined ? undefined : { kekId: row.kek_id, since: Number(row.since) };
  }

  /**
   * Names `kekId` current unless the database names one already (a database from before migration
   * 9, or the first node's start): the KEK current afterwards, whichever node won.
   */
  async nameCurrentIfUnset(kekId: string): Promise<string> {
    await this.db.query(`INSERT INTO kek_current (kek_id, since) VALUES ($1, ${NOW_MS}) ON CONFLICT (one) DO NOTHING`, [kekId]);
    return (await this.current())!.kekId;
  }

  /** The unfinished (or last) rotation's state as its owner wrote it (custody/rotation-postgres.ts). */
  async rotationState(): Promise<string | undefined> {
    const r = await this.db.query<{ state: string }>('SELECT state FROM kek_rotation');
    return r.rows[0]?.state;
  }

  async saveRotationState(state: string): Promise<void> {
    await this.db.query('INSERT INTO kek_rotation (state) VALUES ($1) ON CONFLICT (one) DO UPDATE SET state = EXCLUDED.state', [state]);
  }

  /** Makes `kekId` current and saves the rotation's next state in one transaction: both or neither. */
  async switchCurrent(kekId: string, state: string): Promise<void> {
    await this.db.query(
      `WITH c AS (INSERT INTO kek_current (kek_id, since) VALUES ($1, ${NOW_MS}) ON CONFLICT (one) DO UPDATE SET kek_id = EXCLUDED.kek_id, since = EXCLUDED.since)
       INSERT INTO kek_rotation (state) VALUES ($2) ON CONFLICT (one) DO UPDATE SET state = EXCLUDED.state`,
      [kekId, state],
    );
  }

  /** A running process says which KEK it wraps new objects under (every few seconds: its heartbeat). */
  async report(node: string, kekId: string): Promise<void> {
    await this.db.query(
      `INSERT INTO kek_nodes (node, kek_id, seen_at) VALUES ($1, $2, ${NOW_MS}) ON CONFLICT (node) DO UPDATE SET kek_id = EXCLUDED.kek_id, seen_at = EXCLUDED.seen_at`,
      [node, kekId],
    );
  }

  /** At a clean stop: this process wraps nothing any more. */
  async forget(node: string): Promise<void> {
    await this.db.query('DELETE FROM kek_nodes WHERE node = $1', [node]);
  }

  /** The processes that reported within `withinMs`; older rows (killed nodes) are removed. */
  async liveNodes(withinMs: number): Promise<KekNode[]> {
    await this.db.query(`DELETE FROM kek_nodes WHERE seen_at < ${NOW_MS} - $1`, [withinMs * 10]);
    const r = await this.db.query<{ node: string; kek_id: string; age: string }>(`SELECT node, kek_id, ${NOW_MS} - seen_at AS age FROM kek_nodes WHERE seen_at >= ${NOW_MS} - $1 ORDER BY node`, [withinMs]);
    return r.rows.map((x) => ({ node: x.node, kekId: x.kek_id, ageMs: Number(x.age) }));
  }

  /** Objects (material) and Digests kept of destroyed objects, per KEK. */
  async references(): Promise<Map<string, KekReferences>> {
    const out = new Map<string, KekReferences>();
    const entry = (id: string) => out.get(id) ?? out.set(id, { objects: 0, digests: 0 }).get(id)!;
    const r = await this.db.query<{ id: string; objects: string; digests: string }>(
      `SELECT id, sum(o)::bigint AS objects, sum(d)::bigint AS digests FROM (
         SELECT kek_id AS id, count(*) AS o, 0 AS d FROM objects WHERE kek_id IS NOT NULL GROUP BY kek_id
         UNION ALL SELECT digest_kek_id, 0, count(*) FROM objects WHERE digest_kek_id IS NOT NULL GROUP BY digest_kek_id) x GROUP BY id`,
    );
    for (const row of r.rows) {
      const e = entry(row.id);
      e.objects = Number(row.objects);
      e.digests = Number(row.digests);
    }
    return out;
  }

  /** Rows with material or a Digest under a KEK other than `kekId`. */
  async countUnderOthers(kekId: string): Promise<number> {
    const r = await this.db.query<{ n: string }>(`SELECT count(*) AS n FROM objects WHERE ${UNDER_ANOTHER}`, [kekId]);
    return Number(r.rows[0]!.n);
  }

  /** The next `limit` such rows after `afterSeq`, in seq order. */
  async underOthers(kekId: string, afterSeq: string, limit: number): Promise<WrappedRow[]> {
    const r = await this.db.query<WrappedRow>(
      `SELECT seq, uid, rev, kek_id, mechanism, iv, ciphertext, digest_kek_id, digest_mechanism, digest_iv, digest_ciphertext
       FROM objects WHERE seq > $2 AND ${UNDER_ANOTHER} ORDER BY seq LIMIT $3`,
      [kekId, afterSeq, limit],
    );
    return r.rows;
  }

  /**
   * Writes re-wrapped rows in one statement (one transaction, one round trip), each only at the
   * revision it was read at (a row a node changed meanwhile is left for the next pass); answers
   * how many were written.
   */
  async writeRewrapped(rows: readonly Rewrapped[]): Promise<number> {
    if (rows.length === 0) return 0;
    const col = <T>(f: (r: Rewrapped) => T) => rows.map(f);
    const bytes = (b: Uint8Array | undefined) => (b === undefined ? null : Buffer.from(b));
    const r = await this.db.query(
      `UPDATE objects o SET rev = o.rev + 1,
         kek_id = CASE WHEN v.m THEN v.kek ELSE o.kek_id END, mechanism = CASE WHEN v.m THEN v.mech ELSE o.mechanism END,
         iv = CASE WHEN v.m THEN v.iv ELSE o.iv END, ciphertext = CASE WHEN v.m THEN v.ct ELSE o.ciphertext END,
         digest_kek_id = CASE WHEN v.d THEN v.dkek ELSE o.digest_kek_id END, digest_mechanism = CASE WHEN v.d THEN v.dmech ELSE o.digest_mechanism END,
         digest_iv = CASE WHEN v.d THEN v.div ELSE o.digest_iv END, digest_ciphertext = CASE WHEN v.d THEN v.dct ELSE o.digest_ciphertext END
       FROM unnest($1::bigint[], $2::int[], $3::bool[], $4::text[], $5::text[], $6::bytea[], $7::bytea[], $8::bool[], $9::text[], $10::text[], $11::bytea[], $12::bytea[])
         AS v(seq, rev, m, kek, mech, iv, ct, d, dkek, dmech, div, dct)
       WHERE o.seq = v.seq AND o.rev = v.rev`,
      [
        col((x) => x.seq), col((x) => x.rev),
        col((x) => x.material !== undefined), col((x) => x.material?.kekId ?? null), col((x) => x.material?.mechanism ?? null), col((x) => bytes(x.material?.iv)), col((x) => bytes(x.material?.ciphertext)),
        col((x) => x.digest !== undefined), col((x) => x.digest?.kekId ?? null), col((x) => x.digest?.mechanism ?? null), col((x) => bytes(x.digest?.iv)), col((x) => bytes(x.digest?.ciphertext)),
      ],
    );
    return r.rowCount ?? 0;
  }

  async close(): Promise<void> {
    if (this.owned) await this.db.end();
  }
}
