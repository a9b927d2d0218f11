/**
 * ApprovalStore on the SQLite store file (table `approvals`, migration 7), over a connection of its
 * own so the `kmip-server approve` command can use it beside a running server. Writes are rare (one
 * per request that needs approval and per decision), so they commit with synchronous=FULL rather
 * than through the object store's group commit: each is on disk before it resolves.
 */
import Database from 'better-sqlite3';
import { StoreError } from './object-store';
import type { ApprovalRecord, ApprovalState, ApprovalStore, NewApproval } from './approval-store';

interface Row {
  id: string;
  correlation: string;
  requester: string;
  requester_fingerprint: string | null;
  operation: string;
  uid: string | null;
  rule: string;
  protocol_version: string;
  request: Buffer;
  created_at: number;
  state: ApprovalState;
  decided_by: string | null;
  decided_at: number | null;
  result_status: number | null;
  result_reason: number | null;
  result_message: string | null;
}

function recordOf(r: Row): ApprovalRecord {
  return {
    id: r.id,
    correlation: r.correlation,
    requester: r.requester,
    ...(r.requester_fingerprint !== null ? { requesterFingerprint: r.requester_fingerprint } : {}),
    operation: r.operation,
    ...(r.uid !== null ? { uniqueIdentifier: r.uid } : {}),
    rule: r.rule,
    protocolVersion: r.protocol_version,
    request: r.request,
    createdAt: r.created_at,
    state: r.state,
    ...(r.decided_by !== null ? { decidedBy: r.decided_by } : {}),
    ...(r.decided_at !== null ? { decidedAt: r.decided_at } : {}),
    ...(r.result_status !== null ? { resultStatus: r.result_status } : {}),
    ...(r.result_reason !== null ? { resultReason: r.result_reason } : {}),
    ...(r.result_message !== null ? { resultMessage: r.result_message } : {}),
  };
}

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
    const r = this.db.prepare('SELECT * FROM approvals WHERE id = ?').get(id) as Row | undefined;
    return Promise.resolve(r && recordOf(r));
  }

  byCorrelation(correlation: string): Promise<ApprovalRecord | undefined> {
    const r = this.db.prepare('SELECT * FROM approvals WHERE correlation = ?').get(correlation) as Row | undefined;
    return Promise.resolve(r && recordOf(r));
  }

  list(states?: readonly ApprovalState[]): Promise<ApprovalRecord[]> {
    const rows = (
      states === undefined
        ? this.db.prepare('SELECT * FROM approvals ORDER BY created_at DESC, id').all()
        : this.db.prepare(`SELECT * FROM approvals WHERE state IN (${states.map(() => '?').join(', ')}) ORDER BY created_at DESC, id`).all(...states)
    ) as Row[];
    return Promise.resolve(rows.map(recordOf));
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
