/**
 * Generic storage arrays, TrueNAS, ScyllaDB (KMIP 1.0): one batch of Query, Locate by custom `x-`
 * attributes (x-ResourceID, x-SystemID), Get in Opaque format, Get Attributes; the Locate's ID
 * Placeholder carries the found object to the later items. Vendor attributes must be storable
 * and searchable. Details from an array's request decoded in PyKMIP issue 459: the Query asks for
 * operations, objects, server information and application namespaces; x-ResourceID looks like
 * "san01-pod1-las1 351538/351539"; Get Attributes asks for Unique Identifier, Object Type, Initial
 * Date and State; some custom attributes were not Text Strings (PyKMIP issue 460), so here
 * x-SystemID is an Integer.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { ItemType, ttlv } from '../../../ttlv/types';
import type { KmipAttribute } from '../../../src/kmip/attributes';
import { Tag } from '../../../src/spec/generated/tags';
import { QueryFunction, ResultStatus, SecretDataType } from '../../../src/spec/generated/enums';
import { attr, attributeValue, bytesOf, keyBlockOf, KeyFormatType, ObjectType, Operation, State, uidOf, uidsOf, type Persona } from './session';

/** x-SystemID as an Integer custom attribute. */
function systemId(id: number): KmipAttribute {
  return { name: 'x-SystemID', value: ttlv.integer(Tag.AttributeValue, id) };
}

export const storageArray: Persona = {
  client: 'Generic storage array',
  version: { major: 1, minor: 0 },
  source: 'real-clients.md: Generic storage arrays, TrueNAS, ScyllaDB',
  flows: [
    {
      name: 'Register an Opaque secret with x-ResourceID and x-SystemID',
      async run({ s, state }) {
        const system = 100_000 + randomInt(800_000);
        for (const resource of [`san01-pod1 ${system}/1`, `san01-pod1 ${system}/2`]) {
          const secret = randomBytes(32);
          const uid = uidOf(
            await s.call(
              Operation.Register,
              s.registerSecret(secret, SecretDataType.Seed, [attr.custom('x-ResourceID', resource), systemId(system)]),
            ),
          );
          await s.call(Operation.Activate, s.uidPayload(uid));
          state.set(resource.slice(resource.lastIndexOf('/')), uid);
          state.set(`${resource.slice(resource.lastIndexOf('/'))}-hex`, secret.toString('hex'));
        }
        state.set('system', String(system));
      },
    },
    {
      name: 'Locate by x- attributes',
      async run({ s, state }) {
        const system = Number(state.get('system'));
        expect(uidsOf(await s.call(Operation.Locate, s.locate([systemId(system)]))).sort()).toEqual([state.get('/1'), state.get('/2')].sort());
        expect(uidsOf(await s.call(Operation.Locate, s.locate([attr.custom('x-ResourceID', `san01-pod1 ${system}/2`), systemId(system)])))).toEqual([state.get('/2')]);
        expect(uidsOf(await s.call(Operation.Locate, s.locate([systemId(system + 1)])))).toEqual([]);
      },
    },
    {
      name: 'one batch: Query, Locate by x- attributes, Get (Opaque), Get Attributes',
      async run({ s, state }) {
        const system = Number(state.get('system'));
        const r = await s.send([
          {
            operation: Operation.Query,
            payload: [
              QueryFunction.QueryOperations,
              QueryFunction.QueryObjects,
              QueryFunction.QueryServerInformation,
              QueryFunction.QueryApplicationNamespaces,
            ].map((f) => ttlv.enumeration(Tag.QueryFunction, f)),
          },
          { operation: Operation.Locate, payload: s.locate([attr.custom('x-ResourceID', `san01-pod1 ${system}/1`), systemId(system)]) },
          { operation: Operation.Get, payload: s.get(undefined, KeyFormatType.Opaque) },
          { operation: Operation.GetAttributes, payload: s.getAttributes(undefined, ['Unique Identifier', 'Object Type', 'Initial Date', 'State', 'x-ResourceID', 'x-SystemID']) },
        ]);
        expect(r.items.map((i) => [i.operation, i.status, i.message])).toEqual([
          [Operation.Query, ResultStatus.Success, undefined],
          [Operation.Locate, ResultStatus.Success, undefined],
          [Operation.Get, ResultStatus.Success, undefined],
          [Operation.GetAttributes, ResultStatus.Success, undefined],
        ]);
        const uid = state.get('/1')!;
        expect(uidsOf(r.items[1]!.payload!)).toEqual([uid]);
        expect(uidOf(r.items[2]!.payload!)).toBe(uid);
        const kb = keyBlockOf(r.items[2]!.payload!, Tag.SecretData);
        expect(kb.format).toBe(KeyFormatType.Opaque);
        expect(bytesOf(kb.material).toString('hex')).toBe(state.get('/1-hex'));
        const attrs = s.readAttributes(r.items[3]!.payload!);
        // Each asked-for attribute once (the spec sets no order).
        expect(attrs.map((a) => a.name).sort()).toEqual(['Initial Date', 'Object Type', 'State', 'Unique Identifier', 'x-ResourceID', 'x-SystemID']);
        expect(attributeValue(attrs, 'Unique Identifier')).toMatchObject({ value: uid });
        expect(attributeValue(attrs, 'Object Type')).toMatchObject({ value: ObjectType.SecretData });
        expect(attributeValue(attrs, 'State')).toMatchObject({ value: State.Active });
        expect(attributeValue(attrs, 'x-ResourceID')).toMatchObject({ type: ItemType.TextString, value: `san01-pod1 ${system}/1` });
        expect(attributeValue(attrs, 'x-SystemID')).toMatchObject({ type: ItemType.Integer, value: system });
      },
    },
  ],
};
