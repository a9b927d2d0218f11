/**
 * ApprovalStore on the SQLite store file (table `approvals`, migration 7), over a connection of its
 * own so the `kmip-server approve` command can use it beside a running server. Writes are rare (one
 * per request that needs approval and per decision), so they commit with synchronous=FULL rather
 * than through the object store's group commit: each is on disk before it resolves.
 */
import Database from 'better-sqlite3';
import { StoreError } from './object-store';
import { approvalOfRow, type ApprovalRecord, type ApprovalRow, type ApprovalState, type ApprovalStore, type NewApproval } from './approval-store';


export class SqliteApprovalStore implements ApprovalStore {
  private readonly db: Database.Database;

  /** `path`: the store file, migrated to schema 7 or later by the server. */
  constructor(path: string) {
    try {
      this.db = new Database(path, { fileMustExist: true });
    } catch (e) {
      throw new StoreError('IO', `cannot open the store ${path}: ${(e as Error).message}`);
    }
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma('synchronous = FULL');
    const table = this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'approvals'").get();
    if (table === undefined) {
      this.db.close();
      throw new StoreError('SCHEMA', `the store ${path} has no approvals table: start the server once on it (it migrates the store)`);
    }
  }

  add(a: NewApproval): Promise<void> {
    this.db
      .prepare(
        `INSERT INTO approvals (id, correlation, requester, requester_fingerprint, operation, uid, rule, protocol_version, request, created_at, state)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending')`,
      )
      .run(a.id, a.correlation, a.requester, a.requesterFingerprint ?? null, a.operation, a.uniqueIdentifier ?? null, a.rule, a.protocolVersion, Buffer.from(a.request), a.createdAt);
    return Promise.resolve();
  }

  byId(id: string): Promise<ApprovalRecord | undefined> {
    const r = this.db.prepare('SELECT * FROM approvals WHERE id = ?').get(id) as ApprovalRow | undefined;
    return Promise.resolve(r && approvalOfRow(r));
  }

  byCorrelation(correlation: string): Promise<ApprovalRecord | undefined> {
    const r = this.db.prepare('SELECT * FROM approvals WHERE correlation = ?').get(correlation) as ApprovalRow | undefined;
    return Promise.resolve(r && approvalOfRow(r));
  }

  list(states?: readonly ApprovalState[]): Promise<ApprovalRecord[]> {
    const rows = (
      states === undefined
        ? this.db.prepare('SELECT * FROM approvals ORDER BY created_at DESC, id').all()
        : this.db.prepare(`SELECT * FROM approvals WHERE state IN (${states.map(() => '?').join(', ')}) ORDER BY created_at DESC, id`).all(...states)
    ) as ApprovalRow[];
    return Promise.resolve(rows.map(approvalOfRow));
  }

  transition(id: string, from: readonly ApprovalState[], to: ApprovalState, fields: { decidedBy?: string; decidedAt?: number } = {}): Promise<boolean> {
    const r = this.db
      .prepare(
        `UPDATE approvals SET state = ?, decided_by = COALESCE(?, decided_by), decided_at = COALESCE(?, decided_at)
         WHERE id = ? AND state IN (${from.map(() => '?').join(', ')})`,
      )
      .run(to, fields.decidedBy ?? null, fields.decidedAt ?? null, id, ...from);
    return Promise.resolve(r.changes === 1);
  }

  abandonRunning(result: { status: number; reason?: number; message: string }): Promise<string[]> {
    const ids = this.db.transaction(() => {
      const running = this.db.prepare("SELECT id FROM approvals WHERE state = 'running'").pluck().all() as string[];
      this.db.prepare("UPDATE approvals SET state = 'done', result_status = ?, result_reason = ?, result_message = ? WHERE state = 'running'").run(result.status, result.reason ?? null, result.message);
      return running;
    })();
    return Promise.resolve(ids);
  }

  finish(id: string, result: { status: number; reason?: number; message?: string }): Promise<void> {
    this.db
      .prepare("UPDATE approvals SET state = 'done', result_status = ?, result_reason = ?, result_message = ? WHERE id = ? AND state = 'running'")
      .run(result.status, result.reason ?? null, result.message ?? null, id);
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.db.close();
    return Promise.resolve();
  }
}
