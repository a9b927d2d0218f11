/**
 * The grants port over the PostgreSQL store (table `grants`, migration 6), the same rules as the
 * SQLite one (sqlite-grants.ts): reads go to the database every time, so a grant another node or
 * the `kmip-server grant` command changed is what the next request reads; a change is one
 * transaction, its row locked, acknowledged after COMMIT.
 */
import type { Pool } from 'pg';
import { GRANT_COLUMNS, grantKey, grantOfRow, type GrantChange, type GrantRecord, type GrantRow, type GrantStore } from './grants';


const SAME = `coalesce(object_uid, '') = $1 AND coalesce(object_group, '') = $2 AND coalesce(to_identity, '') = $3 AND coalesce(to_group, '') = $4`;

export class PostgresGrantStore implements GrantStore {
  constructor(private readonly pool: Pool) {}

  async grantsTo(identity: string, groups: readonly string[]): Promise<GrantRecord[]> {
    const r = await this.pool.query<GrantRow>(`SELECT ${GRANT_COLUMNS} FROM grants WHERE to_identity = $1 OR to_group = ANY($2::text[])`, [identity, [...groups]]);
    return r.rows.map(grantOfRow);
  }

  async grant(change: GrantChange): Promise<GrantRecord> {
    return (await this.write(change, (have) => [...new Set([...have, ...change.operations])]))!;
  }

  async revoke(change: GrantChange): Promise<GrantRecord | undefined> {
    return this.write(change, (have) => (change.operations.length === 0 ? [] : have.filter((op) => !change.operations.includes(op))));
  }

  async list(): Promise<GrantRecord[]> {
    return (await this.pool.query<GrantRow>(`SELECT ${GRANT_COLUMNS} FROM grants ORDER BY id`)).rows.map(grantOfRow);
  }

  /** Read-modify-write of one grant; the unique index serialises two first grants of one key. */
  private async write(change: GrantChange, next: (have: readonly string[]) => string[]): Promise<GrantRecord | undefined> {
    const key = grantKey(change.target, change.to);
    const now = Date.now();
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      // Lock the key's place so two writers of one grant take turns (a row may not exist yet).
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [JSON.stringify(key)]);
      const row = (await client.query<GrantRow>(`SELECT ${GRANT_COLUMNS} FROM grants WHERE ${SAME}`, key)).rows[0];
      const operations = next(row ? row.operations.split(',') : []).sort();
      let out: GrantRecord | undefined;
      if (operations.length === 0) {
        if (row) await client.query(`DELETE FROM grants WHERE ${SAME}`, key);
      } else {
        const [uid, group, identity, toGroup] = key.map((k) => (k === '' ? null : k));
        if (row) await client.query(`UPDATE grants SET operations = $5, changed_at = $6, changed_by = $7 WHERE ${SAME}`, [...key, operations.join(','), now, change.by]);
        else await client.query(`INSERT INTO grants (${GRANT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)`, [uid, group, identity, toGroup, operations.join(','), now, change.by]);
        out = { target: change.target, to: change.to, operations, changedAt: now, changedBy: change.by };
      }
      await client.query('COMMIT');
      return out;
    } catch (e) {
      await client.query('ROLLBACK').catch((r: unknown) => (broken = r instanceof Error ? r : new Error(String(r))));
      throw e;
    } finally {
      client.release(broken);
    }
  }
}
