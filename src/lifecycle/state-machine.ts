/**
 * The NIST SP800-57 / KMIP object lifecycle as one table of transitions and one table of what each
 * state allows. No handler writes `state` directly: it asks `transition()`.
 */
import { State } from '../spec/generated/enums';
import { KmipError, Reason } from '../kmip/errors';

export type StateValue = (typeof State)[keyof typeof State];

/** What moves an object between states (KMIP spec "State" attribute, transitions 1-10). */
export type LifecycleEvent =
  | 'activate' // Activate operation
  | 'activationDateReached'
  | 'deactivationDateReached' // also Protect Stop / Process Stop where they deactivate
  | 'revoke' // Revoke with a reason other than a compromise
  | 'revokeCompromise' // Revoke with Key Compromise or CA Compromise
  | 'destroy';

type TransitionTable = Readonly<Record<StateValue, Partial<Readonly<Record<LifecycleEvent, StateValue>>>>>;

export const TRANSITIONS: TransitionTable = {
  [State.PreActive]: {
    activate: State.Active, // (1)
    activationDateReached: State.Active, // (1)
    destroy: State.Destroyed, // (2)
    revokeCompromise: State.Compromised, // (3)
    deactivationDateReached: State.Deactivated, // (10, KMIP 2.x: deactivated before ever active)
  },
  [State.Active]: {
    revoke: State.Deactivated, // (5)
    deactivationDateReached: State.Deactivated, // (5)
    revokeCompromise: State.Compromised, // (4)
  },
  [State.Deactivated]: {
    destroy: State.Destroyed, // (6)
    revokeCompromise: State.Compromised, // (7)
  },
  [State.Compromised]: {
    destroy: State.DestroyedCompromised, // (8)
  },
  [State.Destroyed]: {
    revokeCompromise: State.DestroyedCompromised, // (9)
  },
  [State.DestroyedCompromised]: {},
};

/** The state an event leads to, or undefined where the table has no such transition. */
export function nextState(from: StateValue, event: LifecycleEvent): StateValue | undefined {
  return TRANSITIONS[from][event];
}

/** Like nextState, but a missing transition is the KMIP error a client expects. */
export function transition(from: StateValue, event: LifecycleEvent): StateValue {
  const to = nextState(from, event);
  if (to === undefined) {
    throw new KmipError(Reason.WrongKeyLifecycleState, `${event} is not allowed in state ${stateName(from)}`);
  }
  return to;
}

/** Uses of an object's key material that depend on its state. */
export type StateGatedUse = 'get' | 'protect' | 'process' | 'derive' | 'certify';

/**
 * Which uses each state allows, and the text each rule rests on.
 * - get: Get, Export, Check. KMIP 1.x 3.22 / 2.x 4.57 (State): Pre-Active objects exist and may be
 *   retrieved; Destroyed ones have no material (Get answers Object Destroyed).
 * - protect (Encrypt, Sign, MAC, wrap): Active only. SP800-57 5.3.5: a key is used to apply
 *   protection only in its originator-usage period, i.e. while Active.
 * - process (Decrypt, Verify, unwrap): also Deactivated and Compromised keys, SP800-57 5.3.5/5.3.6
 *   (processing already-protected information after the originator-usage period).
 * - derive (the base objects of Derive Key): Pre-Active and Active. The Derive Key text (1.x 4.6,
 *   2.x 6.1.10) names no required state, so where the spec is silent we allow: a client registers a
 *   password and derives from it at once (PyKMIP's flows), as the reference servers allow. After the
 *   originator-usage period (Deactivated, Compromised) new material is not derived, per SP800-57.
 * - certify (the private key signing a Certify or Re-certify): Pre-Active and Active. The Certify
 *   text (1.x 4.7, 2.x 6.1.4) names no state for the signing key; the reference servers sign with a
 *   freshly created (Pre-Active) CA key, so we allow it; never after its originator-usage period.
 */
export const ALLOWED_USES: Readonly<Record<StateValue, ReadonlySet<StateGatedUse>>> = {
  [State.PreActive]: new Set<StateGatedUse>(['get', 'derive', 'certify']),
  [State.Active]: new Set<StateGatedUse>(['get', 'protect', 'process', 'derive', 'certify']),
  [State.Deactivated]: new Set<StateGatedUse>(['get', 'process']),
  [State.Compromised]: new Set<StateGatedUse>(['get', 'process']),
  [State.Destroyed]: new Set<StateGatedUse>(),
  [State.DestroyedCompromised]: new Set<StateGatedUse>(),
};

export function isAllowed(state: StateValue, use: StateGatedUse): boolean {
  return ALLOWED_USES[state].has(use);
}

const STATE_NAMES = new Map<number, string>(Object.entries(State).map(([k, v]) => [v, k]));

export function stateName(state: number): string {
  return STATE_NAMES.get(state) ?? `0x${state.toString(16)}`;
}

export function isStateValue(n: number): n is StateValue {
  return STATE_NAMES.has(n);
}
