/**
 * The lifecycle scheduler: date attributes take effect at their time, not at the object's next
 * read. Activation and Deactivation Dates move the State (persisted, so Locate by State, metrics
 * and notifications are right at once); Process Start and Protect Stop Dates change no State (the
 * uses they gate are checked at each use, objects/crypto-key.ts) and are recorded when reached.
 * Destroy Date is set by the server when it destroys (spec: not client-settable), so it is never
 * due. Every change is audited as a server action (event `scheduled`) and notified like a client's.
 *
 * One timer, armed for the next due date from an index seek (store/due-dates.ts), never a pass over
 * the objects. A sweep takes the dates in (last sweep - OVERLAP, now]: the overlap catches a date a
 * writer set just before the last sweep but committed after it; settling twice changes nothing.
 * Only one process of a server runs it (main.ts: the single process, or worker 1 of several).
 */
import { randomUUID } from 'node:crypto';
import type { AuditSink } from '../audit/audit-log';
import type { DueCursor, DueDateSource } from '../store/due-dates';
import { StoreError, type ObjectStore } from '../store/object-store';
import type { Clock } from '../objects/context';
import { effectiveState } from '../lifecycle/effective-state';
import { isStateValue, stateName, type StateValue } from '../lifecycle/state-machine';
import { dateAttribute } from '../kmip/attributes';
import { setAttribute, withState } from '../objects/managed-object';
import { ttlv } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { State } from '../spec/generated/enums';

/** Dates that move the State (effective-state.ts), then dates that only mark a use's start or end. */
const STATE_DATES = ['Activation Date', 'Deactivation Date'] as const;
/** The States each of those dates can still move an object out of (lifecycle/state-machine.ts). */
export const MOVABLE: Readonly<Record<(typeof STATE_DATES)[number], readonly number[]>> = {
  'Activation Date': [State.PreActive],
  'Deactivation Date': [State.PreActive, State.Active],
};
const MARK_DATES = ['Process Start Date', 'Protect Stop Date'] as const;
export const SCHEDULED_DATES: readonly string[] = [...STATE_DATES, ...MARK_DATES];

/** Seconds a sweep reaches back before the previous one (see above). */
const OVERLAP_SECONDS = 5n;
/** Rows read per query of a sweep. */
const PAGE = 500;
/** Writes of a sweep in flight at once. */
const CONCURRENT_WRITES = 64;
/** Tries of one object's write when a request changed it in between (CONFLICT). */
const WRITE_TRIES = 5;
/** The earliest a timer can say (before any date). */
const BEGINNING = -(1n << 62n);

/** Something else the scheduler runs at each sweep (automatic rotation, rotation.ts). */
export interface ScheduledTask {
  /** Does what is due at `nowMs`; returns the next time (ms) it wants a sweep, if any. */
  run(nowMs: number): Promise<number | undefined>;
}

export interface LifecycleSchedulerDeps {
  /** The server's store, or a ChangeObserver over it per sweep (`storeForSweep`). */
  readonly store: ObjectStore;
  /** The scheduler's own: it closes it. */
  readonly dueDates: DueDateSource;
  readonly audit: AuditSink;
  readonly clock: Clock;
  /**
   * The longest the timer sleeps before it reads the timetable again: the bound on how late a date
   * written by another process (a worker, a command) is noticed. Each look is a seek per date name.
   */
  readonly recheckMs?: number;
  /** Wraps the store for one sweep (notifications: notify/change-observer.ts); `done` publishes. */
  readonly storeForSweep?: () => { readonly store: ObjectStore; done(): void };
  readonly tasks?: readonly ScheduledTask[];
  /** Unexpected failures of a sweep (logged; the next sweep tries again). */
  readonly onError?: (e: unknown) => void;
}

export interface SweepResult {
  /** Objects whose State a date moved. */
  readonly transitions: number;
  /** Process Start / Protect Stop Dates recorded as reached. */
  readonly marks: number;
}

export class LifecycleScheduler {
  private timer: NodeJS.Timeout | undefined;
  private watermark = BEGINNING;
  private running: Promise<SweepResult> | undefined;
  private again = false;
  private closed = false;
  /** Marks recorded in the overlap window, so a second look does not record them twice. */
  private recentMarks = new Map<string, bigint>();

  constructor(private readonly deps: LifecycleSchedulerDeps) {}

  /** The first sweep catches up on every date that passed while the server was down. */
  start(): void {
    void this.wake();
  }

  /**
   * Sweeps now and arms the timer again: the timer calls it, and a test that moved its clock.
   * Concurrent calls share the sweep under way and one more after it.
   */
  async wake(): Promise<SweepResult> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.clearTimer();
    this.running = this.sweepAndArm();
    try {
      return await this.running;
    } finally {
      this.running = undefined;
      if (this.again && !this.closed) {
        this.again = false;
        void this.wake();
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.clearTimer();
    await this.running?.catch(() => undefined);
    await this.deps.dueDates.close();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async sweepAndArm(): Promise<SweepResult> {
    let result: SweepResult = { transitions: 0, marks: 0 };
    let wantMs: number | undefined;
    try {
      result = await this.sweep();
      for (const task of this.deps.tasks ?? []) {
        const t = await task.run(this.deps.clock.now());
        if (t !== undefined && (wantMs === undefined || t < wantMs)) wantMs = t;
      }
    } catch (e) {
      this.deps.onError?.(e);
    }
    if (!this.closed) await this.arm(wantMs);
    return result;
  }

  private async arm(taskWantsMs: number | undefined): Promise<void> {
    const nowMs = this.deps.clock.now();
    let next: bigint | undefined;
    try {
      next = await this.deps.dueDates.nextAfter(SCHEDULED_DATES, seconds(nowMs));
    } catch (e) {
      // A timetable that cannot be read now (the database away): look again at the next recheck.
      this.deps.onError?.(e);
    }
    let at = nowMs + (this.deps.recheckMs ?? 1000);
    if (next !== undefined) at = Math.min(at, Number(next) * 1000);
    if (taskWantsMs !== undefined) at = Math.min(at, taskWantsMs);
    this.timer = setTimeout(() => void this.wake(), Math.max(0, at - nowMs));
    // The scheduler never keeps the process alive on its own.
    this.timer.unref();
  }

  private async sweep(): Promise<SweepResult> {
    const nowMs = this.deps.clock.now();
    const to = seconds(nowMs);
    const from = this.watermark === BEGINNING ? BEGINNING : this.watermark - OVERLAP_SECONDS;
    const wrapped = this.deps.storeForSweep?.();
    const store = wrapped?.store ?? this.deps.store;
    let transitions = 0;
    let marks = 0;
    try {
      for (const name of STATE_DATES) {
        for (let after: DueCursor | undefined; ; ) {
          const due = await this.deps.dueDates.dueIn(name, from, to, PAGE, after, MOVABLE[name]);
          // Concurrent writes share the store's group commits (one sync for many), a few at a time.
          for (let i = 0; i < due.length; i += CONCURRENT_WRITES) {
            const moved = await Promise.all(due.slice(i, i + CONCURRENT_WRITES).map((d) => this.settle(store, d.uid, nowMs)));
            transitions += moved.filter(Boolean).length;
          }
          if (due.length < PAGE) break;
          after = due[due.length - 1];
        }
      }
      // Marks change nothing, so the first sweep does not record again those that passed while stopped.
      const markFrom = from === BEGINNING ? to - OVERLAP_SECONDS : from;
      for (const name of MARK_DATES) {
        for (let after: DueCursor | undefined; ; ) {
          const due = await this.deps.dueDates.dueIn(name, markFrom, to, PAGE, after);
          for (const d of due) if (await this.mark(store, d.uid, name, d.at)) marks++;
          if (due.length < PAGE) break;
          after = due[due.length - 1];
        }
      }
    } finally {
      wrapped?.done();
    }
    this.watermark = to;
    for (const [k, at] of this.recentMarks) if (at <= to - 2n * OVERLAP_SECONDS) this.recentMarks.delete(k);
    return { transitions, marks };
  }

  /** Brings one object's State up to date with its dates; true if it moved. */
  private async settle(store: ObjectStore, uid: string, nowMs: number): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      const rec = await store.get(uid);
      if (rec === undefined || !isStateValue(rec.state)) return false;
      const from = rec.state;
      const to = effectiveState(from, rec.attributes, nowMs);
      if (to === from) return false;
      const { state, attributes } = withState(rec.attributes, to);
      const changed = setAttribute(attributes, 'Last Change Date', ttlv.dateTime(Tag.LastChangeDate, seconds(nowMs)));
      try {
        await store.update(uid, { state, attributes: changed, expectedRevision: rec.revision });
      } catch (e) {
        // A request changed the object in between: settle what it left.
        if (e instanceof StoreError && (e.code === 'CONFLICT' || e.code === 'NOT_FOUND') && attempt < WRITE_TRIES) continue;
        throw e;
      }
      // Named by the date that moved it last: a row of one date can find both passed.
      const reached = to === State.Active ? 'Activation Date' : 'Deactivation Date';
      this.record(reached, uid, `State ${stateName(from)} -> ${stateName(to)}`, rec.owner);
      return true;
    }
  }

  /** Records that a Process Start or Protect Stop Date was reached, once, for an object it still applies to. */
  private async mark(store: ObjectStore, uid: string, name: string, at: bigint): Promise<boolean> {
    const key = `${uid}\u0000${name}\u0000${at}`;
    if (this.recentMarks.has(key)) return false;
    const rec = await store.get(uid);
    if (rec === undefined || dateAttribute(rec.attributes, name) !== at) return false;
    if (rec.state === State.Destroyed || rec.state === State.DestroyedCompromised) return false;
    this.recentMarks.set(key, at);
    const what = name === 'Protect Stop Date' ? 'no longer used to protect' : 'may now be used to process';
    this.record(name, uid, `reached: the object ${what} (State ${stateName(rec.state as StateValue)})`, rec.owner);
    return true;
  }

  private record(reached: string, uid: string, reason: string, owner: string): void {
    this.deps.audit.record({
      event: 'scheduled',
      correlationId: randomUUID(),
      operation: `${reached} reached`,
      uniqueIdentifiers: [uid],
      objectOwners: [owner],
      resultStatus: 'Success',
      reason,
    });
  }
}

function seconds(ms: number): bigint {
  return BigInt(Math.floor(ms / 1000));
}
