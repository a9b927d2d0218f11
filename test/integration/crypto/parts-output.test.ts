/**
 * Encrypt and Decrypt in parts: a part that gives no output (AES-CBC holding back a partial block,
 * a final part with nothing left) answers without Data rather than with an empty Byte String;
 * one-shot requests always carry it. Real SQLite file and SoftHSM2 token, KMIP 1.4 and 2.1.
 */
import { createCipheriv } from 'node:crypto';
import { ttlv } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import { BlockCipherMode, CryptographicAlgorithm, CryptographicUsageMask, KeyFormatType, ObjectType, Operation, PaddingMethod } from '../../../src/spec/generated/enums';
import { find } from '../../helpers/kmip-client';
import { VERSIONS, activeSince, bytesOf, data, maskAttr, nameAttr, ok, params, rawBlock, registerKey, uidItem, useHarness } from './harness';

const h = useHarness();
const KEY = Buffer.alloc(16, 0x42);
const IV = Buffer.alloc(16, 0x07);

describe.each(VERSIONS)('KMIP %s', (_label, v) => {
  test('AES-CBC in parts: a part shorter than a block, and an empty final part, answer without Data', async () => {
    const uid = await registerKey(h, v, ObjectType.SymmetricKey, rawBlock(KeyFormatType.Raw, KEY, CryptographicAlgorithm.AES, 128), [
      maskAttr(CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt),
      activeSince(),
      nameAttr('parts'),
    ]);
    const p = params({ mode: BlockCipherMode.CBC, padding: PaddingMethod.None });
    const iv = ttlv.byteString(Tag.IVCounterNonce, IV);
    const plain = Buffer.alloc(32, 0x61);
    const first = await ok(h, v, Operation.Encrypt, [uidItem(uid), p, iv, data(plain.subarray(0, 10)), ttlv.boolean(Tag.InitIndicator, true)]);
    expect(find(first, Tag.Data)).toBeUndefined();
    const corr = ttlv.byteString(Tag.CorrelationValue, bytesOf(first, Tag.CorrelationValue));
    const mid = await ok(h, v, Operation.Encrypt, [uidItem(uid), data(plain.subarray(10)), corr]);
    const last = await ok(h, v, Operation.Encrypt, [uidItem(uid), data(Buffer.alloc(0)), corr, ttlv.boolean(Tag.FinalIndicator, true)]);
    expect(find(last, Tag.Data)).toBeUndefined();
    const expected = createCipheriv('aes-128-cbc', KEY, IV).setAutoPadding(false).update(plain);
    expect(bytesOf(mid, Tag.Data).equals(expected)).toBe(true);
    // One-shot: Data always present, even when empty.
    const whole = await ok(h, v, Operation.Encrypt, [uidItem(uid), p, iv, data(Buffer.alloc(0))]);
    expect(bytesOf(whole, Tag.Data).length).toBe(0);
  });
});
