/**
 * The port for requests waiting for a second officer's approval (dual control: the access
 * policy's `dualControl` rules, src/access/policy.ts; src/server/dual-control.ts). Kept in the store, so a restart, another worker process and the
 * `kmip-server approve` command all see the same requests. Every change is a compare-and-set on the
 * state: two processes deciding or running one request at once cannot both succeed.
 */

/**
 * pending: waits for an officer; approved: runs at its requester's next Poll; running: a process
 * claimed it and runs it; done: ran (its result status is kept, never its payload); denied: an
 * officer refused it; cancelled: its requester withdrew it (Cancel).
 */
export type ApprovalState = 'pending' | 'approved' | 'denied' | 'cancelled' | 'running' | 'done';

export interface NewApproval {
  /** What operators name it by ("apr-" and 16 hex digits), unrelated to the correlation value. */
  readonly id: string;
  /** The Asynchronous Correlation Value given to the requester, hex. */
  readonly correlation: string;
  readonly requester: string;
  readonly requesterFingerprint?: string;
  /** The operation's name (an Operation enumeration key, or KekRetire). */
  readonly operation: string;
  /** The object the request names, when it names one. */
  readonly uniqueIdentifier?: string;
  /** The rule that covered it (`accessPolicy.dualControl[N]`). */
  readonly rule: string;
  /** The protocol version the request was sent in ("2.1"): its payload is in that version's form. */
  readonly protocolVersion: string;
  /** The Request Payload as sent (TTLV); empty for KekRetire. */
  readonly request: Uint8Array;
  /** Milliseconds since the epoch. */
  readonly createdAt: number;
}

export interface ApprovalRecord extends NewApproval {
  readonly state: ApprovalState;
  readonly decidedBy?: string;
  readonly decidedAt?: number;
  readonly resultStatus?: number;
  readonly resultReason?: number;
  readonly resultMessage?: string;
}

export interface ApprovalStore {
  /** Durable before it resolves. */
  add(a: NewApproval): Promise<void>;
  byId(id: string): Promise<ApprovalRecord | undefined>;
  byCorrelation(correlation: string): Promise<ApprovalRecord | undefined>;
  /** Newest first; `states` absent: all. */
  list(states?: readonly ApprovalState[]): Promise<ApprovalRecord[]>;
  /** Moves the request from one of `from` to `to`; false when it was in none of them (someone else moved it). */
  transition(id: string, from: readonly ApprovalState[], to: ApprovalState, fields?: { decidedBy?: string; decidedAt?: number }): Promise<boolean>;
  /**
   * Every running request -> done with `result`: after a stop in the middle of one (only the one
   * process of a server calls it, at start). Returns their ids.
   */
  abandonRunning(result: { status: number; reason?: number; message: string }): Promise<string[]>;
  /** running -> done with the result the requester was answered. */
  finish(id: string, result: { status: number; reason?: number; message?: string }): Promise<void>;
  /** Closes its own connections (never the object store's). */
  close(): Promise<void>;
}

/** An approval as both engines keep it (BIGINT columns come back from PostgreSQL as text). */
export interface ApprovalRow {
  id: string;
  correlation: string;
  requester: string;
  requester_fingerprint: string | null;
  operation: string;
  uid: string | null;
  rule: string;
  protocol_version: string;
  request: Buffer;
  created_at: number | string;
  state: ApprovalState;
  decided_by: string | null;
  decided_at: number | string | null;
  result_status: number | null;
  result_reason: number | null;
  result_message: string | null;
}

export function approvalOfRow(r: ApprovalRow): ApprovalRecord {
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
    createdAt: Number(r.created_at),
    state: r.state,
    ...(r.decided_by !== null ? { decidedBy: r.decided_by } : {}),
    ...(r.decided_at !== null ? { decidedAt: Number(r.decided_at) } : {}),
    ...(r.result_status !== null ? { resultStatus: r.result_status } : {}),
    ...(r.result_reason !== null ? { resultReason: r.result_reason } : {}),
    ...(r.result_message !== null ? { resultMessage: r.result_message } : {}),
  };
}
