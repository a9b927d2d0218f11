/**
 * MongoDB Enterprise encrypted storage engine (mongod): KMIP 1.2 by default, Create, Get,
 * Activate, Get Attributes, and in 1.2 mode Encrypt and Decrypt (the master key wraps the
 * database keys server-side); State polled with Get Attributes. With `useLegacyProtocol` it speaks
 * 1.0, and then meets keys the 1.2 mode made (legacy mode with 1.2 keys broke audit-log
 * encryption on one server): answers must hold nothing 1.0 lacks, Fresh included.
 */
import { randomBytes } from 'node:crypto';
import { ttlv, ItemType, type TtlvItem } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import { BlockCipherMode, PaddingMethod } from '../../../src/spec/generated/enums';
import { find } from '../../helpers/kmip-client';
import { bytesOf, CryptographicAlgorithm, keyBlockOf, KeyFormatType, Operation, State, stateOf, uidOf, type Persona, type PersonaFlow } from './session';

const V1_2 = { major: 1, minor: 2 };
const V1_0 = { major: 1, minor: 0 };

function cbcParameters(randomIv: boolean): TtlvItem {
  return ttlv.structure(Tag.CryptographicParameters, [
    ttlv.enumeration(Tag.BlockCipherMode, BlockCipherMode.CBC),
    ttlv.enumeration(Tag.PaddingMethod, PaddingMethod.PKCS5),
    ttlv.enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES),
    ...(randomIv ? [ttlv.boolean(Tag.RandomIV, true)] : []),
  ]);
}

/** Create, Activate, poll State: the start-up both modes share. */
function masterKeyFlows(): PersonaFlow[] {
  return [
    {
      name: 'Create AES-256 master key',
      async run({ s, state }) {
        state.set('master', uidOf(await s.call(Operation.Create, s.createSymmetric(256))));
      },
    },
    {
      name: 'Get the master key',
      async run({ s, state }) {
        const kb = keyBlockOf(await s.call(Operation.Get, s.get(state.get('master'))), Tag.SymmetricKey);
        expect(kb.format).toBe(KeyFormatType.Raw);
        expect(bytesOf(kb.material)).toHaveLength(32);
      },
    },
    {
      name: 'Activate',
      async run({ s, state }) {
        const uid = state.get('master')!;
        expect(uidOf(await s.call(Operation.Activate, s.uidPayload(uid)))).toBe(uid);
      },
    },
    {
      name: 'poll State with Get Attributes',
      async run({ s, state }) {
        for (let i = 0; i < 3; i++) expect(stateOf(await s.attributesOf(state.get('master')!, ['State']))).toBe(State.Active);
      },
    },
  ];
}

export const mongod: Persona = {
  client: 'MongoDB mongod',
  identity: 'mongod',
  version: V1_2,
  source: 'real-clients.md: MongoDB Enterprise encrypted storage engine',
  flows: [
    ...masterKeyFlows(),
    {
      name: 'Encrypt a database key under the master key (server-side wrap)',
      async run({ s, state }) {
        const dbKey = randomBytes(32);
        const p = await s.call(Operation.Encrypt, [
          ...s.uidPayload(state.get('master')!),
          cbcParameters(true),
          ttlv.byteString(Tag.Data, dbKey),
        ]);
        expect(uidOf(p)).toBe(state.get('master'));
        const data = find(p, Tag.Data);
        const iv = find(p, Tag.IVCounterNonce);
        expect(data?.type).toBe(ItemType.ByteString);
        expect(iv?.type).toBe(ItemType.ByteString);
        const wrapped = bytesOf(data!);
        expect(wrapped).toHaveLength(48); // 32 bytes, PKCS#5-padded to three blocks
        expect(wrapped.equals(dbKey)).toBe(false);
        state.set('dbKey', dbKey.toString('hex'));
        state.set('wrapped', wrapped.toString('hex'));
        state.set('iv', bytesOf(iv!).toString('hex'));
      },
    },
    {
      name: 'Decrypt it back at start-up',
      async run({ s, state }) {
        const p = await s.call(Operation.Decrypt, [
          ...s.uidPayload(state.get('master')!),
          cbcParameters(false),
          ttlv.byteString(Tag.Data, Buffer.from(state.get('wrapped')!, 'hex')),
          ttlv.byteString(Tag.IVCounterNonce, Buffer.from(state.get('iv')!, 'hex')),
        ]);
        expect(bytesOf(find(p, Tag.Data)!).toString('hex')).toBe(state.get('dbKey'));
      },
    },
  ],
};

export const mongodLegacy: Persona = {
  // useLegacyProtocol: the same client in KMIP 1.0 (its own column in the matrix).
  client: 'MongoDB mongod',
  identity: 'mongod',
  version: V1_0,
  source: 'real-clients.md: MongoDB Enterprise encrypted storage engine, useLegacyProtocol',
  flows: [
    ...masterKeyFlows(),
    {
      name: 'a key made in 1.2 mode, read in legacy mode: nothing newer than 1.0',
      async run({ s, session }) {
        const modern = session(V1_2);
        const uid = uidOf(await modern.call(Operation.Create, modern.createSymmetric(256)));
        await modern.call(Operation.Activate, modern.uidPayload(uid));
        // Get clears Fresh (a 1.1 attribute); the 1.0 client must see neither it nor any other newcomer.
        await modern.call(Operation.Get, modern.get(uid));
        const every = await s.attributesOf(uid);
        expect(every.map((a) => a.name)).not.toContain('Fresh');
        expect(stateOf(every)).toBe(State.Active);
        expect(bytesOf(keyBlockOf(await s.call(Operation.Get, s.get(uid)), Tag.SymmetricKey).material)).toHaveLength(32);
      },
    },
  ],
};
