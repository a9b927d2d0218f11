/**
 * Derive Key through handleMessage (real SQLite, real SoftHSM2), in KMIP 1.4 and 2.1: PBKDF2 from a
 * password held as Secret Data, HMAC, HASH and ENCRYPT from keys, the links both ways, the ID
 * Placeholder, and the refusals the spec lists (no Derive Key bit, too long, ambiguous data,
 * a Deactivated base (a Pre-Active one is allowed), another owner's key).
 */
import { createCipheriv, createHash, createHmac, pbkdf2Sync } from 'node:crypto';
import { ItemType, ttlv, type TtlvItem, type TtlvStructure } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import {
  BlockCipherMode,
  CryptographicAlgorithm,
  CryptographicUsageMask,
  DerivationMethod,
  HashingAlgorithm,
  KeyFormatType,
  LinkType,
  ObjectType,
  Operation,
  PaddingMethod,
  ResultReason,
  RevocationReasonCode,
  SecretDataType,
} from '../../../src/spec/generated/enums';
import type { KmipAttribute } from '../../../src/kmip/attributes';
import type { ProtocolVersion } from '../../../src/spec/versions';
import { attributesFor, find, successPayload, textOf } from '../../helpers/kmip-client';
import { VERSIONS, aesTemplate, attributeValues, failure, getKeyBytes, openHarness, uidItem, type Harness } from '../../helpers/ops-harness';

let h: Harness;
beforeAll(async () => {
  h = await openHarness('derive-key');
});
afterAll(async () => {
  await h.close();
});

const DERIVE = CryptographicUsageMask.DeriveKey;
const active = (): KmipAttribute => ({ name: 'Activation Date', value: ttlv.dateTime(Tag.ActivationDate, BigInt(Math.floor(Date.now() / 1000) - 60)) });
const mask = (m: number): KmipAttribute => ({ name: 'Cryptographic Usage Mask', value: ttlv.integer(Tag.CryptographicUsageMask, m) });

async function registerSymmetric(v: ProtocolVersion, material: Buffer, algorithm: number, attrs: KmipAttribute[] = [mask(DERIVE), active()]): Promise<string> {
  const block = ttlv.structure(Tag.KeyBlock, [
    ttlv.enumeration(Tag.KeyFormatType, KeyFormatType.Raw),
    ttlv.structure(Tag.KeyValue, [ttlv.byteString(Tag.KeyMaterial, material)]),
    ttlv.enumeration(Tag.CryptographicAlgorithm, algorithm),
    ttlv.integer(Tag.CryptographicLength, material.length * 8),
  ]);
  const r = await h.send(v, Operation.Register, [ttlv.enumeration(Tag.ObjectType, ObjectType.SymmetricKey), attributesFor(v, attrs), ttlv.structure(Tag.SymmetricKey, [block])]);
  return textOf(successPayload(r), Tag.UniqueIdentifier)!;
}

async function registerSecret(v: ProtocolVersion, material: Buffer, type: number, attrs: KmipAttribute[] = [mask(DERIVE), active()]): Promise<string> {
  const body = ttlv.structure(Tag.SecretData, [
    ttlv.enumeration(Tag.SecretDataType, type),
    ttlv.structure(Tag.KeyBlock, [ttlv.enumeration(Tag.KeyFormatType, KeyFormatType.Opaque), ttlv.structure(Tag.KeyValue, [ttlv.byteString(Tag.KeyMaterial, material)])]),
  ]);
  const r = await h.send(v, Operation.Register, [ttlv.enumeration(Tag.ObjectType, ObjectType.SecretData), attributesFor(v, attrs), body]);
  return textOf(successPayload(r), Tag.UniqueIdentifier)!;
}

function derivePayload(v: ProtocolVersion, objectType: number, uids: string[], method: number, dp: TtlvItem[], attrs: KmipAttribute[]): TtlvItem[] {
  return [ttlv.enumeration(Tag.ObjectType, objectType), ...uids.map(uidItem), ttlv.enumeration(Tag.DerivationMethod, method), ttlv.structure(Tag.DerivationParameters, dp), attributesFor(v, attrs)];
}

async function derive(v: ProtocolVersion, objectType: number, uids: string[], method: number, dp: TtlvItem[], attrs: KmipAttribute[]): Promise<string> {
  return textOf(successPayload(await h.send(v, Operation.DeriveKey, derivePayload(v, objectType, uids, method, dp, attrs))), Tag.UniqueIdentifier)!;
}

const cp = (items: TtlvItem[]) => ttlv.structure(Tag.CryptographicParameters, items);
const aes = (bits: number) => aesTemplate(undefined, CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt, bits);
const secretLength = (bits: number): KmipAttribute[] => [{ name: 'Cryptographic Length', value: ttlv.integer(Tag.CryptographicLength, bits) }];

async function secretBytes(v: ProtocolVersion, uid: string): Promise<Buffer> {
  const p = successPayload(await h.send(v, Operation.Get, [uidItem(uid)]));
  const km = find(find(find(find(p, Tag.SecretData) as TtlvStructure, Tag.KeyBlock) as TtlvStructure, Tag.KeyValue) as TtlvStructure, Tag.KeyMaterial);
  if (km?.type !== ItemType.ByteString) throw new Error('no key material');
  return Buffer.from(km.value);
}

async function links(v: ProtocolVersion, uid: string): Promise<{ type: unknown; uid: unknown }[]> {
  return (await attributeValues(h, v, uid, 'Link', Tag.Link)).map((l) => ({
    type: find(l as TtlvStructure, Tag.LinkType)?.value,
    uid: find(l as TtlvStructure, Tag.LinkedObjectIdentifier)?.value,
  }));
}

describe.each(VERSIONS)('KMIP %s Derive Key', (_label, v) => {
  test('PBKDF2 (HMAC-SHA-256) from a password held as Secret Data gives an AES key; links point both ways', async () => {
    const password = Buffer.from('correct horse battery staple');
    const pw = await registerSecret(v, password, SecretDataType.Password);
    const salt = Buffer.from('NaCl-and-pepper');
    const uid = await derive(v, ObjectType.SymmetricKey, [pw], DerivationMethod.PBKDF2, [
      cp([ttlv.enumeration(Tag.HashingAlgorithm, HashingAlgorithm.SHA_256)]),
      ttlv.byteString(Tag.Salt, salt),
      ttlv.integer(Tag.IterationCount, 1000),
    ], aes(256));
    expect((await getKeyBytes(h, v, uid)).equals(pbkdf2Sync(password, salt, 1000, 32, 'sha256'))).toBe(true);
    expect(await links(v, uid)).toEqual([{ type: LinkType.DerivationBaseObjectLink, uid: pw }]);
    expect(await links(v, pw)).toEqual([{ type: LinkType.DerivedKeyLink, uid }]);
  });

  test('HMAC: the derivation key\'s HMAC-SHA-512 over the Derivation Data, as 64 bytes of Secret Data', async () => {
    const key = Buffer.alloc(64, 0x21);
    const k = await registerSymmetric(v, key, CryptographicAlgorithm.HMAC_SHA512);
    const info = Buffer.from('session keys, context 7');
    const uid = await derive(v, ObjectType.SecretData, [k], DerivationMethod.HMAC, [ttlv.byteString(Tag.DerivationData, info)], secretLength(512));
    expect((await secretBytes(v, uid)).equals(createHmac('sha512', key).update(info).digest())).toBe(true);
  });

  test('HASH: SHA-256 of the derivation data a second Secret Data object supplies, truncated to a 128-bit key', async () => {
    const base = await registerSymmetric(v, Buffer.alloc(32, 3), CryptographicAlgorithm.AES);
    const dataBytes = Buffer.from('derivation data held by the server');
    const dataObj = await registerSecret(v, dataBytes, SecretDataType.Seed);
    const uid = await derive(v, ObjectType.SymmetricKey, [base, dataObj], DerivationMethod.HASH, [cp([ttlv.enumeration(Tag.HashingAlgorithm, HashingAlgorithm.SHA_256)])], aes(128));
    expect((await getKeyBytes(h, v, uid)).equals(createHash('sha256').update(dataBytes).digest().subarray(0, 16))).toBe(true);
    expect((await links(v, uid)).map((l) => l.uid).sort()).toEqual([base, dataObj].sort());
  });

  test('ENCRYPT: AES-256-CBC of the derivation data under the key, with the IV given', async () => {
    const key = Buffer.alloc(32, 0x7e);
    const k = await registerSymmetric(v, key, CryptographicAlgorithm.AES);
    const iv = Buffer.alloc(16, 1);
    const input = Buffer.alloc(32, 0x44);
    const uid = await derive(v, ObjectType.SymmetricKey, [k], DerivationMethod.ENCRYPT, [
      cp([ttlv.enumeration(Tag.BlockCipherMode, BlockCipherMode.CBC), ttlv.enumeration(Tag.PaddingMethod, PaddingMethod.None)]),
      ttlv.byteString(Tag.InitializationVector, iv),
      ttlv.byteString(Tag.DerivationData, input),
    ], aes(256));
    const c = createCipheriv('aes-256-cbc', key, iv).setAutoPadding(false);
    expect((await getKeyBytes(h, v, uid)).equals(Buffer.concat([c.update(input), c.final()]))).toBe(true);
  });

  test('the ID Placeholder names the derived key (Get in the same batch)', async () => {
    const k = await registerSymmetric(v, Buffer.alloc(32, 9), CryptographicAlgorithm.HMAC_SHA256);
    const r = await h.batch(v, [
      { operation: Operation.DeriveKey, payload: derivePayload(v, ObjectType.SymmetricKey, [k], DerivationMethod.HMAC, [ttlv.byteString(Tag.DerivationData, Buffer.from('x'))], aes(128)) },
      { operation: Operation.Get, payload: [] },
    ]);
    expect(find(r.items[1]!.payload!, Tag.UniqueIdentifier)?.value).toBe(find(r.items[0]!.payload!, Tag.UniqueIdentifier)?.value);
  });

  test('a key without the Derive Key bit is refused', async () => {
    const k = await registerSymmetric(v, Buffer.alloc(32, 1), CryptographicAlgorithm.HMAC_SHA256, [mask(CryptographicUsageMask.MACGenerate), active()]);
    const r = await h.send(v, Operation.DeriveKey, derivePayload(v, ObjectType.SymmetricKey, [k], DerivationMethod.HMAC, [ttlv.byteString(Tag.DerivationData, Buffer.from('x'))], aes(128)));
    expect(failure(r)).toBe(v.major >= 2 ? ResultReason.IncompatibleCryptographicUsageMask : ResultReason.InvalidField);
  });

  test('a length beyond the method\'s output is Cryptographic Failure', async () => {
    const k = await registerSymmetric(v, Buffer.alloc(32, 1), CryptographicAlgorithm.HMAC_SHA256);
    const r = await h.send(v, Operation.DeriveKey, derivePayload(v, ObjectType.SecretData, [k], DerivationMethod.HMAC, [ttlv.byteString(Tag.DerivationData, Buffer.from('x'))], secretLength(512)));
    expect(failure(r)).toBe(ResultReason.CryptographicFailure);
  });

  test('derivation data given twice (field and Secret Data object) is Invalid Message', async () => {
    const base = await registerSymmetric(v, Buffer.alloc(32, 3), CryptographicAlgorithm.HMAC_SHA256);
    const dataObj = await registerSecret(v, Buffer.from('d'), SecretDataType.Seed);
    const r = await h.send(v, Operation.DeriveKey, derivePayload(v, ObjectType.SymmetricKey, [base, dataObj], DerivationMethod.HMAC, [ttlv.byteString(Tag.DerivationData, Buffer.from('x'))], aes(128)));
    expect(failure(r)).toBe(ResultReason.InvalidMessage);
  });

  test('a Pre-Active key derives (the spec names no state; PyKMIP registers and derives at once); a Deactivated one does not; another client\'s key is not found', async () => {
    const material = Buffer.alloc(32, 5);
    const pre = await registerSymmetric(v, material, CryptographicAlgorithm.HMAC_SHA256, [mask(DERIVE)]);
    const dp = [ttlv.byteString(Tag.DerivationData, Buffer.from('x'))];
    const ok = await h.send(v, Operation.DeriveKey, derivePayload(v, ObjectType.SymmetricKey, [pre], DerivationMethod.HMAC, dp, aes(128)));
    const derived = textOf(successPayload(ok), Tag.UniqueIdentifier)!;
    expect(await getKeyBytes(h, v, derived)).toEqual(createHmac('sha256', material).update('x').digest().subarray(0, 16));
    const old = await registerSymmetric(v, Buffer.alloc(32, 7), CryptographicAlgorithm.HMAC_SHA256);
    const reason = ttlv.structure(Tag.RevocationReason, [ttlv.enumeration(Tag.RevocationReasonCode, RevocationReasonCode.CessationOfOperation)]);
    successPayload(await h.send(v, Operation.Revoke, [uidItem(old), reason]));
    const r = await h.send(v, Operation.DeriveKey, derivePayload(v, ObjectType.SymmetricKey, [old], DerivationMethod.HMAC, dp, aes(128)));
    expect(failure(r)).toBe(v.major >= 2 ? ResultReason.WrongKeyLifecycleState : ResultReason.PermissionDenied);
    const k = await registerSymmetric(v, Buffer.alloc(32, 6), CryptographicAlgorithm.HMAC_SHA256);
    const m = await h.send(v, Operation.DeriveKey, derivePayload(v, ObjectType.SymmetricKey, [k], DerivationMethod.HMAC, dp, aes(128)), { name: 'mallory', isAdmin: false });
    expect(failure(m)).toBe(v.major >= 2 ? ResultReason.ObjectNotFound : ResultReason.ItemNotFound);
  });

  test('a symmetric key needs its algorithm; Derive Key never uses the ID Placeholder', async () => {
    const k = await registerSymmetric(v, Buffer.alloc(32, 1), CryptographicAlgorithm.HMAC_SHA256);
    const dp = [ttlv.byteString(Tag.DerivationData, Buffer.from('x'))];
    expect(failure(await h.send(v, Operation.DeriveKey, derivePayload(v, ObjectType.SymmetricKey, [k], DerivationMethod.HMAC, dp, secretLength(128))))).toBe(ResultReason.MissingData);
    expect(failure(await h.send(v, Operation.DeriveKey, derivePayload(v, ObjectType.SymmetricKey, [], DerivationMethod.HMAC, dp, aes(128))))).toBe(ResultReason.MissingData);
  });
});
