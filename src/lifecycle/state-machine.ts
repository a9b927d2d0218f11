/**
 * The NIST SP800-57 / KMIP object lifecycle as one table of transitions and one table of what each
 * state allows. No handler writes `state` directly: it asks `transition()`.
 */
import { State } from '../spec/generated/enums';
import { KmipError, Reason } from '../server/errors';

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
export type StateGatedUse = 'get' | 'protect' | 'process';

/**
 * Which uses each state allows. Protect (Encrypt, Sign, MAC, wrap) needs Active; process
 * (Decrypt, Verify, unwrap) also works on Deactivated and Compromised keys, per SP800-57.
 */
export const ALLOWED_USES: Readonly<Record<StateValue, ReadonlySet<StateGatedUse>>> = {
  [State.PreActive]: new Set<StateGatedUse>(['get']),
  [State.Active]: new Set<StateGatedUse>(['get', 'protect', 'process']),
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
