/**
 * The grants port over the SQLite store file (table `grants`, migration 6). Reads go to the
 * database every time (no cache), so a grant another process changed is seen by the next read;
 * writes run in their own immediate transaction and are synced before they resolve.
 */
import type Database from 'better-sqlite3';
import { GRANT_COLUMNS, grantKey, grantOfRow, type GrantChange, type GrantRecord, type GrantRow, type GrantStore } from './grants';


const SAME = 'ifnull(object_uid, \'\') = ? AND ifnull(object_group, \'\') = ? AND ifnull(to_identity, \'\') = ? AND ifnull(to_group, \'\') = ?';

export class SqliteGrantStore implements GrantStore {
  constructor(
    private readonly db: Database.Database,
    /** Makes a committed write durable (the store's WAL sync). */
    private readonly sync: () => void,
  ) {}

  async grantsTo(identity: string, groups: readonly string[]): Promise<GrantRecord[]> {
    const marks = groups.map(() => '?').join(',');
    const sql = `SELECT ${GRANT_COLUMNS} FROM grants WHERE to_identity = ?${groups.length > 0 ? ` OR to_group IN (${marks})` : ''}`;
    return (this.db.prepare(sql).all(identity, ...groups) as GrantRow[]).map(grantOfRow);
  }

  async grant(change: GrantChange): Promise<GrantRecord> {
    return this.write(change, (have) => [...new Set([...have, ...change.operations])])!;
  }

  async revoke(change: GrantChange): Promise<GrantRecord | undefined> {
    return this.write(change, (have) => (change.operations.length === 0 ? [] : have.filter((op) => !change.operations.includes(op))));
  }

  async list(): Promise<GrantRecord[]> {
    return (this.db.prepare(`SELECT ${GRANT_COLUMNS} FROM grants ORDER BY id`).all() as GrantRow[]).map(grantOfRow);
  }

  /** Read-modify-write of one grant in an immediate transaction (another process may write too). */
  private write(change: GrantChange, next: (have: readonly string[]) => string[]): GrantRecord | undefined {
    const key = grantKey(change.target, change.to);
    const now = Date.now();
    const run = this.db.transaction((): GrantRecord | undefined => {
      const row = this.db.prepare(`SELECT ${GRANT_COLUMNS} FROM grants WHERE ${SAME}`).get(...key) as GrantRow | undefined;
      const operations = next(row ? row.operations.split(',') : []).sort();
      if (operations.length === 0) {
        if (row) this.db.prepare(`DELETE FROM grants WHERE ${SAME}`).run(...key);
        return undefined;
      }
      const [uid, group, identity, toGroup] = key.map((k) => (k === '' ? null : k));
      if (row) this.db.prepare(`UPDATE grants SET operations = ?, changed_at = ?, changed_by = ? WHERE ${SAME}`).run(operations.join(','), now, change.by, ...key);
      else this.db.prepare(`INSERT INTO grants (${GRANT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)`).run(uid, group, identity, toGroup, operations.join(','), now, change.by);
      return { target: change.target, to: change.to, operations, changedAt: now, changedBy: change.by };
    });
    const out = run.immediate();
    this.sync();
    return out;
  }
}
