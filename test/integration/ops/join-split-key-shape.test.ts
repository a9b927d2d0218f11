/**
 * Join Split Key puts the Cryptographic Algorithm and Length the request asks for into the joined
 * key's Key Block (a client may split bare bytes and say what they are on Join), over a real
 * SQLite store and SoftHSM2 token, in KMIP 1.4 and 2.1.
 */
import { randomBytes } from 'node:crypto';
import { ttlv } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import { CryptographicAlgorithm, KeyFormatType, ObjectType, Operation, SplitKeyMethod } from '../../../src/spec/generated/enums';
import { attributesFor, find, successPayload, textOf } from '../../helpers/kmip-client';
import { ENCRYPT_DECRYPT, VERSIONS, aesTemplate, getKeyBytes, keyBlockOf, openHarness, uidItem, type Harness } from '../../helpers/ops-harness';

let h: Harness;
beforeAll(async () => {
  h = await openHarness('join-shape');
});
afterAll(async () => {
  await h.close();
});

describe.each(VERSIONS)('KMIP %s', (_label, v) => {
  test('XOR parts without algorithm or length, joined as AES-128: the key block says AES, 128', async () => {
    const key = randomBytes(16);
    const share1 = randomBytes(16);
    const share2 = Buffer.from(key.map((b, i) => b ^ share1[i]!));
    const uids: string[] = [];
    for (const [i, share] of [share1, share2].entries()) {
      const r = await h.send(v, Operation.Register, [
        ttlv.enumeration(Tag.ObjectType, ObjectType.SplitKey),
        attributesFor(v, []),
        ttlv.structure(Tag.SplitKey, [
          ttlv.integer(Tag.SplitKeyParts, 2),
          ttlv.integer(Tag.KeyPartIdentifier, i + 1),
          ttlv.integer(Tag.SplitKeyThreshold, 2),
          ttlv.enumeration(Tag.SplitKeyMethod, SplitKeyMethod.XOR),
          ttlv.structure(Tag.KeyBlock, [ttlv.enumeration(Tag.KeyFormatType, KeyFormatType.Raw), ttlv.structure(Tag.KeyValue, [ttlv.byteString(Tag.KeyMaterial, share)])]),
        ]),
      ]);
      uids.push(textOf(successPayload(r), Tag.UniqueIdentifier)!);
    }
    const joined = successPayload(
      await h.send(v, Operation.JoinSplitKey, [
        ttlv.enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
        ...uids.map(uidItem),
        attributesFor(v, aesTemplate(undefined, ENCRYPT_DECRYPT, 128)),
      ]),
    );
    const uid = textOf(joined, Tag.UniqueIdentifier)!;
    const block = keyBlockOf(successPayload(await h.send(v, Operation.Get, [uidItem(uid)])));
    expect(find(block, Tag.CryptographicAlgorithm)?.value).toBe(CryptographicAlgorithm.AES);
    expect(find(block, Tag.CryptographicLength)?.value).toBe(128);
    expect((await getKeyBytes(h, v, uid)).equals(key)).toBe(true);
  });
});
