/**
 * ApprovalStore on the PostgreSQL store (table `approvals`, migration 7), the same rules as the
 * SQLite one (sqlite-approvals.ts): every change is one statement whose WHERE compares the state,
 * so of two nodes or processes deciding or running one request, one wins; each is acknowledged
 * after its COMMIT (synchronous_commit on, as the object store's connections). A small pool of its
 * own, so `kmip-server approve` can use it beside running nodes, and closing it closes nothing else.
 */
import { Pool } from 'pg';
import { StoreError } from './object-store';
import { redactedUrl } from './postgres-url';
import { approvalOfRow, type ApprovalRecord, type ApprovalRow, type ApprovalState, type ApprovalStore, type NewApproval } from './approval-store';


/** Approvals are rare: two connections serve a node's and the command's few statements. */
const POOL_SIZE = 2;

export class PostgresApprovalStore implements ApprovalStore {
  private constructor(private readonly pool: Pool) {}

  /**
   * Connects to a database the server has migrated to schema 7 or later. Unreachable, or not yet
   * migrated: a StoreError naming the URL without its password and saying what to do.
   */
  static async open(opts: { readonly url: string; readonly connectTimeoutMs?: number }): Promise<PostgresApprovalStore> {
    const shown = redactedUrl(opts.url);
    const pool = new Pool({ connectionString: opts.url, max: POOL_SIZE, connectionTimeoutMillis: opts.connectTimeoutMs ?? 10_000, options: '-c synchronous_commit=on' });
    // An idle connection the server drops emits 'error' on the pool: without a listener, the process would exit.
    pool.on('error', () => undefined);
    let table: string | null;
    try {
      table = (await pool.query<{ t: string | null }>("SELECT to_regclass('approvals')::text AS t")).rows[0]!.t;
    } catch (e) {
      await pool.end().catch(() => undefined);
      throw new StoreError('IO', `cannot reach the PostgreSQL store at ${shown}: ${(e as Error).message || String(e)}`);
    }
    if (table === null) {
      await pool.end().catch(() => undefined);
      throw new StoreError('SCHEMA', `the PostgreSQL store at ${shown} has no approvals table: start the server once on it (it migrates the store)`);
    }
    return new PostgresApprovalStore(pool);
  }

  async add(a: NewApproval): Promise<void> {
    await this.pool.query(
      `INSERT INTO approvals (id, correlation, requester, requester_fingerprint, operation, uid, rule, protocol_version, request, created_at, state)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'pending')`,
      [a.id, a.correlation, a.requester, a.requesterFingerprint ?? null, a.operation, a.uniqueIdentifier ?? null, a.rule, a.protocolVersion, Buffer.from(a.request), a.createdAt],
    );
  }

  async byId(id: string): Promise<ApprovalRecord | undefined> {
    const r = (await this.pool.query<ApprovalRow>('SELECT * FROM approvals WHERE id = $1', [id])).rows[0];
    return r && approvalOfRow(r);
  }

  async byCorrelation(correlation: string): Promise<ApprovalRecord | undefined> {
    const r = (await this.pool.query<ApprovalRow>('SELECT * FROM approvals WHERE correlation = $1', [correlation])).rows[0];
    return r && approvalOfRow(r);
  }

  async list(states?: readonly ApprovalState[]): Promise<ApprovalRecord[]> {
    const r =
      states === undefined
        ? await this.pool.query<ApprovalRow>('SELECT * FROM approvals ORDER BY created_at DESC, id')
        : await this.pool.query<ApprovalRow>('SELECT * FROM approvals WHERE state = ANY($1::text[]) ORDER BY created_at DESC, id', [[...states]]);
    return r.rows.map(approvalOfRow);
  }

  async transition(id: string, from: readonly ApprovalState[], to: ApprovalState, fields: { decidedBy?: string; decidedAt?: number } = {}): Promise<boolean> {
    // One statement: PostgreSQL rechecks the WHERE on the row a concurrent writer left, so one wins.
    const r = await this.pool.query(
      `UPDATE approvals SET state = $1, decided_by = COALESCE($2, decided_by), decided_at = COALESCE($3, decided_at)
       WHERE id = $4 AND state = ANY($5::text[])`,
      [to, fields.decidedBy ?? null, fields.decidedAt ?? null, id, [...from]],
    );
    return r.rowCount === 1;
  }

  async abandonRunning(result: { status: number; reason?: number; message: string }): Promise<string[]> {
    const r = await this.pool.query<{ id: string }>(
      "UPDATE approvals SET state = 'done', result_status = $1, result_reason = $2, result_message = $3 WHERE state = 'running' RETURNING id",
      [result.status, result.reason ?? null, result.message],
    );
    return r.rows.map((row) => row.id);
  }

  async finish(id: string, result: { status: number; reason?: number; message?: string }): Promise<void> {
    await this.pool.query("UPDATE approvals SET state = 'done', result_status = $1, result_reason = $2, result_message = $3 WHERE id = $4 AND state = 'running'", [
      result.status,
      result.reason ?? null,
      result.message ?? null,
      id,
    ]);
  }

  /**
   * Writes a request as another store holds it, every field as it is (`kmip-server migrate`,
   * copy-to-postgres.ts): added, or its state and decision brought up to the given record.
   */
  async put(a: ApprovalRecord): Promise<void> {
    await this.pool.query(
      `INSERT INTO approvals (id, correlation, requester, requester_fingerprint, operation, uid, rule, protocol_version, request, created_at, state,
                              decided_by, decided_at, result_status, result_reason, result_message)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
       ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state, decided_by = EXCLUDED.decided_by, decided_at = EXCLUDED.decided_at,
         result_status = EXCLUDED.result_status, result_reason = EXCLUDED.result_reason, result_message = EXCLUDED.result_message`,
      [a.id, a.correlation, a.requester, a.requesterFingerprint ?? null, a.operation, a.uniqueIdentifier ?? null, a.rule, a.protocolVersion, Buffer.from(a.request), a.createdAt, a.state,
        a.decidedBy ?? null, a.decidedAt ?? null, a.resultStatus ?? null, a.resultReason ?? null, a.resultMessage ?? null],
    );
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}
