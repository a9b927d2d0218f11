/**
 * VAST Data 5.x, KMIP 1.4: Discover Versions, Create AES-256, Add Attribute three times (Name,
 * Object Group, Operation Policy Name), Activate, Locate by Name, Get, Get Attributes (about every
 * 61 s), Re-key (which must create a replacement object with a new identifier), Revoke, Destroy.
 * VAST carries binary TTLV over HTTPS (`POST /kmip`), one request per connection; this server
 * speaks KMIP over TLS only, so the persona keeps the one-request-per-connection habit over TLS.
 */
import { randomUUID } from 'node:crypto';
import { ItemType, type TtlvStructure } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import { LinkType } from '../../../src/spec/generated/enums';
import { find } from '../../helpers/kmip-client';
import { attr, attributeValue, bytesOf, keyBlockOf, namesOf, Operation, State, stateOf, uidOf, uidsOf, versionsOf, type Persona } from './session';
import type { KmipAttribute } from '../../../src/kmip/attributes';

function linkTo(attrs: readonly KmipAttribute[], type: number): string | undefined {
  for (const a of attrs) {
    if (a.name !== 'Link' || a.value.type !== ItemType.Structure) continue;
    const t = find(a.value, Tag.LinkType);
    if (t?.value === type) return String(find(a.value as TtlvStructure, Tag.LinkedObjectIdentifier)?.value);
  }
  return undefined;
}

export const vast: Persona = {
  client: 'VAST Data',
  version: { major: 1, minor: 4 },
  source: 'real-clients.md: VAST Data 5.x',
  connectionPerRequest: true,
  flows: [
    {
      name: 'Discover Versions',
      async run({ s }) {
        expect(versionsOf(await s.call(Operation.DiscoverVersions, s.discoverVersions([{ major: 1, minor: 4 }])))).toEqual(['1.4']);
      },
    },
    {
      name: 'Create AES-256',
      async run({ s, state }) {
        state.set('key', uidOf(await s.call(Operation.Create, s.createSymmetric(256))));
        state.set('cluster', randomUUID());
      },
    },
    {
      name: 'Add Attribute: Name, Object Group, Operation Policy Name',
      async run({ s, state }) {
        const uid = state.get('key')!;
        const name = `VAST_EKM_KEY_2_${state.get('cluster')}_1`;
        for (const a of [attr.name(name), attr.objectGroup(`VAST_${state.get('cluster')}`), attr.operationPolicyName('default')]) {
          const p = await s.call(Operation.AddAttribute, s.attributeEdit(uid, a));
          expect(uidOf(p)).toBe(uid);
          expect(s.readAttributes(p).map((x) => x.name)).toEqual([a.name]);
        }
        state.set('name', name);
      },
    },
    {
      name: 'Activate',
      async run({ s, state }) {
        await s.call(Operation.Activate, s.uidPayload(state.get('key')!));
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
      name: 'Get Attributes (periodic)',
      async run({ s, state }) {
        for (let i = 0; i < 2; i++) {
          const attrs = await s.attributesOf(state.get('key')!);
          expect(stateOf(attrs)).toBe(State.Active);
          expect(namesOf(attrs)).toEqual([state.get('name')]);
          expect(attributeValue(attrs, 'Object Group')).toMatchObject({ value: `VAST_${state.get('cluster')}` });
        }
      },
    },
    {
      name: 'Re-key: a replacement with a new identifier',
      async run({ s, state }) {
        const old = state.get('key')!;
        const p = await s.call(Operation.ReKey, s.uidPayload(old));
        const next = uidOf(p);
        expect(next).not.toBe(old);
        const oldKey = bytesOf(keyBlockOf(await s.call(Operation.Get, s.get(old)), Tag.SymmetricKey).material);
        const newKey = bytesOf(keyBlockOf(await s.call(Operation.Get, s.get(next)), Tag.SymmetricKey).material);
        expect(newKey).toHaveLength(32);
        expect(newKey.equals(oldKey)).toBe(false);
        expect(linkTo(await s.attributesOf(old), LinkType.ReplacementObjectLink)).toBe(next);
        const attrs = await s.attributesOf(next);
        expect(linkTo(attrs, LinkType.ReplacedObjectLink)).toBe(old);
        // The replacement carries the key's Name (1.x 4.4) and Object Group, so VAST finds it by name.
        expect(namesOf(attrs)).toContain(state.get('name'));
        expect(attributeValue(attrs, 'Object Group')).toMatchObject({ value: `VAST_${state.get('cluster')}` });
        expect(uidsOf(await s.call(Operation.Locate, s.locate([attr.name(state.get('name')!)])))).toContain(next);
        state.set('next', next);
      },
    },
    {
      name: 'Revoke and Destroy the replaced key',
      async run({ s, state }) {
        const old = state.get('key')!;
        await s.call(Operation.Revoke, s.revoke(old));
        expect(uidOf(await s.call(Operation.Destroy, s.uidPayload(old)))).toBe(old);
        await s.refused(Operation.Get, s.get(old));
        // The replacement stays usable.
        expect(bytesOf(keyBlockOf(await s.call(Operation.Get, s.get(state.get('next'))), Tag.SymmetricKey).material)).toHaveLength(32);
      },
    },
  ],
};
