/**
 * Synology DSM 7.1+, KMIP 1.2: Discover Versions, Query, Locate, Register a 32-byte Secret Data
 * with Operation Policy Name "default", Activate, Modify Attribute (Name set to the volume UUID),
 * Get Attributes, Get, Revoke, Destroy. Details from DSM 7.2.2 traffic reported to another server
 * (Cosmian KMS issues 760, 796, 820, 933): the Register carries a 128-hex-character Name, usage
 * mask 2 and Operation Policy Name "default" and is read back by Get Attributes; Modify Attribute
 * comes while the key is still Pre-Active and its answer must echo the new value; a retired key
 * is found by Locate and renamed "<name>-deprecated-<suffix>".
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
        // The Name DSM registers under: 128 hex characters (seen on the wire, Cosmian KMS issue 760).
        const name = randomBytes(64).toString('hex');
        state.set('name', name);
        expect(uidsOf(await s.call(Operation.Locate, s.locate([attr.name(name)])))).toEqual([]);
      },
    },
    {
      name: 'Register Secret Data with Operation Policy Name "default"',
      async run({ s, state }) {
        // As captured: usage mask 2, Operation Policy Name, Name; Secret Data type Password, Opaque.
        const secret = randomBytes(32);
        const uid = uidOf(
          await s.call(
            Operation.Register,
            s.registerSecret(secret, SecretDataType.Password, [attr.operationPolicyName('default'), attr.name(state.get('name')!)], CryptographicUsageMask.Verify),
          ),
        );
        state.set('key', uid);
        state.set('secretHex', secret.toString('hex'));
      },
    },
    {
      name: 'Modify Attribute Name while Pre-Active: the answer echoes the new value',
      async run({ s, state }) {
        const uid = state.get('key')!;
        const volume = randomUUID();
        const p = await s.call(Operation.ModifyAttribute, s.attributeEdit(uid, attr.name(volume)));
        expect(uidOf(p)).toBe(uid);
        expect(namesOf(s.readAttributes(p))).toEqual([volume]);
        expect(uidsOf(await s.call(Operation.Locate, s.locate([attr.name(volume)])))).toEqual([uid]);
        expect(uidsOf(await s.call(Operation.Locate, s.locate([attr.name(state.get('name')!)])))).toEqual([]);
        state.set('name', volume);
      },
    },
    {
      name: 'Activate',
      async run({ s, state }) {
        await s.call(Operation.Activate, s.uidPayload(state.get('key')!));
      },
    },
    {
      name: 'Get Attributes',
      async run({ s, state }) {
        const attrs = await s.attributesOf(state.get('key')!);
        expect(stateOf(attrs)).toBe(State.Active);
        expect(namesOf(attrs)).toEqual([state.get('name')]);
        expect(attributeValue(attrs, 'Operation Policy Name')).toMatchObject({ value: 'default' });
        expect(attributeValue(attrs, 'Cryptographic Usage Mask')).toMatchObject({ value: CryptographicUsageMask.Verify });
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
      name: 'key rotation: Locate, then Modify Attribute Name to "<name>-deprecated-<suffix>"',
      async run({ s, state }) {
        // Seen on the wire (Cosmian KMS issue 933): DSM renames the key it retires.
        const found = uidsOf(await s.call(Operation.Locate, s.locate([attr.name(state.get('name')!)])));
        expect(found).toEqual([state.get('key')]);
        const retired = `${state.get('name')}-deprecated-${Date.now()}`;
        const p = await s.call(Operation.ModifyAttribute, s.attributeEdit(found[0]!, attr.name(retired)));
        expect(namesOf(s.readAttributes(p))).toEqual([retired]);
        expect(namesOf(await s.attributesOf(found[0]!, ['Name']))).toEqual([retired]);
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
