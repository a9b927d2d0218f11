/**
 * Ceph RGW SSE-KMS through libkmip (KMIP 1.x): an administrator makes the keys; RGW finds a key by
 * a Name made from a template with the key id (Locate by Name), then Gets it.
 */
import { Tag } from '../../../src/spec/generated/tags';
import { attr, bytesOf, keyBlockOf, KeyFormatType, Operation, uidOf, uidsOf, type Persona } from './session';

export const cephRgw: Persona = {
  client: 'Ceph RGW',
  // libkmip's default; RGW does not choose its own.
  version: { major: 1, minor: 4 },
  source: 'real-clients.md: Ceph RGW SSE-KMS',
  flows: [
    {
      name: 'administrator creates named AES-256 keys',
      async run({ s, state, runId }) {
        for (const id of ['bucket-a', 'bucket-b']) {
          const uid = uidOf(await s.call(Operation.Create, s.createSymmetric(256, [attr.name(`rgw/${runId}/${id}`)])));
          await s.call(Operation.Activate, s.uidPayload(uid));
          state.set(id, uid);
        }
      },
    },
    {
      name: 'Locate by templated Name, then Get',
      async run({ s, state, runId }) {
        const keys: string[] = [];
        for (const id of ['bucket-a', 'bucket-b']) {
          const found = uidsOf(await s.call(Operation.Locate, s.locate([attr.name(`rgw/${runId}/${id}`)])));
          expect(found).toEqual([state.get(id)]);
          const kb = keyBlockOf(await s.call(Operation.Get, s.get(found[0])), Tag.SymmetricKey);
          expect(kb.format).toBe(KeyFormatType.Raw);
          const key = bytesOf(kb.material);
          expect(key).toHaveLength(32);
          keys.push(key.toString('hex'));
        }
        expect(keys[0]).not.toBe(keys[1]);
      },
    },
    {
      name: 'Locate of an unknown key id finds nothing (no error)',
      async run({ s, runId }) {
        expect(uidsOf(await s.call(Operation.Locate, s.locate([attr.name(`rgw/${runId}/no-such-bucket`)])))).toEqual([]);
      },
    },
  ],
};
