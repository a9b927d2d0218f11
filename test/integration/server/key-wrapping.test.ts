/**
 * Get with a Key Wrapping Specification over a real SQLite file and SoftHSM2 token, in KMIP 1.4
 * and 2.1: the returned Key Value unwraps (RFC 3394 / RFC 5649) under the wrapping key to the
 * key itself; the wrapping key must be an Active AES key allowing Wrap Key; Sensitive keys leave
 * only wrapped, non-extractable ones never.
 */
import { decodeTtlv } from '../../../ttlv/decode';
import { encodeTtlv } from '../../../ttlv/encode';
import { ItemType, ttlv, type TtlvItem, type TtlvStructure } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import {
  BlockCipherMode,
  CryptographicAlgorithm,
  CryptographicUsageMask,
  EncodingOption,
  KeyFormatType,
  KeyWrapType,
  ObjectType,
  Operation,
  ResultReason,
  SecretDataType,
  WrappingMethod,
} from '../../../src/spec/generated/enums';
import type { ProtocolVersion } from '../../../src/spec/versions';
import { aesKeyUnwrap, aesKeyWrap } from '../../../src/objects/key-wrap';
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

async function registerWrapped(v: ProtocolVersion, keyValue: TtlvItem, kekUid: string, encoding: number): Promise<string> {
  const r = await h.send(v, Operation.Register, [
    ttlv.enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
    attributesFor(v, [{ name: 'Cryptographic Usage Mask', value: ttlv.integer(Tag.CryptographicUsageMask, ENCRYPT_DECRYPT) }]),
    ttlv.structure(Tag.SymmetricKey, [
      ttlv.structure(Tag.KeyBlock, [
        ttlv.enumeration(Tag.KeyFormatType, KeyFormatType.Raw),
        keyValue,
        ttlv.enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES),
        ttlv.integer(Tag.CryptographicLength, 128),
        ttlv.structure(Tag.KeyWrappingData, [
          ttlv.enumeration(Tag.WrappingMethod, WrappingMethod.Encrypt),
          ttlv.structure(Tag.EncryptionKeyInformation, [
            ttlv.textString(Tag.UniqueIdentifier, kekUid),
            ttlv.structure(Tag.CryptographicParameters, [ttlv.enumeration(Tag.BlockCipherMode, BlockCipherMode.NISTKeyWrap)]),
          ]),
          ttlv.enumeration(Tag.EncodingOption, encoding),
        ]),
      ]),
    ]),
  ]);
  return textOf(successPayload(r), Tag.UniqueIdentifier)!;
}

async function getWrapped(v: ProtocolVersion, uid: string, spec: TtlvItem, objectTag: number = Tag.SymmetricKey): Promise<TtlvStructure> {
  return keyBlockOf(successPayload(await h.send(v, Operation.Get, [uidItem(uid), spec])), objectTag);
}

describe.each(VERSIONS)('KMIP %s', (label, v) => {
  test('NIST Key Wrap, No Encoding: Key Value stays a Structure whose Key Material unwraps to the key; Key Wrapping Data says how', async () => {
    const kek = await activeKek(v);
    const target = await createAes(h, v, [], ENCRYPT_DECRYPT, undefined, 128);
    const plain = await getKeyBytes(h, v, target);
    const block = await getWrapped(v, target, kws(kek, { mode: BlockCipherMode.NISTKeyWrap, encoding: EncodingOption.NoEncoding }));
    const keyValue = find(block, Tag.KeyValue) as TtlvStructure;
    expect(keyValue.type).toBe(ItemType.Structure);
    // Only the Key Material: No Encoding carries no attributes.
    expect(keyValue.value.map((c) => c.tag)).toEqual([Tag.KeyMaterial]);
    const wrapped = bytesOf(find(keyValue, Tag.KeyMaterial));
    expect(wrapped.length).toBe(plain.length + 8);
    expect(Buffer.from(aesKeyUnwrap(await getKeyBytes(h, v, kek), wrapped, false)).equals(plain)).toBe(true);
    const kwd = find(block, Tag.KeyWrappingData) as TtlvStructure;
    expect((find(kwd, Tag.WrappingMethod) as { value: number }).value).toBe(WrappingMethod.Encrypt);
    expect(textOf(find(kwd, Tag.EncryptionKeyInformation) as TtlvStructure, Tag.UniqueIdentifier)).toBe(kek);
    expect((find(block, Tag.CryptographicAlgorithm) as { value: number }).value).toBe(CryptographicAlgorithm.AES);
    expect((find(kwd, Tag.EncodingOption) as { value: number }).value).toBe(EncodingOption.NoEncoding);
  });

  test('No Encoding with attributes to bind is refused: only TTLV Encoding carries them', async () => {
    const kek = await activeKek(v);
    const target = await createAes(h, v);
    const spec = kws(kek, { encoding: EncodingOption.NoEncoding }) as TtlvStructure;
    const withNames = ttlv.structure(Tag.KeyWrappingSpecification, [...spec.value, ttlv.textString(Tag.AttributeName, 'Cryptographic Usage Mask')]);
    expect(failure(await h.send(v, Operation.Get, [uidItem(target), withNames]))).toBe(ResultReason.EncodingOptionError);
  });

  test.each([
    ['default', undefined],
    ['TTLV Encoding named', EncodingOption.TTLVEncoding],
  ])('%s: the Key Value is a Byte String, the wrapped TTLV-encoded Key Value structure', async (_label, encoding) => {
    const kek = await activeKek(v);
    const target = await createAes(h, v);
    const plain = await getKeyBytes(h, v, target);
    const block = await getWrapped(v, target, kws(kek, encoding === undefined ? {} : { encoding }));
    const inner = decodeTtlv(aesKeyUnwrap(await getKeyBytes(h, v, kek), bytesOf(find(block, Tag.KeyValue)), false)) as TtlvStructure;
    expect(inner.tag).toBe(Tag.KeyValue);
    // No attributes asked for: the Key Material alone (no empty 2.x Attributes structure).
    expect(inner.value.map((c) => c.tag)).toEqual([Tag.KeyMaterial]);
    expect(bytesOf(find(inner, Tag.KeyMaterial)).equals(plain)).toBe(true);
    const kwd = find(block, Tag.KeyWrappingData) as TtlvStructure;
    // Echoed only when the client named it (the OASIS cases expect none for the default).
    expect(find(kwd, Tag.EncodingOption)?.value).toBe(encoding);
  });

  test('TTLV Encoding binds the attributes the client names into the wrapped Key Value', async () => {
    const kek = await activeKek(v);
    const target = await createAes(h, v);
    const spec = kws(kek, { encoding: EncodingOption.TTLVEncoding }) as TtlvStructure;
    const withNames = ttlv.structure(Tag.KeyWrappingSpecification, [...spec.value, ttlv.textString(Tag.AttributeName, 'Cryptographic Usage Mask')]);
    const block = await getWrapped(v, target, withNames);
    const inner = decodeTtlv(aesKeyUnwrap(await getKeyBytes(h, v, kek), bytesOf(find(block, Tag.KeyValue)), false)) as TtlvStructure;
    expect(inner.value.map((c) => c.tag)).toEqual(v.major >= 2 ? [Tag.KeyMaterial, Tag.Attributes] : [Tag.KeyMaterial, Tag.Attribute]);
  });

  test('a key registered wrapped is stored as given; As Registered returns it so; Not Wrapped is refused when its wrapping key is not here', async () => {
    const wrappedBytes = Buffer.alloc(24, 0x5a);
    const block = ttlv.structure(Tag.KeyBlock, [
      ttlv.enumeration(Tag.KeyFormatType, KeyFormatType.Raw),
      ttlv.structure(Tag.KeyValue, [ttlv.byteString(Tag.KeyMaterial, wrappedBytes)]),
      ttlv.enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES),
      ttlv.integer(Tag.CryptographicLength, 128),
      ttlv.structure(Tag.KeyWrappingData, [
        ttlv.enumeration(Tag.WrappingMethod, WrappingMethod.Encrypt),
        ttlv.structure(Tag.EncryptionKeyInformation, [
          ttlv.textString(Tag.UniqueIdentifier, 'a-key-elsewhere'),
          ttlv.structure(Tag.CryptographicParameters, [ttlv.enumeration(Tag.BlockCipherMode, BlockCipherMode.NISTKeyWrap)]),
        ]),
        ttlv.enumeration(Tag.EncodingOption, EncodingOption.NoEncoding),
      ]),
    ]);
    const r = await h.send(v, Operation.Register, [
      ttlv.enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
      attributesFor(v, [{ name: 'Cryptographic Usage Mask', value: ttlv.integer(Tag.CryptographicUsageMask, ENCRYPT_DECRYPT) }]),
      ttlv.structure(Tag.SymmetricKey, [block]),
    ]);
    const uid = textOf(successPayload(r), Tag.UniqueIdentifier)!;
    const plainGet = keyBlockOf(successPayload(await h.send(v, Operation.Get, [uidItem(uid)])));
    expect(encodeTtlv(plainGet).equals(encodeTtlv(block))).toBe(true);
    const asRegistered = keyBlockOf(successPayload(await h.send(v, Operation.Get, [uidItem(uid), ttlv.enumeration(Tag.KeyWrapType, KeyWrapType.AsRegistered)])));
    expect(encodeTtlv(asRegistered).equals(encodeTtlv(block))).toBe(true);
    const notWrapped = await h.send(v, Operation.Get, [uidItem(uid), ttlv.enumeration(Tag.KeyWrapType, KeyWrapType.NotWrapped)]);
    expect(failure(notWrapped)).toBe(reason(v, ResultReason.KeyWrapTypeNotSupported, ResultReason.FeatureNotSupported));
    expect(notWrapped.items[0]!.message).toMatch(/registered wrapped and cannot be returned unwrapped: its wrapping key is not one of yours/);
  });

  test.each([
    ['No Encoding', EncodingOption.NoEncoding],
    ['TTLV Encoding', EncodingOption.TTLVEncoding],
  ])('a key registered wrapped (%s) under a wrapping key of the caller: Key Wrap Type Not Wrapped unwraps it', async (_name, encoding) => {
    const kek = await activeKek(v);
    const kekBytes = await getKeyBytes(h, v, kek);
    const plain = Buffer.alloc(16, 0x3c);
    const keyValue =
      encoding === EncodingOption.NoEncoding
        ? ttlv.structure(Tag.KeyValue, [ttlv.byteString(Tag.KeyMaterial, Buffer.from(aesKeyWrap(kekBytes, plain, false)))])
        : ttlv.byteString(Tag.KeyValue, Buffer.from(aesKeyWrap(kekBytes, Buffer.from(encodeTtlv(ttlv.structure(Tag.KeyValue, [ttlv.byteString(Tag.KeyMaterial, plain)]))), false)));
    const uid = await registerWrapped(v, keyValue, kek, encoding);
    const block = keyBlockOf(successPayload(await h.send(v, Operation.Get, [uidItem(uid), ttlv.enumeration(Tag.KeyWrapType, KeyWrapType.NotWrapped)])));
    expect(find(block, Tag.KeyWrappingData)).toBeUndefined();
    expect(bytesOf(find(find(block, Tag.KeyValue) as TtlvStructure, Tag.KeyMaterial)).equals(plain)).toBe(true);
    // As stored without Key Wrap Type, and As Registered.
    expect(find(keyBlockOf(successPayload(await h.send(v, Operation.Get, [uidItem(uid)]))), Tag.KeyWrappingData)).toBeDefined();
  });

  test('Not Wrapped needs a wrapping key that may unwrap: without Unwrap Key in its mask it is refused', async () => {
    const kek = await activeKek(v, CryptographicUsageMask.WrapKey);
    const wrapped = aesKeyWrap(await getKeyBytes(h, v, kek), Buffer.alloc(16, 1), false);
    const uid = await registerWrapped(v, ttlv.structure(Tag.KeyValue, [ttlv.byteString(Tag.KeyMaterial, Buffer.from(wrapped))]), kek, EncodingOption.NoEncoding);
    const r = await h.send(v, Operation.Get, [uidItem(uid), ttlv.enumeration(Tag.KeyWrapType, KeyWrapType.NotWrapped)]);
    expect(failure(r)).toBe(reason(v, ResultReason.IncompatibleCryptographicUsageMask, ResultReason.PermissionDenied));
  });

  test('Key Wrap Type Not Wrapped returns a plaintext key plain, and contradicts a Key Wrapping Specification', async () => {
    const kek = await activeKek(v);
    const target = await createAes(h, v);
    const plain = await getKeyBytes(h, v, target);
    const p = successPayload(await h.send(v, Operation.Get, [uidItem(target), ttlv.enumeration(Tag.KeyWrapType, KeyWrapType.NotWrapped)]));
    expect(bytesOf(find(find(keyBlockOf(p), Tag.KeyValue) as TtlvStructure, Tag.KeyMaterial)).equals(plain)).toBe(true);
    expect(find(keyBlockOf(p), Tag.KeyWrappingData)).toBeUndefined();
    const both = await h.send(v, Operation.Get, [uidItem(target), ttlv.enumeration(Tag.KeyWrapType, KeyWrapType.NotWrapped), kws(kek)]);
    expect(failure(both)).toBe(ResultReason.InvalidField);
    // As Registered with a wrapping request: the key was registered plain, the request wraps it.
    const block = await getWrapped(v, target, kws(kek));
    expect(find(block, Tag.KeyWrappingData)).toBeDefined();
  });

  test('AES Key Wrap with Padding wraps material of any length; NIST Key Wrap refuses it', async () => {
    const kek = await activeKek(v);
    const secret = Buffer.from(`pw-${label}!`);
    expect(secret.length % 8).not.toBe(0);
    const uid = await registerSecret(v, secret);
    const block = await getWrapped(v, uid, kws(kek, { mode: BlockCipherMode.AESKeyWrapPadding, encoding: EncodingOption.NoEncoding }), Tag.SecretData);
    const material = bytesOf(find(find(block, Tag.KeyValue) as TtlvStructure, Tag.KeyMaterial));
    expect(Buffer.from(aesKeyUnwrap(await getKeyBytes(h, v, kek), material, true)).equals(secret)).toBe(true);
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
    // Registered, not created: the default cryptographic policy creates no 3DES keys, and an existing one may still be brought in.
    const des = textOf(
      successPayload(
        await h.send(v, Operation.Register, [
          ttlv.enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
          attributesFor(v, [{ name: 'Cryptographic Usage Mask', value: ttlv.integer(Tag.CryptographicUsageMask, CryptographicUsageMask.WrapKey) }]),
          ttlv.structure(Tag.SymmetricKey, [
            ttlv.structure(Tag.KeyBlock, [
              ttlv.enumeration(Tag.KeyFormatType, KeyFormatType.Raw),
              ttlv.structure(Tag.KeyValue, [ttlv.byteString(Tag.KeyMaterial, Buffer.alloc(24, 0x5a))]),
              ttlv.enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.DES3),
              ttlv.integer(Tag.CryptographicLength, 168),
            ]),
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
