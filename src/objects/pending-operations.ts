/**
 * Asynchronous operations (the Request Header's Asynchronous Indicator): an item the client allows
 * to run asynchronously and that is long (see `deferrable` in async-policy.ts) is answered at once
 * with Operation Pending and an Asynchronous Correlation Value; it then runs here, one at a time in
 * arrival order, and Poll returns its outcome, or Operation Pending while it has not finished.
 * Cancel withdraws it while it waits to start (Canceled); once it runs it finishes (Unable to
 * Cancel), and a finished one answers Completed (or Failed).
 *
 * Pending operations live in the memory of the serving process: a restart, or another worker
 * process, knows none of them (Poll then answers as for an unknown value). Their writes are durable
 * when their outcome is kept, as for any synchronous request. Only the identity that made a request
 * may poll or cancel it: another identity's value answers exactly like an unknown one.
 */
import { CancellationResult, ResultReason, ResultStatus } from '../spec/generated/enums';
import type { TtlvItem } from '../../ttlv/types';
import type { ReasonValue } from '../kmip/errors';
import { secureRandomBytes } from '../crypto/random-pool';
import type { ClientIdentity } from './context';

/** What a finished operation answers: the result fields of its batch item. */
export interface PendingOutcome {
  readonly status: number;
  readonly reason?: ReasonValue;
  readonly message?: string;
  readonly payload?: readonly TtlvItem[];
}

/** Finished outcomes are kept this long for Poll, then forgotten. */
const KEEP_FINISHED_MS = 15 * 60_000;
/** At most this many outstanding or kept operations per identity, so no client fills the memory. */
const MAX_PER_OWNER = 64;

interface Entry {
  readonly owner: string;
  readonly operation: number;
  state: 'queued' | 'running' | 'done';
  outcome?: PendingOutcome;
  finishedAt?: number;
  readonly run: () => Promise<PendingOutcome>;
}

export type PollAnswer = { readonly state: 'pending'; readonly operation: number } | { readonly state: 'done'; readonly operation: number; readonly outcome: PendingOutcome };

export class PendingOperations {
  private readonly entries = new Map<string, Entry>();
  private queue: Promise<void> = Promise.resolve();
  private idle: Promise<void> = Promise.resolve();

  constructor(private readonly now: () => number = Date.now) {}

  /** Whether `owner` may start another one (the per-identity bound). */
  hasRoom(owner: string): boolean {
    this.forgetOld();
    let n = 0;
    for (const e of this.entries.values()) if (e.owner === owner) n++;
    return n < MAX_PER_OWNER;
  }

  /** Queues `run` and returns its Asynchronous Correlation Value. */
  start(owner: string, operation: number, run: () => Promise<PendingOutcome>): Uint8Array {
    const value = secureRandomBytes(16);
    const key = Buffer.from(value).toString('hex');
    const entry: Entry = { owner, operation, state: 'queued', run };
    this.entries.set(key, entry);
    this.queue = this.queue.then(() => this.execute(entry));
    this.idle = this.queue;
    return value;
  }

  private async execute(entry: Entry): Promise<void> {
    if (entry.state !== 'queued') return; // cancelled while it waited
    entry.state = 'running';
    try {
      entry.outcome = await entry.run();
    } catch {
      // run() maps its own errors; this is the net under it.
      entry.outcome = { status: ResultStatus.OperationFailed };
    }
    entry.state = 'done';
    entry.finishedAt = this.now();
  }

  poll(owner: string, correlation: Uint8Array): PollAnswer | undefined {
    const e = this.find(owner, correlation);
    if (!e) return undefined;
    if (e.state !== 'done') return { state: 'pending', operation: e.operation };
    return { state: 'done', operation: e.operation, outcome: e.outcome! };
  }

  cancel(owner: string, correlation: Uint8Array): number {
    const e = this.find(owner, correlation);
    if (!e) return CancellationResult.Unavailable;
    if (e.state === 'queued') {
      e.state = 'done';
      e.finishedAt = this.now();
      e.outcome = { status: ResultStatus.OperationFailed, reason: ResultReason.OperationCanceledByRequester, message: 'the operation was cancelled before it ran' };
      return CancellationResult.Canceled;
    }
    if (e.state === 'running') return CancellationResult.UnableToCancel;
    return e.outcome?.status === ResultStatus.Success ? CancellationResult.Completed : CancellationResult.Failed;
  }

  /** Resolves once every operation started so far has finished (for a clean stop and for tests). */
  drain(): Promise<void> {
    return this.idle;
  }

  private find(owner: string, correlation: Uint8Array): Entry | undefined {
    this.forgetOld();
    const e = this.entries.get(Buffer.from(correlation).toString('hex'));
    return e && e.owner === owner ? e : undefined;
  }

  private forgetOld(): void {
    const limit = this.now() - KEEP_FINISHED_MS;
    for (const [k, e] of this.entries) if (e.state === 'done' && e.finishedAt! < limit) this.entries.delete(k);
  }
}

/**
 * Thrown by Poll to answer with another operation's result (or Operation Pending) instead of its
 * own Success; handle-message turns it into the batch item's fields.
 */
export class AnswerAs extends Error {
  override readonly name = 'AnswerAs';
  constructor(
    readonly outcome: PendingOutcome,
    readonly asyncCorrelationValue?: Uint8Array,
  ) {
    super('answered with a pending operation\'s result');
  }
}

/**
 * Requests that waited for a second officer's approval (dual control, server/dual-control.ts),
 * kept in the store rather than in this process's memory: Poll and Cancel ask them when the
 * correlation value names no operation here.
 */
export interface AwaitingApproval {
  /** Undefined: no such request of this caller. An approved one runs now, as `client`. */
  poll(client: ClientIdentity, correlation: Uint8Array): Promise<PollAnswer | undefined>;
  /** A Cancellation Result; undefined: no such request of this caller. */
  cancel(owner: string, correlation: Uint8Array): Promise<number | undefined>;
}
