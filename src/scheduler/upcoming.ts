/**
 * What the scheduler will do in a window of time, for `kmip-server schedule`: the dates that will
 * move a State or be reached, and the rotations that will fall due, read from the same indexes the
 * scheduler uses (a second reader beside a running server: SQLite in WAL).
 */
import type { DueDateSource } from '../store/due-dates';
import type { ObjectStore } from '../store/object-store';
import { SCHEDULED_DATES, MOVABLE } from './lifecycle-scheduler';
import { rotationCandidates, rotationPlan } from './rotation';
import type { RotationPolicy } from './rotation-policy';

export interface UpcomingEvent {
  /** Seconds since the epoch. */
  readonly at: bigint;
  readonly uid: string;
  /** The date reached ("Deactivation Date"), or "Rotation". */
  readonly event: string;
  /** For a rotation: the policy that sets it, or the object's own Rotate attributes. */
  readonly detail?: string;
}

/** Events in (from, until], earliest first, at most `limit`; `more` when some were left out. */
export async function upcoming(
  dueDates: DueDateSource,
  store: ObjectStore,
  policies: readonly RotationPolicy[],
  window: { readonly from: bigint; readonly until: bigint; readonly limit: number },
): Promise<{ events: UpcomingEvent[]; more: boolean }> {
  const events: UpcomingEvent[] = [];
  // One more than asked, per source, tells whether the list was cut.
  const per = window.limit + 1;
  for (const name of SCHEDULED_DATES) {
    const states = (MOVABLE as Readonly<Record<string, readonly number[]>>)[name];
    for (const d of await dueDates.dueIn(name, window.from, window.until, per, undefined, states)) events.push({ at: d.at, uid: d.uid, event: name });
  }
  for await (const uid of rotationCandidates(dueDates, policies)) {
    const rec = await store.get(uid);
    const plan = rec && rotationPlan(rec, policies);
    if (plan === undefined || plan.dueAt > window.until) continue;
    // Overdue ones (the server was stopped) rotate at its next sweep: shown at `from`.
    const at = plan.dueAt > window.from ? plan.dueAt : window.from;
    events.push({ at, uid, event: 'Rotation', detail: plan.fromObject ? 'Rotate Interval' : `policy ${plan.policy!.name}` });
  }
  events.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : a.uid.localeCompare(b.uid)));
  return { events: events.slice(0, window.limit), more: events.length > window.limit };
}
