/**
 * The scheduler as the composition root starts it: its timetable on a connection of its own, its
 * changes notified like a request's (notify/change-observer.ts), its failures logged.
 */
import type { AuditSink } from '../audit/audit-log';
import type { ObjectStore } from '../store/object-store';
import type { DueDateSource } from '../store/due-dates';
import type { Clock } from '../objects/context';
import { ChangeObserver } from '../notify/change-observer';
import type { Notifier } from '../notify/events';
import { LifecycleScheduler, type ScheduledTask } from './lifecycle-scheduler';

export { LifecycleScheduler } from './lifecycle-scheduler';

export interface SchedulerParts {
  /** The timetable of the store's engine, on a connection of its own; closed with the scheduler. */
  readonly dueDates: DueDateSource;
  readonly store: ObjectStore;
  readonly audit: AuditSink;
  readonly clock: Clock;
  readonly notifier?: Notifier;
  readonly recheckMs?: number;
  /** Further work at each sweep (automatic rotation), given the timetable and the store wrapper of a run. */
  readonly tasks?: (dueDates: DueDateSource, storeForRun: (() => { readonly store: ObjectStore; done(): void }) | undefined) => readonly ScheduledTask[];
}

export function startLifecycleScheduler(parts: SchedulerParts): LifecycleScheduler {
  const dueDates = parts.dueDates;
  const notifier = parts.notifier;
  const observed = notifier
    ? () => {
        const o = new ChangeObserver(parts.store, notifier);
        return { store: o, done: () => o.publish() };
      }
    : undefined;
  const scheduler = new LifecycleScheduler({
    store: parts.store,
    dueDates,
    audit: parts.audit,
    clock: parts.clock,
    ...(parts.recheckMs !== undefined ? { recheckMs: parts.recheckMs } : {}),
    tasks: parts.tasks?.(dueDates, observed),
    storeForSweep: observed,
    onError: (e) => console.error(JSON.stringify({ msg: 'scheduler', error: (e as Error).message })),
  });
  scheduler.start();
  return scheduler;
}
