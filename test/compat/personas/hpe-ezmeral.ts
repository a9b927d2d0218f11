/**
 * HPE Ezmeral Data Fabric, KMIP 1.0-1.4: Discover Versions (also as a ping), Create AES-256 (left
 * Pre-Active), Activate, Get, Locate, Re-key, Register, Revoke, Destroy, for its key-encryption
 * keys. Scripted at both ends of its version range.
 */
import { randomBytes } from 'node:crypto';
import { Tag } from '../../../src/spec/generated/tags';
import type { ProtocolVersion } from '../../../src/spec/versions';
import { attr, bytesOf, keyBlockOf, Operation, State, stateOf, uidOf, uidsOf, versionsOf, type Persona } from './session';

function ezmeral(version: ProtocolVersion): Persona {
  const v = `${version.major}.${version.minor}`;
  return {
    client: 'HPE Ezmeral Data Fabric',
    identity: `hpe-ezmeral-${v}`,
    version,
    source: 'real-clients.md: HPE Ezmeral Data Fabric',
    flows: [
      {
        name: 'Discover Versions as a ping',
        async run({ s }) {
          for (let i = 0; i < 3; i++) {
            if (version.major === 1 && version.minor === 0) {
              // Discover Versions is 1.1 on; a ping in a 1.0 header needs a well-formed 1.0 answer,
              // whether the server serves it or refuses it (the session checks the shape).
              const r = await s.send([{ operation: Operation.DiscoverVersions, payload: [] }]);
              expect(r.items[0]!.status).toBeDefined();
            } else {
              expect(versionsOf(await s.call(Operation.DiscoverVersions, s.discoverVersions([version])))).toEqual([v]);
            }
          }
        },
      },
      {
        name: 'Create AES-256 KEK (Pre-Active), Activate',
        async run({ s, state, runId }) {
          const name = `ezmeral-${runId}-${v}-kek`;
          const uid = uidOf(await s.call(Operation.Create, s.createSymmetric(256, [attr.name(name)])));
          expect(stateOf(await s.attributesOf(uid, ['State']))).toBe(State.PreActive);
          await s.call(Operation.Activate, s.uidPayload(uid));
          expect(stateOf(await s.attributesOf(uid, ['State']))).toBe(State.Active);
          state.set('kek', uid);
          state.set('name', name);
        },
      },
      {
        name: 'Locate and Get',
        async run({ s, state }) {
          expect(uidsOf(await s.call(Operation.Locate, s.locate([attr.name(state.get('name')!)])))).toContain(state.get('kek'));
          expect(bytesOf(keyBlockOf(await s.call(Operation.Get, s.get(state.get('kek'))), Tag.SymmetricKey).material)).toHaveLength(32);
        },
      },
      {
        name: 'Re-key',
        async run({ s, state }) {
          const next = uidOf(await s.call(Operation.ReKey, s.uidPayload(state.get('kek')!)));
          expect(next).not.toBe(state.get('kek'));
          expect(bytesOf(keyBlockOf(await s.call(Operation.Get, s.get(next)), Tag.SymmetricKey).material)).toHaveLength(32);
          state.set('next', next);
        },
      },
      {
        name: 'Register a KEK',
        async run({ s, state }) {
          const key = randomBytes(32);
          const uid = uidOf(await s.call(Operation.Register, s.registerSymmetric(key)));
          expect(bytesOf(keyBlockOf(await s.call(Operation.Get, s.get(uid)), Tag.SymmetricKey).material).equals(key)).toBe(true);
          state.set('registered', uid);
        },
      },
      {
        name: 'Revoke and Destroy',
        async run({ s, state }) {
          for (const uid of [state.get('kek')!, state.get('registered')!]) {
            if (stateOf(await s.attributesOf(uid, ['State'])) === State.Active) await s.call(Operation.Revoke, s.revoke(uid));
            expect(uidOf(await s.call(Operation.Destroy, s.uidPayload(uid)))).toBe(uid);
            await s.refused(Operation.Get, s.get(uid));
          }
        },
      },
    ],
  };
}

export const hpeEzmeral10 = ezmeral({ major: 1, minor: 0 });
export const hpeEzmeral14 = ezmeral({ major: 1, minor: 4 });
