/**
 * Synology DSM 7.1+, KMIP 1.2: Discover Versions, Query, Locate, Register a 32-byte Secret Data
 * with Operation Policy Name "default", Activate, Modify Attribute (Name set to the volume UUID),
 * Get Attributes, Get, Revoke, Destroy.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { ttlv } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import { CryptographicUsageMask, QueryFunction, SecretDataType } from '../../../src/spec/generated/enums';
import { allOf } from '../../helpers/kmip-client';
import { attr, attributeValue, bytesOf, keyBlockOf, KeyFormatType, namesOf, Operation, State, stateOf, uidOf, uidsOf, versionsOf, type Persona } from './session';

const V1_2 = { major: 1, minor: 2 };

export const synology: Persona = {
  client: 'Synology DSM',
  version: V1_2,
  source: 'real-clients.md: Synology DSM 7.1+',
  flows: [
    {
      name: 'Discover Versions and Query',
      async run({ s }) {
        expect(versionsOf(await s.call(Operation.DiscoverVersions, s.discoverVersions([V1_2])))).toEqual(['1.2']);
        const q = await s.call(Operation.Query, [ttlv.enumeration(Tag.QueryFunction, QueryFunction.QueryOperations), ttlv.enumeration(Tag.QueryFunction, QueryFunction.QueryObjects)]);
        expect(allOf(q, Tag.Operation).length).toBeGreaterThan(0);
      },
    },
    {
      name: 'Locate the volume key (none yet)',
      async run({ s, state }) {
        const volume = randomUUID();
        state.set('volume', volume);
        expect(uidsOf(await s.call(Operation.Locate, s.locate([attr.name(volume)])))).toEqual([]);
      },
    },
    {
      name: 'Register 32-byte Secret Data with Operation Policy Name "default"',
      async run({ s, state }) {
        const secret = randomBytes(32);
        const uid = uidOf(
          await s.call(
            Operation.Register,
            s.registerSecret(secret, SecretDataType.Password, [attr.name(`pending-${state.get('volume')}`), attr.operationPolicyName('default')], CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt),
          ),
        );
        state.set('key', uid);
        state.set('secretHex', secret.toString('hex'));
      },
    },
    {
      name: 'Activate',
      async run({ s, state }) {
        await s.call(Operation.Activate, s.uidPayload(state.get('key')!));
      },
    },
    {
      name: 'Modify Attribute: Name set to the volume UUID',
      async run({ s, state }) {
        const uid = state.get('key')!;
        const p = await s.call(Operation.ModifyAttribute, s.attributeEdit(uid, attr.name(state.get('volume')!)));
        expect(uidOf(p)).toBe(uid);
        expect(namesOf(s.readAttributes(p))).toEqual([state.get('volume')]);
        expect(uidsOf(await s.call(Operation.Locate, s.locate([attr.name(state.get('volume')!)])))).toEqual([uid]);
      },
    },
    {
      name: 'Get Attributes',
      async run({ s, state }) {
        const attrs = await s.attributesOf(state.get('key')!);
        expect(stateOf(attrs)).toBe(State.Active);
        expect(namesOf(attrs)).toEqual([state.get('volume')]);
        expect(attributeValue(attrs, 'Operation Policy Name')).toMatchObject({ value: 'default' });
      },
    },
    {
      name: 'Get the secret',
      async run({ s, state }) {
        const kb = keyBlockOf(await s.call(Operation.Get, s.get(state.get('key'))), Tag.SecretData);
        expect(kb.format).toBe(KeyFormatType.Opaque);
        expect(bytesOf(kb.material).toString('hex')).toBe(state.get('secretHex'));
      },
    },
    {
      name: 'Revoke and Destroy',
      async run({ s, state }) {
        const uid = state.get('key')!;
        await s.call(Operation.Revoke, s.revoke(uid));
        expect(uidOf(await s.call(Operation.Destroy, s.uidPayload(uid)))).toBe(uid);
        await s.refused(Operation.Get, s.get(uid));
      },
    },
  ],
};
