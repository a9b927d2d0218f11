/**
 * MySQL Enterprise keyring (Oracle Key Vault / KMIP component), KMIP 1.1: keys are created only by
 * the server (Create), then Get, Locate and their attributes, Destroy. Each MySQL instance is a
 * client of its own.
 */
import { Tag } from '../../../src/spec/generated/tags';
import { attr, attributeValue, bytesOf, CryptographicAlgorithm, keyBlockOf, namesOf, Operation, State, stateOf, uidOf, uidsOf, type Persona } from './session';

export const mysqlKeyring: Persona = {
  client: 'MySQL Enterprise keyring',
  version: { major: 1, minor: 1 },
  source: 'real-clients.md: MySQL Enterprise keyring (OKV / KMIP component)',
  flows: [
    {
      name: 'Create AES-256 with a key id Name',
      async run({ s, state, runId }) {
        const name = `mysql-${runId}-INNODBKey-1`;
        state.set('key', uidOf(await s.call(Operation.Create, s.createSymmetric(256, [attr.name(name)]))));
        state.set('name', name);
      },
    },
    {
      name: 'Locate by Name, Get',
      async run({ s, state }) {
        expect(uidsOf(await s.call(Operation.Locate, s.locate([attr.name(state.get('name')!)])))).toEqual([state.get('key')]);
        expect(bytesOf(keyBlockOf(await s.call(Operation.Get, s.get(state.get('key'))), Tag.SymmetricKey).material)).toHaveLength(32);
      },
    },
    {
      name: 'Get Attributes',
      async run({ s, state }) {
        const attrs = await s.attributesOf(state.get('key')!, ['Name', 'State', 'Cryptographic Algorithm', 'Cryptographic Length']);
        expect(namesOf(attrs)).toEqual([state.get('name')]);
        expect(stateOf(attrs)).toBe(State.PreActive);
        expect(attributeValue(attrs, 'Cryptographic Algorithm')).toMatchObject({ value: CryptographicAlgorithm.AES });
      },
    },
    {
      name: 'Destroy',
      async run({ s, state }) {
        expect(uidOf(await s.call(Operation.Destroy, s.uidPayload(state.get('key')!)))).toBe(state.get('key'));
        expect(uidsOf(await s.call(Operation.Locate, s.locate([attr.name(state.get('name')!)])))).toEqual([]);
      },
    },
  ],
};
