/**
 * Percona Server for MongoDB, KMIP 1.0: Create an AES-256 master key (unless a key id is
 * configured, then Get it), poll State with Get Attributes, rotate the master key. A server that
 * sent Fresh (a 1.1 attribute) to it broke it: nothing newer than 1.0 may reach it.
 */
import { Tag } from '../../../src/spec/generated/tags';
import { bytesOf, keyBlockOf, Operation, State, stateOf, uidOf, type Persona } from './session';

export const perconaMongodb: Persona = {
  client: 'Percona Server for MongoDB',
  version: { major: 1, minor: 0 },
  source: 'real-clients.md: Percona Server for MongoDB',
  flows: [
    {
      name: 'Create AES-256 master key',
      async run({ s, state }) {
        state.set('master', uidOf(await s.call(Operation.Create, s.createSymmetric(256))));
      },
    },
    {
      name: 'Get the configured key id at start-up',
      async run({ s, state }) {
        const key = bytesOf(keyBlockOf(await s.call(Operation.Get, s.get(state.get('master'))), Tag.SymmetricKey).material);
        expect(key).toHaveLength(32);
        state.set('masterHex', key.toString('hex'));
      },
    },
    {
      name: 'Activate',
      async run({ s, state }) {
        await s.call(Operation.Activate, s.uidPayload(state.get('master')!));
      },
    },
    {
      name: 'poll State with Get Attributes: no Fresh',
      async run({ s, state }) {
        const uid = state.get('master')!;
        expect(stateOf(await s.attributesOf(uid, ['State']))).toBe(State.Active);
        const every = await s.attributesOf(uid);
        expect(every.map((a) => a.name)).not.toContain('Fresh');
      },
    },
    {
      name: 'master-key rotation: a new key, the old one still readable',
      async run({ s, state }) {
        const next = uidOf(await s.call(Operation.Create, s.createSymmetric(256)));
        expect(next).not.toBe(state.get('master'));
        await s.call(Operation.Activate, s.uidPayload(next));
        const newKey = bytesOf(keyBlockOf(await s.call(Operation.Get, s.get(next)), Tag.SymmetricKey).material);
        expect(newKey.toString('hex')).not.toBe(state.get('masterHex'));
        const oldKey = bytesOf(keyBlockOf(await s.call(Operation.Get, s.get(state.get('master'))), Tag.SymmetricKey).material);
        expect(oldKey.toString('hex')).toBe(state.get('masterHex'));
      },
    },
  ],
};
