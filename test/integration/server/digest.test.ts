/**
 * The Digest attribute of a registered key (1.1 3.17): over the Key Material Byte String, or, for
 * a Transparent key whose Key Material is a structure, over the TTLV-encoded Key Material
 * structure; its Key Format Type is the registered one. Real SQLite file and SoftHSM2 token.
 */
import { createHash, randomBytes } from 'node:crypto';
import { encodeTtlv } from '../../../ttlv/encode';
import { ttlv, type TtlvItem, type TtlvStructure } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import { CryptographicAlgorithm, HashingAlgorithm, KeyFormatType, ObjectType, Operation } from '../../../src/spec/generated/enums';
import { attributesFor, find, successPayload, textOf } from '../../helpers/kmip-client';
import { ENCRYPT_DECRYPT, VERSIONS, attributeValues, openHarness, type Harness } from '../../helpers/ops-harness';

let h: Harness;
beforeAll(async () => {
  h = await openHarness('digest');
});
afterAll(async () => {
  await h.close();
});

describe.each(VERSIONS)('KMIP %s', (_label, v) => {
  async function registerKey(format: number, material: TtlvItem): Promise<TtlvStructure> {
    const block = ttlv.structure(Tag.KeyBlock, [
      ttlv.enumeration(Tag.KeyFormatType, format),
      ttlv.structure(Tag.KeyValue, [material]),
      ttlv.enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES),
      ttlv.integer(Tag.CryptographicLength, 256),
    ]);
    const r = await h.send(v, Operation.Register, [
      ttlv.enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
      attributesFor(v, [{ name: 'Cryptographic Usage Mask', value: ttlv.integer(Tag.CryptographicUsageMask, ENCRYPT_DECRYPT) }]),
      ttlv.structure(Tag.SymmetricKey, [block]),
    ]);
    const uid = textOf(successPayload(r), Tag.UniqueIdentifier)!;
    return (await attributeValues(h, v, uid, 'Digest', Tag.Digest))[0] as TtlvStructure;
  }
  const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest().toString('hex');
  const valueOf = (d: TtlvStructure, tag: number) => find(d, tag)?.value;

  test('Transparent Symmetric Key: SHA-256 of the TTLV-encoded Key Material structure', async () => {
    const key = randomBytes(32);
    const material = ttlv.structure(Tag.KeyMaterial, [ttlv.byteString(Tag.Key, key)]);
    const digest = await registerKey(KeyFormatType.TransparentSymmetricKey, material);
    expect(valueOf(digest, Tag.HashingAlgorithm)).toBe(HashingAlgorithm.SHA_256);
    expect(Buffer.from(valueOf(digest, Tag.DigestValue) as Uint8Array).toString('hex')).toBe(sha256(encodeTtlv(material)));
    expect(Buffer.from(valueOf(digest, Tag.DigestValue) as Uint8Array).toString('hex')).not.toBe(sha256(key));
    expect(valueOf(digest, Tag.KeyFormatType)).toBe(KeyFormatType.TransparentSymmetricKey);
  });

  test('Raw: SHA-256 of the Key Material Byte String', async () => {
    const key = randomBytes(32);
    const digest = await registerKey(KeyFormatType.Raw, ttlv.byteString(Tag.KeyMaterial, key));
    expect(Buffer.from(valueOf(digest, Tag.DigestValue) as Uint8Array).toString('hex')).toBe(sha256(key));
    expect(valueOf(digest, Tag.KeyFormatType)).toBe(KeyFormatType.Raw);
  });
});
