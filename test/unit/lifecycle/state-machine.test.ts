import { State } from '../../../src/spec/generated/enums';
import { ALLOWED_USES, TRANSITIONS, nextState, transition, type LifecycleEvent, type StateValue } from '../../../src/lifecycle/state-machine';
import { effectiveState } from '../../../src/lifecycle/effective-state';
import { KmipError } from '../../../src/kmip/errors';
import { ResultReason } from '../../../src/spec/generated/enums';
import { ttlv } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';

const STATES = Object.values(State) as StateValue[];
const EVENTS: LifecycleEvent[] = ['activate', 'activationDateReached', 'deactivationDateReached', 'revoke', 'revokeCompromise', 'destroy'];

/** The KMIP spec's transitions, written out independently of the table under test. */
const EXPECTED: Record<string, StateValue | undefined> = {
  [`${State.PreActive}:activate`]: State.Active,
  [`${State.PreActive}:activationDateReached`]: State.Active,
  [`${State.PreActive}:destroy`]: State.Destroyed,
  [`${State.PreActive}:revokeCompromise`]: State.Compromised,
  [`${State.PreActive}:deactivationDateReached`]: State.Deactivated,
  [`${State.Active}:revoke`]: State.Deactivated,
  [`${State.Active}:deactivationDateReached`]: State.Deactivated,
  [`${State.Active}:revokeCompromise`]: State.Compromised,
  [`${State.Deactivated}:destroy`]: State.Destroyed,
  [`${State.Deactivated}:revokeCompromise`]: State.Compromised,
  [`${State.Compromised}:destroy`]: State.DestroyedCompromised,
  [`${State.Destroyed}:revokeCompromise`]: State.DestroyedCompromised,
};

describe('every (state, event) pair', () => {
  for (const s of STATES) {
    for (const e of EVENTS) {
      const want = EXPECTED[`${s}:${e}`];
      test(`${s} --${e}--> ${want ?? 'refused'}`, () => {
        expect(nextState(s, e)).toBe(want);
        if (want === undefined) {
          try {
            transition(s, e);
            throw new Error('transition was allowed');
          } catch (err) {
            expect(err).toBeInstanceOf(KmipError);
            expect((err as KmipError).reason).toBe(ResultReason.WrongKeyLifecycleState);
          }
        } else {
          expect(transition(s, e)).toBe(want);
        }
      });
    }
  }
});

test('the table covers every state', () => {
  expect(Object.keys(TRANSITIONS).map(Number).sort()).toEqual([...STATES].sort());
  expect(Object.keys(ALLOWED_USES).map(Number).sort()).toEqual([...STATES].sort());
});

test('destroyed objects allow no use; protect needs Active; process also works when deactivated or compromised', () => {
  expect([...ALLOWED_USES[State.Destroyed]]).toEqual([]);
  expect([...ALLOWED_USES[State.DestroyedCompromised]]).toEqual([]);
  for (const s of STATES) expect(ALLOWED_USES[s].has('protect')).toBe(s === State.Active);
  expect(ALLOWED_USES[State.Deactivated].has('process')).toBe(true);
  expect(ALLOWED_USES[State.Compromised].has('process')).toBe(true);
  expect(ALLOWED_USES[State.PreActive].has('process')).toBe(false);
});

describe('effective state from dates', () => {
  const now = Date.UTC(2026, 0, 1);
  const at = (offsetS: number) => BigInt(Math.floor(now / 1000) + offsetS);
  const attrs = (activation?: number, deactivation?: number) => [
    ...(activation === undefined ? [] : [{ name: 'Activation Date', index: 0, value: ttlv.dateTime(Tag.ActivationDate, at(activation)) }]),
    ...(deactivation === undefined ? [] : [{ name: 'Deactivation Date', index: 0, value: ttlv.dateTime(Tag.DeactivationDate, at(deactivation)) }]),
  ];
  test('activation date passed: Active', () => expect(effectiveState(State.PreActive, attrs(-1), now)).toBe(State.Active));
  test('activation date ahead: still Pre-Active', () => expect(effectiveState(State.PreActive, attrs(60), now)).toBe(State.PreActive));
  test('both dates passed: Deactivated', () => expect(effectiveState(State.PreActive, attrs(-60, -1), now)).toBe(State.Deactivated));
  test('deactivation date passed on an Active key', () => expect(effectiveState(State.Active, attrs(undefined, 0), now)).toBe(State.Deactivated));
  test('dates never revive a destroyed key', () => expect(effectiveState(State.Destroyed, attrs(-60), now)).toBe(State.Destroyed));
});
