/**
 * Generic storage arrays, TrueNAS, ScyllaDB (KMIP 1.0): one batch of Query, Locate by custom `x-`
 * attributes (x-ResourceID, x-SystemID), Get in Opaque format, Get Attributes; the Locate's ID
 * Placeholder carries the found object to the later items. Vendor attributes must be storable
 * and searchable.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { ttlv } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import { QueryFunction, ResultStatus, SecretDataType } from '../../../src/spec/generated/enums';
import { attr, attributeValue, bytesOf, keyBlockOf, KeyFormatType, Operation, uidOf, uidsOf, type Persona } from './session';

export const storageArray: Persona = {
  client: 'Generic storage array',
  version: { major: 1, minor: 0 },
  source: 'real-clients.md: Generic storage arrays, TrueNAS, ScyllaDB',
  flows: [
    {
      name: 'Register an Opaque secret with x-ResourceID and x-SystemID',
      async run({ s, state }) {
        const system = randomUUID();
        for (const resource of ['lun-0', 'lun-1']) {
          const secret = randomBytes(32);
          const uid = uidOf(
            await s.call(
              Operation.Register,
              s.registerSecret(secret, SecretDataType.Seed, [attr.custom('x-ResourceID', resource), attr.custom('x-SystemID', system)]),
            ),
          );
          await s.call(Operation.Activate, s.uidPayload(uid));
          state.set(resource, uid);
          state.set(`${resource}-hex`, secret.toString('hex'));
        }
        state.set('system', system);
      },
    },
    {
      name: 'Locate by x- attributes',
      async run({ s, state }) {
        const system = state.get('system')!;
        expect(uidsOf(await s.call(Operation.Locate, s.locate([attr.custom('x-SystemID', system)]))).sort()).toEqual([state.get('lun-0'), state.get('lun-1')].sort());
        expect(uidsOf(await s.call(Operation.Locate, s.locate([attr.custom('x-ResourceID', 'lun-1'), attr.custom('x-SystemID', system)])))).toEqual([state.get('lun-1')]);
      },
    },
    {
      name: 'one batch: Query, Locate by x- attributes, Get (Opaque), Get Attributes',
      async run({ s, state }) {
        const r = await s.send([
          { operation: Operation.Query, payload: [ttlv.enumeration(Tag.QueryFunction, QueryFunction.QueryOperations)] },
          { operation: Operation.Locate, payload: s.locate([attr.custom('x-ResourceID', 'lun-0'), attr.custom('x-SystemID', state.get('system')!)]) },
          { operation: Operation.Get, payload: s.get(undefined, KeyFormatType.Opaque) },
          { operation: Operation.GetAttributes, payload: s.getAttributes(undefined, ['x-ResourceID', 'x-SystemID', 'State']) },
        ]);
        expect(r.items.map((i) => [i.operation, i.status, i.message])).toEqual([
          [Operation.Query, ResultStatus.Success, undefined],
          [Operation.Locate, ResultStatus.Success, undefined],
          [Operation.Get, ResultStatus.Success, undefined],
          [Operation.GetAttributes, ResultStatus.Success, undefined],
        ]);
        const uid = state.get('lun-0')!;
        expect(uidsOf(r.items[1]!.payload!)).toEqual([uid]);
        expect(uidOf(r.items[2]!.payload!)).toBe(uid);
        const kb = keyBlockOf(r.items[2]!.payload!, Tag.SecretData);
        expect(kb.format).toBe(KeyFormatType.Opaque);
        expect(bytesOf(kb.material).toString('hex')).toBe(state.get('lun-0-hex'));
        const attrs = s.readAttributes(r.items[3]!.payload!);
        expect(attributeValue(attrs, 'x-ResourceID')).toMatchObject({ value: 'lun-0' });
        expect(attributeValue(attrs, 'x-SystemID')).toMatchObject({ value: state.get('system') });
      },
    },
  ],
};
