/**
 * MySQL Enterprise keyring (Oracle Key Vault / KMIP component), KMIP 1.1: keys are created only by
 * the server (Create), then Get, Locate and their attributes, Destroy. Each MySQL instance is a
 * client of its own. The request shapes follow the open KMIP keyring client of the MySQL family
 * (Percona's kmippp on libkmip): Create AES-256 with Encrypt|Decrypt, a Name and an Object Group;
 * Locate by Cryptographic Algorithm, Object Type, Cryptographic Usage Mask and Name (or Object
 * Group, or none of the two to list every key); Get Attributes asks for the Name alone.
 */
import { Tag } from '../../../src/spec/generated/tags';
import type { KmipAttribute } from '../../../src/kmip/attributes';
import { attr, attributeValue, bytesOf, CryptographicAlgorithm, CryptographicUsageMask, keyBlockOf, namesOf, ObjectType, Operation, State, stateOf, uidOf, uidsOf, type Persona } from './session';

const MASK = CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt;

/** kmippp's Locate filter: AES symmetric keys usable for Encrypt and Decrypt, and `more`. */
function keyFilter(...more: KmipAttribute[]): KmipAttribute[] {
  return [attr.algorithm(CryptographicAlgorithm.AES), attr.objectType(ObjectType.SymmetricKey), attr.usage(MASK), ...more];
}

export const mysqlKeyring: Persona = {
  client: 'MySQL Enterprise keyring',
  version: { major: 1, minor: 1 },
  source: 'real-clients.md: MySQL Enterprise keyring (OKV / KMIP component)',
  flows: [
    {
      name: 'Create AES-256 with a key id Name',
      async run({ s, state, runId }) {
        const name = `mysql-${runId}-INNODBKey-1`;
        state.set('key', uidOf(await s.call(Operation.Create, s.createSymmetric(256, [attr.name(name), attr.objectGroup(`mysql-${runId}`)]))));
        state.set('name', name);
      },
    },
    {
      name: 'Locate by Name (and by group, and all keys), Get',
      async run({ s, state, runId }) {
        const key = state.get('key')!;
        expect(uidsOf(await s.call(Operation.Locate, s.locate(keyFilter(attr.name(state.get('name')!)))))).toEqual([key]);
        expect(uidsOf(await s.call(Operation.Locate, s.locate(keyFilter(attr.objectGroup(`mysql-${runId}`)))))).toEqual([key]);
        expect(uidsOf(await s.call(Operation.Locate, s.locate(keyFilter())))).toContain(key);
        expect(bytesOf(keyBlockOf(await s.call(Operation.Get, s.get(state.get('key'))), Tag.SymmetricKey).material)).toHaveLength(32);
      },
    },
    {
      name: 'Get Attributes',
      async run({ s, state }) {
        expect(namesOf(await s.attributesOf(state.get('key')!, ['Name']))).toEqual([state.get('name')]);
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
        expect(uidsOf(await s.call(Operation.Locate, s.locate(keyFilter(attr.name(state.get('name')!)))))).toEqual([]);
        await s.refused(Operation.Get, s.get(state.get('key')));
      },
    },
  ],
};
