/**
 * Get with a Key Wrapping Specification over a real SQLite file and SoftHSM2 token, in KMIP 1.4
 * and 2.1: the returned Key Value unwraps (RFC 3394 / RFC 5649) under the wrapping key to the
 * key itself; the wrapping key must be an Active AES key allowing Wrap Key; Sensitive keys leave
 * only wrapped, non-extractable ones never.
 */
import { decodeTtlv } from '../../../ttlv/decode';
import { ttlv, type TtlvItem, type TtlvStructure } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import {
  BlockCipherMode,
  CryptographicAlgorithm,
  CryptographicUsageMask,
  EncodingOption,
  KeyFormatType,
  ObjectType,
  Operation,
  ResultReason,
  SecretDataType,
  WrappingMethod,
} from '../../../src/spec/generated/enums';
import type { ProtocolVersion } from '../../../src/spec/versions';
import { aesKeyUnwrap } from '../../../src/ops/key-wrap';
import { attributesFor, find, successPayload, textOf } from '../../helpers/kmip-client';
import {
  ENCRYPT_DECRYPT,
  VERSIONS,
  attributeValues,
  bytesOf,
  createAes,
  failure,
  getKeyBytes,
  keyBlockOf,
  openHarness,
  uidItem,
  type Harness,
} from '../../helpers/ops-harness';

let h: Harness;
beforeAll(async () => {
  h = await openHarness('wrap');
});
afterAll(async () => {
  await h.close();
});

function reason(v: ProtocolVersion, v2: number, v1: number): number {
  return v.major >= 2 ? v2 : v1;
}

interface WrapOptions {
  readonly mode?: number;
  readonly encoding?: number;
  readonly method?: number;
  readonly withoutKey?: boolean;
}

function kws(kekUid: string, o: WrapOptions = {}): TtlvItem {
  const eki: TtlvItem[] = [ttlv.textString(Tag.UniqueIdentifier, kekUid)];
  if (o.mode !== undefined) eki.push(ttlv.structure(Tag.CryptographicParameters, [ttlv.enumeration(Tag.BlockCipherMode, o.mode)]));
  const items: TtlvItem[] = [ttlv.enumeration(Tag.WrappingMethod, o.method ?? WrappingMethod.Encrypt)];
  if (!o.withoutKey) items.push(ttlv.structure(Tag.EncryptionKeyInformation, eki));
  if (o.encoding !== undefined) items.push(ttlv.enumeration(Tag.EncodingOption, o.encoding));
  return ttlv.structure(Tag.KeyWrappingSpecification, items);
}

async function activeKek(v: ProtocolVersion, mask = CryptographicUsageMask.WrapKey | CryptographicUsageMask.UnwrapKey): Promise<string> {
  const uid = await createAes(h, v, [], mask);
  successPayload(await h.send(v, Operation.Activate, [uidItem(uid)]));
  return uid;
}

async function registerSecret(v: ProtocolVersion, bytes: Buffer, extra: Parameters<typeof attributesFor>[1] = []): Promise<string> {
  const r = await h.send(v, Operation.Register, [
    ttlv.enumeration(Tag.ObjectType, ObjectType.SecretData),
    attributesFor(v, [{ name: 'Cryptographic Usage Mask', value: ttlv.integer(Tag.CryptographicUsageMask, CryptographicUsageMask.Encrypt) }, ...extra]),
    ttlv.structure(Tag.SecretData, [
      ttlv.enumeration(Tag.SecretDataType, SecretDataType.Password),
      ttlv.structure(Tag.KeyBlock, [
        ttlv.enumeration(Tag.KeyFormatType, KeyFormatType.Opaque),
        ttlv.structure(Tag.KeyValue, [ttlv.byteString(Tag.KeyMaterial, bytes)]),
      ]),
    ]),
  ]);
  return textOf(successPayload(r), Tag.UniqueIdentifier)!;
}

async function getWrapped(v: ProtocolVersion, uid: string, spec: TtlvItem, objectTag: number = Tag.SymmetricKey): Promise<TtlvStructure> {
  return keyBlockOf(successPayload(await h.send(v, Operation.Get, [uidItem(uid), spec])), objectTag);
}

describe.each(VERSIONS)('KMIP %s', (label, v) => {
  test('NIST Key Wrap, No Encoding: the Key Value unwraps to the key; Key Wrapping Data says how', async () => {
    const kek = await activeKek(v);
    const target = await createAes(h, v, [], ENCRYPT_DECRYPT, undefined, 128);
    const plain = await getKeyBytes(h, v, target);
    const block = await getWrapped(v, target, kws(kek, { mode: BlockCipherMode.NISTKeyWrap, encoding: EncodingOption.NoEncoding }));
    const wrapped = bytesOf(find(block, Tag.KeyValue));
    expect(wrapped.length).toBe(plain.length + 8);
    expect(Buffer.from(aesKeyUnwrap(await getKeyBytes(h, v, kek), wrapped, false)).equals(plain)).toBe(true);
    const kwd = find(block, Tag.KeyWrappingData) as TtlvStructure;
    expect((find(kwd, Tag.WrappingMethod) as { value: number }).value).toBe(WrappingMethod.Encrypt);
    expect(textOf(find(kwd, Tag.EncryptionKeyInformation) as TtlvStructure, Tag.UniqueIdentifier)).toBe(kek);
    expect((find(block, Tag.CryptographicAlgorithm) as { value: number }).value).toBe(CryptographicAlgorithm.AES);
  });

  test('default TTLV encoding: the wrapped bytes are the Key Value structure', async () => {
    const kek = await activeKek(v);
    const target = await createAes(h, v);
    const plain = await getKeyBytes(h, v, target);
    const block = await getWrapped(v, target, kws(kek));
    const inner = decodeTtlv(aesKeyUnwrap(await getKeyBytes(h, v, kek), bytesOf(find(block, Tag.KeyValue)), false)) as TtlvStructure;
    expect(inner.tag).toBe(Tag.KeyValue);
    expect(bytesOf(find(inner, Tag.KeyMaterial)).equals(plain)).toBe(true);
  });

  test('AES Key Wrap with Padding wraps material of any length; NIST Key Wrap refuses it', async () => {
    const kek = await activeKek(v);
    const secret = Buffer.from(`pw-${label}!`);
    expect(secret.length % 8).not.toBe(0);
    const uid = await registerSecret(v, secret);
    const block = await getWrapped(v, uid, kws(kek, { mode: BlockCipherMode.AESKeyWrapPadding, encoding: EncodingOption.NoEncoding }), Tag.SecretData);
    expect(Buffer.from(aesKeyUnwrap(await getKeyBytes(h, v, kek), bytesOf(find(block, Tag.KeyValue)), true)).equals(secret)).toBe(true);
    const r = await h.send(v, Operation.Get, [uidItem(uid), kws(kek, { mode: BlockCipherMode.NISTKeyWrap, encoding: EncodingOption.NoEncoding })]);
    expect(failure(r)).toBe(reason(v, ResultReason.BadCryptographicParameters, ResultReason.InvalidField));
  });

  test('the wrapping key must exist, be Active, allow Wrap Key, be AES, and be on-line', async () => {
    const target = await createAes(h, v);
    const get = (spec: TtlvItem) => h.send(v, Operation.Get, [uidItem(target), spec]);
    expect(failure(await get(kws('no-such-key')))).toBe(reason(v, ResultReason.WrappingObjectNotFound, ResultReason.ItemNotFound));
    const preActive = await createAes(h, v, [], CryptographicUsageMask.WrapKey);
    expect(failure(await get(kws(preActive)))).toBe(reason(v, ResultReason.WrongKeyLifecycleState, ResultReason.PermissionDenied));
    const noWrap = await activeKek(v, ENCRYPT_DECRYPT);
    expect(failure(await get(kws(noWrap)))).toBe(reason(v, ResultReason.IncompatibleCryptographicUsageMask, ResultReason.PermissionDenied));
    const archived = await activeKek(v);
    successPayload(await h.send(v, Operation.Archive, [uidItem(archived)]));
    expect(failure(await get(kws(archived)))).toBe(reason(v, ResultReason.WrappingObjectArchived, ResultReason.ObjectArchived));
    const destroyed = await createAes(h, v, [], CryptographicUsageMask.WrapKey);
    successPayload(await h.send(v, Operation.Destroy, [uidItem(destroyed)]));
    expect(failure(await get(kws(destroyed)))).toBe(reason(v, ResultReason.WrappingObjectDestroyed, ResultReason.ItemNotFound));
    const secret = await registerSecret(v, Buffer.alloc(32, 7));
    expect(failure(await get(kws(secret)))).toBe(reason(v, ResultReason.IllegalObjectType, ResultReason.InvalidField));
    const des = textOf(
      successPayload(
        await h.send(v, Operation.Create, [
          ttlv.enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
          attributesFor(v, [
            { name: 'Cryptographic Algorithm', value: ttlv.enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.DES3) },
            { name: 'Cryptographic Length', value: ttlv.integer(Tag.CryptographicLength, 168) },
            { name: 'Cryptographic Usage Mask', value: ttlv.integer(Tag.CryptographicUsageMask, CryptographicUsageMask.WrapKey) },
          ]),
        ]),
      ),
      Tag.UniqueIdentifier,
    )!;
    successPayload(await h.send(v, Operation.Activate, [uidItem(des)]));
    expect(failure(await get(kws(des)))).toBe(reason(v, ResultReason.UnsupportedCryptographicParameters, ResultReason.FeatureNotSupported));
  });

  test('unsupported wrapping: another mode or method, no key named, nothing to wrap', async () => {
    const kek = await activeKek(v);
    const target = await createAes(h, v);
    const get = (spec: TtlvItem, uid = target) => h.send(v, Operation.Get, [uidItem(uid), spec]);
    expect(failure(await get(kws(kek, { mode: BlockCipherMode.CBC })))).toBe(
      reason(v, ResultReason.UnsupportedCryptographicParameters, ResultReason.FeatureNotSupported),
    );
    expect(failure(await get(kws(kek, { method: WrappingMethod.MACSign })))).toBe(ResultReason.FeatureNotSupported);
    expect(failure(await get(kws(kek, { withoutKey: true })))).toBe(ResultReason.MissingData);
    const opaque = textOf(
      successPayload(
        await h.send(v, Operation.Register, [
          ttlv.enumeration(Tag.ObjectType, ObjectType.OpaqueObject),
          attributesFor(v, []),
          ttlv.structure(Tag.OpaqueObject, [ttlv.enumeration(Tag.OpaqueDataType, 0x80000001), ttlv.byteString(Tag.OpaqueDataValue, Buffer.from('blob'))]),
        ]),
      ),
      Tag.UniqueIdentifier,
    )!;
    expect(failure(await get(kws(kek), opaque))).toBe(reason(v, ResultReason.IllegalObjectType, ResultReason.InvalidField));
  });

  test('Sensitive keys leave only wrapped; non-extractable ones not at all; a served key is no longer Fresh', async () => {
    const kek = await activeKek(v);
    const sensitive = await createAes(h, v, [{ name: 'Sensitive', value: ttlv.boolean(Tag.Sensitive, true) }]);
    expect(failure(await h.send(v, Operation.Get, [uidItem(sensitive)]))).toBe(ResultReason.Sensitive);
    expect((await attributeValues(h, v, sensitive, 'Fresh', Tag.Fresh))[0]!.value).toBe(true);
    await getWrapped(v, sensitive, kws(kek));
    expect((await attributeValues(h, v, sensitive, 'Fresh', Tag.Fresh))[0]!.value).toBe(false);
    const locked = await createAes(h, v, [{ name: 'Extractable', value: ttlv.boolean(Tag.Extractable, false) }]);
    expect((await attributeValues(h, v, locked, 'Never Extractable', Tag.NeverExtractable))[0]!.value).toBe(true);
    expect(failure(await h.send(v, Operation.Get, [uidItem(locked), kws(kek)]))).toBe(ResultReason.NotExtractable);
  });
});
