/**
 * VMware vCenter Standard Key Provider (vSphere 6.5-8), KMIP 1.1: Discover Versions (repeated),
 * Create AES-256, Get Attributes (State), Get at VM power-on; operators also grant Activate, Revoke
 * and Locate. vCenter reports "cannot get key" when Get Attributes is refused, and keys must
 * survive a server restart. Server logs posted with PyKMIP issues 218 and 660 show each request on
 * a connection of its own, Discover Versions in a 1.1 header with an empty payload, and Get
 * Attributes asking for State alone.
 */
import { ItemType } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import { attr, attributeValue, CryptographicAlgorithm, bytesOf, keyBlockOf, KeyFormatType, ObjectType, Operation, State, stateOf, uidOf, uidsOf, versionsOf, type Persona } from './session';

const V1_1 = { major: 1, minor: 1 };

export const vsphere: Persona = {
  client: 'vSphere',
  version: V1_1,
  source: 'real-clients.md: VMware vCenter Standard Key Provider (6.5-8); PyKMIP issues 218, 660',
  connectionPerRequest: true,
  flows: [
    {
      name: 'Discover Versions, repeated',
      async run({ s }) {
        for (let i = 0; i < 3; i++) {
          const all = versionsOf(await s.call(Operation.DiscoverVersions, s.discoverVersions()));
          expect(all).toContain('1.1');
          const offered = versionsOf(await s.call(Operation.DiscoverVersions, s.discoverVersions([V1_1, { major: 1, minor: 0 }])));
          expect(offered).toEqual(['1.1', '1.0']);
        }
      },
    },
    {
      name: 'Create AES-256 host key',
      async run({ s, state }) {
        const uid = uidOf(await s.call(Operation.Create, s.createSymmetric(256)));
        expect(uid).not.toBe('');
        state.set('key', uid);
      },
    },
    {
      name: 'Get Attributes (State, algorithm, length)',
      async run({ s, state }) {
        const uid = state.get('key')!;
        const attrs = await s.attributesOf(uid, ['State', 'Cryptographic Algorithm', 'Cryptographic Length']);
        expect(stateOf(attrs)).toBe(State.PreActive);
        expect(attributeValue(attrs, 'Cryptographic Length')).toMatchObject({ value: 256 });
        // Asked for by name, an absent attribute is left out, not refused (vCenter asks for Name too).
        const withName = await s.attributesOf(uid, ['State', 'Name']);
        expect(withName.map((a) => a.name)).toEqual(['State']);
        // With no names, every attribute: all of them known to 1.1 (checked by the session).
        const every = await s.attributesOf(uid);
        expect(every.map((a) => a.name)).toEqual(expect.arrayContaining(['Unique Identifier', 'Object Type', 'State', 'Cryptographic Algorithm']));
      },
    },
    {
      name: 'Activate',
      async run({ s, state }) {
        const uid = state.get('key')!;
        expect(uidOf(await s.call(Operation.Activate, s.uidPayload(uid)))).toBe(uid);
        expect(stateOf(await s.attributesOf(uid, ['State']))).toBe(State.Active);
      },
    },
    {
      name: 'Get at VM power-on',
      async run({ s, state }) {
        const uid = state.get('key')!;
        const p = await s.call(Operation.Get, s.get(uid));
        expect(uidOf(p)).toBe(uid);
        expect(p.value.find((c) => c.tag === Tag.ObjectType)).toMatchObject({ type: ItemType.Enumeration, value: ObjectType.SymmetricKey });
        const kb = keyBlockOf(p, Tag.SymmetricKey);
        expect(kb.format).toBe(KeyFormatType.Raw);
        const key = bytesOf(kb.material);
        expect(key).toHaveLength(32);
        state.set('keyHex', key.toString('hex'));
      },
    },
    {
      name: 'Locate by algorithm and length',
      async run({ s, state }) {
        const found = uidsOf(
          await s.call(Operation.Locate, s.locate([attr.objectType(ObjectType.SymmetricKey), attr.algorithm(CryptographicAlgorithm.AES), attr.length(256)])),
        );
        expect(found).toContain(state.get('key'));
      },
    },
    {
      name: 'keys survive a server restart',
      async run({ s, state, restartServer }) {
        await restartServer();
        const uid = state.get('key')!;
        expect(stateOf(await s.attributesOf(uid, ['State']))).toBe(State.Active);
        const key = bytesOf(keyBlockOf(await s.call(Operation.Get, s.get(uid)), Tag.SymmetricKey).material);
        expect(key.toString('hex')).toBe(state.get('keyHex'));
      },
    },
    {
      name: 'Revoke',
      async run({ s, state }) {
        const uid = state.get('key')!;
        expect(uidOf(await s.call(Operation.Revoke, s.revoke(uid)))).toBe(uid);
        expect(stateOf(await s.attributesOf(uid, ['State']))).toBe(State.Deactivated);
      },
    },
  ],
};
