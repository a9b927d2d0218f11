/**
 * The audit port and its file implementation: one JSON line per batch item and per rejected
 * connection. Records carry identifiers and outcomes, never key material or credentials: the
 * entry type has no field that could hold them.
 *
 * The file is a tamper-evident, durable trail (trail.ts, chain.ts): every line carries `seq` and
 * `prev` (the SHA-256 of the line before it), checkpoints carry an HMAC by a non-extractable audit
 * key in the HSM, and `durable()` resolves only once what was recorded is synced, so the listener
 * answers no request whose record could still be lost. `kmip-server audit verify` checks it all
 * (verify.ts). With several worker processes the primary owns the file and the chain; workers send
 * their records to it (worker-sink.ts).
 */
import { AuditTrail, type CheckpointReason } from './trail';

export interface AuditRecord {
  /**
   * `notification`: one Notify or Put the server sent (or could not send) to a client's endpoint;
   * `notification-dropped`: messages for an endpoint given up on (queue full, server stopping);
   * `scheduled`: a server action at its time (a date reached, an automatic rotation: src/scheduler/);
   * `access-policy`: the access policy file reloaded (SIGHUP), or kept because the new one failed;
   * `config-reloaded`: a setting SIGHUP applied from the configuration file read again (`reason` says which).
   */
  readonly event: 'operation' | 'connection-rejected' | 'message-rejected' | 'notification' | 'notification-dropped' | 'scheduled' | 'access-policy' | 'config-reloaded';
  readonly correlationId: string;
  readonly client?: string;
  readonly certificateFingerprint?: string;
  readonly peer?: string;
  readonly protocolVersion?: string;
  /** The request carried an Authentication structure (its credential is never logged). */
  readonly credentialPresented?: boolean;
  readonly operation?: string;
  readonly uniqueIdentifiers?: readonly string[];
  readonly resultStatus?: string;
  readonly resultReason?: string;
  readonly reason?: string;
  readonly durationMs?: number;
  /**
   * How many messages a `notification-dropped` record stands for; how many identical failed batch
   * items of one message an `operation` record stands for (absent: one).
   */
  readonly count?: number;
  /** Locate: how many identifiers it returned, and how many matched (before Offset/Maximum Items). */
  readonly locatedReturned?: number;
  readonly locatedMatched?: number;
  /** The client's message for the trail (the Log operation): its text, never interpreted. */
  readonly clientMessage?: string;
  /** The outcome of an item answered Operation Pending earlier (run afterwards, polled for). */
  readonly asynchronous?: boolean;
  /** An administrator reached another identity's object (Get, Destroy, Re-key, Locate, ...): true, never false. */
  readonly administratorOverride?: true;
  /** A grant (access policy, src/access/) let the caller reach another identity's object: true, never false. */
  readonly granted?: true;
  /** With administratorOverride or granted: the owners of the objects reached. */
  readonly objectOwners?: readonly string[];
  /** Dual control: the request held for approval (the pending answer's record, and the run's). */
  readonly approvalId?: string;
  /** Dual control: the security officer who approved the request this record is the run of. */
  readonly approvedBy?: string;
}

export interface AuditSink {
  record(entry: AuditRecord): void;
  /** Unexpected internal errors: logged with their correlation id, never sent to the client. */
  internalError(correlationId: string, error: unknown): void;
  /**
   * Resolves once every record recorded so far is on disk (written and synced); rejects if one
   * never will be. The listener awaits it before it answers a request.
   */
  durable(): Promise<void>;
  /** Closes and opens the audit file again by name (after logrotate moved it); the chain continues. */
  reopen(): Promise<void>;
  close(): Promise<void>;
}

/** The file-backed sink: the chained trail of trail.ts. */
export interface AuditLog extends AuditSink {
  /** Writes a checkpoint MAC'd by the HSM now; rejects if the HSM could not MAC it. */
  checkpoint(reason: CheckpointReason): Promise<void>;
}

export interface AuditLogOptions {
  readonly file: string;
  /** Where the last durable line is remembered (the data dir's HEAD_FILE); default: none. */
  readonly headFile?: string | null;
  /** The HSM audit key's HMAC (KeyProtector.auditMac); without it the trail has no checkpoints. */
  readonly mac?: (data: Uint8Array) => Promise<Buffer>;
  readonly checkpointEvery?: number;
  readonly checkpointSeconds?: number;
  /** Told the lines of each write once they are synced (the SIEM forwarder wakes on it). */
  readonly onDurable?: (lines: readonly string[]) => void;
  /** When a batch may be synced on the event loop (AuditTrailOptions.syncInline). */
  readonly syncInline?: () => boolean;
}

/** A record's fields after `seq` and `prev`, as one JSON object text. */
export function recordBody(entry: AuditRecord): string {
  // The record's own JSON with the fixed fields appended: the same text as stringifying a copy with
  // them added, without building that copy on every request.
  const fields = JSON.stringify(entry);
  return `${fields.length > 2 ? `${fields.slice(0, -1)},` : '{'}"level":"info","message":"audit","timestamp":"${new Date().toISOString()}"}`;
}

export function internalErrorBody(correlationId: string, error: unknown): string {
  return JSON.stringify({
    correlationId,
    // The stack helps operators; messages from our own code hold no key material.
    error: error instanceof Error ? (error.stack ?? error.message) : String(error),
    level: 'error',
    message: 'internal error',
    timestamp: new Date().toISOString(),
  });
}

/** The audit file of a single process, or of the primary of several (workers.ts feeds it). */
export function createAuditLog(opts: AuditLogOptions): AuditLog & { readonly trail: AuditTrail } {
  const trail = new AuditTrail({
    file: opts.file,
    headFile: opts.headFile ?? null,
    mac: opts.mac,
    checkpointEvery: opts.checkpointEvery,
    checkpointSeconds: opts.checkpointSeconds,
    onDurable: opts.onDurable,
    syncInline: opts.syncInline,
  });
  return {
    trail,
    record: (entry) => trail.append(recordBody(entry)),
    internalError: (correlationId, error) => trail.append(internalErrorBody(correlationId, error)),
    durable: () => trail.durable(),
    reopen: () => trail.reopen(),
    checkpoint: (reason) => trail.checkpoint(reason),
    close: () => trail.close(),
  };
}

/** For tests and embedding: keeps records in memory. */
export class MemoryAuditSink implements AuditSink {
  readonly records: AuditRecord[] = [];
  readonly errors: { correlationId: string; error: unknown }[] = [];
  record(entry: AuditRecord): void {
    this.records.push(entry);
  }
  internalError(correlationId: string, error: unknown): void {
    this.errors.push({ correlationId, error });
  }
  async durable(): Promise<void> {}
  async reopen(): Promise<void> {}
  async close(): Promise<void> {}
}
