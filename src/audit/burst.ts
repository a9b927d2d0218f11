/**
 * Aggregates a burst of identical failures within one request message into one audit record with
 * an exact count: a message of ten thousand failing Gets is one record, not ten thousand, so the
 * trail's volume stays bounded by what a client achieves while its counts stay exact. Records are
 * only held while the message runs, so each is written before the response is sent.
 */
import type { AuditRecord, AuditSink } from './audit-log';

/** Identifiers a merged record lists; `count` says how many items it stands for. */
const MAX_BURST_IDENTIFIERS = 10;

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export class AuditBurst {
  private held: Mutable<AuditRecord> | null = null;
  private ids: string[] = [];

  constructor(private readonly sink: AuditSink) {}

  /** Records `entry`; a failure like the one held is folded into it. `mergeable` is false for failures with an internal-error correlation. */
  add(entry: AuditRecord, mergeable: boolean): void {
    const held = this.held;
    if (held !== null && mergeable && sameFailure(held, entry)) {
      held.count = (held.count ?? 1) + 1;
      held.durationMs = (held.durationMs ?? 0) + (entry.durationMs ?? 0);
      for (const id of entry.uniqueIdentifiers ?? []) if (this.ids.length < MAX_BURST_IDENTIFIERS) this.ids.push(id);
      return;
    }
    this.flush();
    if (mergeable && entry.event === 'operation' && entry.resultStatus === 'OperationFailed') {
      this.held = { ...entry };
      this.ids = [...(entry.uniqueIdentifiers ?? [])].slice(0, MAX_BURST_IDENTIFIERS);
    } else {
      this.sink.record(entry);
    }
  }

  /** Writes the held record, if any. */
  flush(): void {
    const held = this.held;
    if (held === null) return;
    this.held = null;
    this.sink.record(held.count === undefined ? held : { ...held, uniqueIdentifiers: this.ids });
    this.ids = [];
  }
}

function sameFailure(a: AuditRecord, b: AuditRecord): boolean {
  return (
    b.event === 'operation' &&
    b.resultStatus === 'OperationFailed' &&
    a.operation === b.operation &&
    a.resultReason === b.resultReason &&
    a.client === b.client &&
    a.peer === b.peer &&
    a.protocolVersion === b.protocolVersion &&
    a.credentialPresented === b.credentialPresented &&
    a.asynchronous === b.asynchronous
  );
}
