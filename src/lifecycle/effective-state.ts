/**
 * Time-driven transitions: an object's date attributes move it between states when the date
 * passes. Applied whenever an object is read; the caller persists a change.
 */
import type { StoredAttribute } from '../store/object-store';
import { nextState, type LifecycleEvent, type StateValue } from './state-machine';

import { dateAttribute } from '../kmip/attributes';
/** The date attribute and the event it triggers, in the order they can apply. */
const DATE_EVENTS: readonly { readonly attribute: string; readonly event: LifecycleEvent }[] = [
  { attribute: 'Activation Date', event: 'activationDateReached' },
  { attribute: 'Deactivation Date', event: 'deactivationDateReached' },
];

/** The state the object is in at `nowMs`, given its stored state and its dates. */
export function effectiveState(state: StateValue, attributes: readonly StoredAttribute[], nowMs: number): StateValue {
  const now = BigInt(Math.floor(nowMs / 1000));
  let s = state;
  for (const { attribute, event } of DATE_EVENTS) {
    const when = dateAttribute(attributes, attribute);
    if (when === undefined || when > now) continue;
    s = nextState(s, event) ?? s;
  }
  return s;
}
