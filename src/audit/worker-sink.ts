/**
 * The audit trail with several worker processes: the primary owns the file and the chain (one
 * writer, one seq), the workers send it their records over Node's cluster IPC channel.
 *
 * A worker sends the records of one event-loop turn as one numbered batch; the primary appends them
 * to its trail and, once they are synced, answers with the batch's number. A worker's `durable()`
 * resolves when every batch sent before it was called is acknowledged, so a worker, too, answers no
 * request whose record could still be lost. If the primary dies the workers exit (the channel
 * closes), and their unacknowledged requests are never answered.
 */
import type { Worker } from 'node:cluster';
import { internalErrorBody, recordBody, type AuditRecord, type AuditSink } from './audit-log';
import type { AuditTrail } from './trail';

/** Worker to primary: records to append, in order. */
export interface AuditBatchMessage {
  readonly type: 'kmip-audit-batch';
  readonly batch: number;
  /** Record bodies (JSON object texts); the primary gives them seq and prev. */
  readonly lines: readonly string[];
}

/** Primary to worker: every batch up to this number is durable. */
export interface AuditSyncedMessage {
  readonly type: 'kmip-audit-synced';
  readonly batch: number;
}

function isAuditBatch(m: unknown): m is AuditBatchMessage {
  return typeof m === 'object' && m !== null && (m as { type?: unknown }).type === 'kmip-audit-batch' && Array.isArray((m as { lines?: unknown }).lines);
}

function isAuditSynced(m: unknown): m is AuditSyncedMessage {
  return typeof m === 'object' && m !== null && (m as { type?: unknown }).type === 'kmip-audit-synced';
}

/** In the primary: appends a worker's batches to the trail and acknowledges them once synced. */
export function serveWorkerAudit(worker: Worker, trail: AuditTrail): void {
  worker.on('message', (m: unknown) => {
    if (!isAuditBatch(m)) return;
    for (const line of m.lines) {
      // Only JSON object texts enter the chain: a line is one object, never two.
      if (typeof line === 'string' && line.startsWith('{') && line.endsWith('}') && !line.includes('\n')) trail.append(line);
    }
    trail.durable().then(
      () => {
        const ack: AuditSyncedMessage = { type: 'kmip-audit-synced', batch: m.batch };
        if (worker.isConnected()) worker.send(ack);
      },
      // Not acknowledged: the worker's requests waiting for it are never answered.
      () => undefined,
    );
  });
}

/** In a worker: the sink that sends records to the primary. */
export class WorkerAuditSink implements AuditSink {
  private pending: string[] = [];
  private scheduled = false;
  private sent = 0;
  private acknowledged = 0;
  private readonly waiters: Array<{ batch: number; resolve: () => void }> = [];
  private readonly onMessage = (m: unknown): void => {
    if (!isAuditSynced(m)) return;
    this.acknowledged = Math.max(this.acknowledged, m.batch);
    while (this.waiters.length > 0 && this.waiters[0]!.batch <= this.acknowledged) this.waiters.shift()!.resolve();
  };

  constructor() {
    process.on('message', this.onMessage);
  }

  record(entry: AuditRecord): void {
    this.push(recordBody(entry));
  }

  internalError(correlationId: string, error: unknown): void {
    this.push(internalErrorBody(correlationId, error));
  }

  durable(): Promise<void> {
    // Records not sent yet go in the batch the scheduled send will number sent + 1.
    const batch = this.pending.length > 0 ? this.sent + 1 : this.sent;
    if (batch <= this.acknowledged) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ batch, resolve }));
  }

  /** The primary owns the file: it reopens it. */
  async reopen(): Promise<void> {}

  async close(): Promise<void> {
    this.send();
    await this.durable();
    process.off('message', this.onMessage);
  }

  private push(body: string): void {
    this.pending.push(body);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.send());
  }

  private send(): void {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    const message: AuditBatchMessage = { type: 'kmip-audit-batch', batch: ++this.sent, lines: this.pending };
    this.pending = [];
    process.send?.(message);
  }
}
