/**
 * The edges of the multi-part flow the other stream tests leave out, pinned before the seven
 * operations moved onto one flow: the response fields and their order at each part, the request
 * errors (Init with a Correlation Value, Data missing, Digested Data in 1.3, the value to check
 * missing), a stream's binding to its direction, the key gate at every part, Usage Limits per
 * operation, and the ways Encrypt and Decrypt's parts differ from the others' (a later part answers
 * without the Correlation Value; Init with a Correlation Value continues; a part refused by Usage
 * Limits leaves the stream open). Real SQLite file and SoftHSM2 token, KMIP 1.4 and 2.1.
 */
import { createCipheriv, createHash, createHmac, generateKeyPairSync } from 'node:crypto';
import { ttlv, type TtlvItem, type TtlvStructure } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import {
  BlockCipherMode,
  CryptographicAlgorithm,
  CryptographicUsageMask,
  HashingAlgorithm,
  KeyFormatType,
  ObjectType,
  Operation,
  PaddingMethod,
  ResultReason,
  RevocationReasonCode,
  UsageLimitsUnit,
  ValidityIndicator,
} from '../../../src/spec/generated/enums';
import type { KmipAttribute } from '../../../src/kmip/attributes';
import type { ProtocolVersion } from '../../../src/spec/versions';
import { VERSIONS, activeSince, bytesOf, corr, data, enumOf, fails, final, init, maskAttr, nameAttr, ok, params, rawBlock, registerKey, uidItem, unknownReason, useHarness } from './harness';
import { LEGACY_CRYPTO_POLICY } from '../../../src/crypto/policy-profiles';

// The empty-message edge is shown with AES-ECB and no padding, which the default profile refuses for Encrypt.
const h = useHarness({ crypto: LEGACY_CRYPTO_POLICY });

const tagsOf = (s: TtlvStructure): number[] => s.value.map((i) => i.tag);
const limits = (bytes: bigint): KmipAttribute => ({
  name: 'Usage Limits',
  value: ttlv.structure(Tag.UsageLimits, [ttlv.longInteger(Tag.UsageLimitsTotal, bytes), ttlv.enumeration(Tag.UsageLimitsUnit, UsageLimitsUnit.Byte)]),
});

const AES_KEY = Buffer.alloc(16, 0x42);
const IV = Buffer.alloc(16, 0x07);
const PLAIN = Buffer.from(Array.from({ length: 48 }, (_, i) => i));

describe.each(VERSIONS)('KMIP %s Encrypt and Decrypt in parts', (_label, v) => {
  const aesKey = (extra: KmipAttribute[] = []) =>
    registerKey(h, v, ObjectType.SymmetricKey, rawBlock(KeyFormatType.Raw, AES_KEY, CryptographicAlgorithm.AES, 128), [
      maskAttr(CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt),
      activeSince(),
      nameAttr('edges'),
      ...extra,
    ]);
  const cbc = params({ mode: BlockCipherMode.CBC, padding: PaddingMethod.None });
  const iv = ttlv.byteString(Tag.IVCounterNonce, IV);

  test('AES-CBC decrypt in three parts; response fields at each part; a later part carries no Correlation Value', async () => {
    const uid = await aesKey();
    const ct = createCipheriv('aes-128-cbc', AES_KEY, IV).setAutoPadding(false).update(PLAIN);
    const first = await ok(h, v, Operation.Decrypt, [uidItem(uid), cbc, iv, data(ct.subarray(0, 16)), init]);
    expect(tagsOf(first)).toEqual([Tag.UniqueIdentifier, Tag.Data, Tag.CorrelationValue]);
    const c = bytesOf(first, Tag.CorrelationValue);
    const mid = await ok(h, v, Operation.Decrypt, [uidItem(uid), data(ct.subarray(16, 32)), corr(c)]);
    expect(tagsOf(mid)).toEqual([Tag.UniqueIdentifier, Tag.Data]);
    const last = await ok(h, v, Operation.Decrypt, [uidItem(uid), data(ct.subarray(32)), corr(c), final]);
    expect(tagsOf(last)).toEqual([Tag.UniqueIdentifier, Tag.Data]);
    expect(Buffer.concat([bytesOf(first, Tag.Data), bytesOf(mid, Tag.Data), bytesOf(last, Tag.Data)]).equals(PLAIN)).toBe(true);
    await fails(h, v, Operation.Decrypt, [uidItem(uid), data(ct.subarray(0, 16)), corr(c), final], unknownReason(v));
  });

  test('a server-made IV comes with the first part, before the Correlation Value; an AEAD tag with the final part', async () => {
    const uid = await aesKey();
    const first = await ok(h, v, Operation.Encrypt, [uidItem(uid), params({ mode: BlockCipherMode.CBC, padding: PaddingMethod.PKCS5, randomIV: true }), data(PLAIN.subarray(0, 20)), init]);
    expect(tagsOf(first)).toEqual([Tag.UniqueIdentifier, Tag.Data, Tag.IVCounterNonce, Tag.CorrelationValue]);
    const gcm = params({ mode: BlockCipherMode.GCM, tagLength: 16 });
    const nonce = ttlv.byteString(Tag.IVCounterNonce, Buffer.alloc(12, 1));
    const start = await ok(h, v, Operation.Encrypt, [uidItem(uid), gcm, nonce, data(PLAIN.subarray(0, 20)), init]);
    const c = bytesOf(start, Tag.CorrelationValue);
    const end = await ok(h, v, Operation.Encrypt, [uidItem(uid), data(PLAIN.subarray(20)), corr(c), final]);
    expect(tagsOf(end)).toEqual([Tag.UniqueIdentifier, Tag.Data, Tag.AuthenticatedEncryptionTag]);
    const ct = Buffer.concat([bytesOf(start, Tag.Data), bytesOf(end, Tag.Data)]);
    const tag = bytesOf(end, Tag.AuthenticatedEncryptionTag);

    // Decrypted in parts, the tag checked at the final part; a wrong tag fails there and ends the stream.
    const d1 = await ok(h, v, Operation.Decrypt, [uidItem(uid), gcm, nonce, data(ct.subarray(0, 30)), init]);
    const dc = bytesOf(d1, Tag.CorrelationValue);
    const d2 = await ok(h, v, Operation.Decrypt, [uidItem(uid), data(ct.subarray(30)), corr(dc), ttlv.byteString(Tag.AuthenticatedEncryptionTag, tag), final]);
    expect(Buffer.concat([bytesOf(d1, Tag.Data), bytesOf(d2, Tag.Data)]).equals(PLAIN)).toBe(true);
    const b1 = await ok(h, v, Operation.Decrypt, [uidItem(uid), gcm, nonce, data(ct.subarray(0, 30)), init]);
    const bc = bytesOf(b1, Tag.CorrelationValue);
    const bad = Buffer.from(tag);
    bad[0] = (bad[0] as number) ^ 1;
    await fails(h, v, Operation.Decrypt, [uidItem(uid), data(ct.subarray(30)), corr(bc), ttlv.byteString(Tag.AuthenticatedEncryptionTag, bad), final], ResultReason.CryptographicFailure);
    await fails(h, v, Operation.Decrypt, [uidItem(uid), data(ct.subarray(30)), corr(bc), final], unknownReason(v));
  });

  test('the whole-message length rule is checked at the final part, which ends the stream', async () => {
    const uid = await aesKey();
    const c = bytesOf(await ok(h, v, Operation.Encrypt, [uidItem(uid), cbc, iv, data(PLAIN.subarray(0, 16)), init]), Tag.CorrelationValue);
    expect(await fails(h, v, Operation.Encrypt, [uidItem(uid), data(PLAIN.subarray(0, 5)), corr(c), final], ResultReason.InvalidField)).toMatch(/multiple of 16 bytes/);
    await fails(h, v, Operation.Encrypt, [uidItem(uid), data(PLAIN.subarray(0, 11)), corr(c), final], unknownReason(v));
  });

  test('a stream belongs to its direction; an unknown Correlation Value names the operation', async () => {
    const uid = await aesKey();
    const c = bytesOf(await ok(h, v, Operation.Encrypt, [uidItem(uid), cbc, iv, data(PLAIN.subarray(0, 16)), init]), Tag.CorrelationValue);
    expect(await fails(h, v, Operation.Decrypt, [uidItem(uid), data(PLAIN.subarray(0, 16)), corr(c), final], unknownReason(v))).toBe(
      'Decrypt: no operation in progress has this Correlation Value',
    );
    await ok(h, v, Operation.Encrypt, [uidItem(uid), data(PLAIN.subarray(0, 16)), corr(c), final]);
  });

  test('Init Indicator with a Correlation Value continues the stream (Encrypt and Decrypt only)', async () => {
    const uid = await aesKey();
    const first = await ok(h, v, Operation.Encrypt, [uidItem(uid), cbc, iv, data(PLAIN.subarray(0, 16)), init]);
    const c = bytesOf(first, Tag.CorrelationValue);
    const mid = await ok(h, v, Operation.Encrypt, [uidItem(uid), data(PLAIN.subarray(16, 32)), corr(c), init]);
    const last = await ok(h, v, Operation.Encrypt, [uidItem(uid), data(PLAIN.subarray(32)), corr(c), final]);
    const expected = createCipheriv('aes-128-cbc', AES_KEY, IV).setAutoPadding(false).update(PLAIN);
    expect(Buffer.concat([bytesOf(first, Tag.Data), bytesOf(mid, Tag.Data), bytesOf(last, Tag.Data)]).equals(expected)).toBe(true);
  });

  test('no Data is an empty message, not Missing Data', async () => {
    const uid = await aesKey();
    const r = await ok(h, v, Operation.Encrypt, [uidItem(uid), params({ mode: BlockCipherMode.ECB, padding: PaddingMethod.None })]);
    expect(tagsOf(r)).toEqual([Tag.UniqueIdentifier, Tag.Data]);
    expect(bytesOf(r, Tag.Data).length).toBe(0);
  });

  test('Usage Limits count every Encrypt part (not Decrypt); a refused part leaves the stream open', async () => {
    const uid = await aesKey([limits(40n)]);
    const c = bytesOf(await ok(h, v, Operation.Encrypt, [uidItem(uid), cbc, iv, data(PLAIN.subarray(0, 32)), init]), Tag.CorrelationValue);
    await fails(h, v, Operation.Encrypt, [uidItem(uid), data(PLAIN.subarray(32)), corr(c)], ResultReason.PermissionDenied);
    // The refused part's data is in the cipher already; the stream goes on from there.
    await ok(h, v, Operation.Encrypt, [uidItem(uid), data(Buffer.alloc(0)), corr(c), final]);
    const dc = bytesOf(await ok(h, v, Operation.Decrypt, [uidItem(uid), cbc, iv, data(PLAIN.subarray(0, 32)), init]), Tag.CorrelationValue);
    await ok(h, v, Operation.Decrypt, [uidItem(uid), data(PLAIN.subarray(0, 32)), corr(dc), final]);
    await fails(h, v, Operation.Encrypt, [uidItem(uid), cbc, iv, data(PLAIN.subarray(0, 16))], ResultReason.PermissionDenied);
  });

  test('RSA encrypts in one request only: Init Indicator or Correlation Value is Feature Not Supported', async () => {
    const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const uid = await registerKey(h, v, ObjectType.PublicKey, rawBlock(KeyFormatType.X_509, pair.publicKey.export({ type: 'spki', format: 'der' }), CryptographicAlgorithm.RSA, 2048), [
      maskAttr(CryptographicUsageMask.Encrypt),
      activeSince(),
      nameAttr('rsa'),
    ]);
    const oaep = params({ padding: PaddingMethod.OAEP, hash: HashingAlgorithm.SHA_256 });
    expect(await fails(h, v, Operation.Encrypt, [uidItem(uid), oaep, data(PLAIN), init, final], ResultReason.FeatureNotSupported)).toMatch(/not offered in parts/);
    await fails(h, v, Operation.Encrypt, [uidItem(uid), oaep, data(PLAIN), corr(Buffer.alloc(16))], ResultReason.FeatureNotSupported);
    expect(tagsOf(await ok(h, v, Operation.Encrypt, [uidItem(uid), oaep, data(PLAIN), ttlv.boolean(Tag.InitIndicator, false)]))).toEqual([Tag.UniqueIdentifier, Tag.Data]);
  });
});

describe.each(VERSIONS)('KMIP %s Sign, Signature Verify, MAC, MAC Verify and Hash: request errors and the gate', (_label, v) => {
  const macKey = (extra: KmipAttribute[] = []) =>
    registerKey(h, v, ObjectType.SymmetricKey, rawBlock(KeyFormatType.Raw, Buffer.alloc(32, 9), CryptographicAlgorithm.HMAC_SHA256, 256), [
      maskAttr(CryptographicUsageMask.MACGenerate | CryptographicUsageMask.MACVerify),
      activeSince(),
      nameAttr('mac'),
      ...extra,
    ]);
  const ecPair = async () => {
    const pair = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const priv = await registerKey(h, v, ObjectType.PrivateKey, rawBlock(KeyFormatType.PKCS_8, pair.privateKey.export({ type: 'pkcs8', format: 'der' }), CryptographicAlgorithm.EC, 256), [
      maskAttr(CryptographicUsageMask.Sign),
      activeSince(),
      nameAttr('ec'),
    ]);
    const pub = await registerKey(h, v, ObjectType.PublicKey, rawBlock(KeyFormatType.X_509, pair.publicKey.export({ type: 'spki', format: 'der' }), CryptographicAlgorithm.EC, 256), [
      maskAttr(CryptographicUsageMask.Verify),
      activeSince(),
      nameAttr('ec'),
    ]);
    return { priv, pub };
  };
  const sha256 = params({ hash: HashingAlgorithm.SHA_256 });

  test('Init Indicator with a Correlation Value is Invalid Field', async () => {
    const mac = await macKey();
    const { priv, pub } = await ecPair();
    const cases: [number, TtlvItem[], string][] = [
      [Operation.Sign, [uidItem(priv)], 'Sign'],
      [Operation.SignatureVerify, [uidItem(pub)], 'Signature Verify'],
      [Operation.MAC, [uidItem(mac)], 'MAC'],
      [Operation.MACVerify, [uidItem(mac)], 'MAC Verify'],
      [Operation.Hash, [sha256], 'Hash'],
    ];
    for (const [operation, head, name] of cases) {
      expect(await fails(h, v, operation, [...head, data(PLAIN), corr(Buffer.alloc(16)), init], ResultReason.InvalidField)).toBe(
        `${name}: a part with a Correlation Value continues a stream and cannot also start one (Init Indicator)`,
      );
    }
  });

  test('a single call without Data is Missing Data, in words of the operation', async () => {
    const mac = await macKey();
    const { priv, pub } = await ecPair();
    const cases: [number, TtlvItem[], string][] = [
      [Operation.Sign, [uidItem(priv)], 'Sign needs the Data to sign'],
      [Operation.SignatureVerify, [uidItem(pub), ttlv.byteString(Tag.SignatureData, Buffer.alloc(64))], 'Signature Verify needs the Data'],
      [Operation.MAC, [uidItem(mac)], 'MAC needs the Data'],
      [Operation.MACVerify, [uidItem(mac), ttlv.byteString(Tag.MACData, Buffer.alloc(32))], 'MAC Verify needs the Data'],
      [Operation.Hash, [sha256], 'Hash needs the Data'],
    ];
    for (const [operation, head, message] of cases) {
      expect(await fails(h, v, operation, head, ResultReason.MissingData)).toBe(message);
      expect(await fails(h, v, operation, [...head, init, final], ResultReason.MissingData)).toBe(message);
    }
    // A first part without Data starts the stream over nothing yet.
    expect(tagsOf(await ok(h, v, Operation.Sign, [uidItem(priv), init]))).toEqual([Tag.UniqueIdentifier, Tag.CorrelationValue]);
  });

  test('response fields at each part', async () => {
    const mac = await macKey();
    const { priv, pub } = await ecPair();
    const cases: [number, TtlvItem[], number[]][] = [
      [Operation.Sign, [uidItem(priv)], [Tag.UniqueIdentifier, Tag.SignatureData]],
      [Operation.MAC, [uidItem(mac)], [Tag.UniqueIdentifier, Tag.MACData]],
      [Operation.MACVerify, [uidItem(mac), ttlv.byteString(Tag.MACData, Buffer.alloc(32))], [Tag.UniqueIdentifier, Tag.ValidityIndicator]],
      [Operation.SignatureVerify, [uidItem(pub), ttlv.byteString(Tag.SignatureData, Buffer.alloc(64))], [Tag.UniqueIdentifier, Tag.ValidityIndicator]],
      [Operation.Hash, [sha256], [Tag.Data]],
    ];
    for (const [operation, head, last] of cases) {
      const hasKey = operation !== Operation.Hash;
      const lead = hasKey ? [Tag.UniqueIdentifier] : [];
      const keyPart = head.filter((i) => i.tag === Tag.UniqueIdentifier);
      const first = await ok(h, v, operation, [...head, data(PLAIN), init]);
      expect(tagsOf(first)).toEqual([...lead, Tag.CorrelationValue]);
      const c = bytesOf(first, Tag.CorrelationValue);
      const mid = await ok(h, v, operation, [...keyPart, data(PLAIN), corr(c)]);
      expect(tagsOf(mid)).toEqual([...lead, Tag.CorrelationValue]);
      expect(bytesOf(mid, Tag.CorrelationValue).equals(c)).toBe(true);
      expect(tagsOf(await ok(h, v, operation, [...keyPart, data(PLAIN), corr(c), final]))).toEqual(last);
      expect(tagsOf(await ok(h, v, operation, [...head, data(PLAIN)]))).toEqual(last);
    }
  });

  test('Hash: a later part continues with the first part\'s algorithm; a first part without one is Missing Data', async () => {
    const c = bytesOf(await ok(h, v, Operation.Hash, [params({ hash: HashingAlgorithm.SHA_512 }), data(PLAIN.subarray(0, 10)), init]), Tag.CorrelationValue);
    const r = await ok(h, v, Operation.Hash, [sha256, data(PLAIN.subarray(10)), corr(c), final]);
    expect(bytesOf(r, Tag.Data).equals(createHash('sha512').update(PLAIN).digest())).toBe(true);
    expect(await fails(h, v, Operation.Hash, [params({}), data(PLAIN), init], ResultReason.MissingData)).toMatch(/Hashing Algorithm/);
  });

  test('Signature Verify in parts without Signature Data at either end: Missing Data, and the stream is over', async () => {
    const { pub } = await ecPair();
    const c = bytesOf(await ok(h, v, Operation.SignatureVerify, [uidItem(pub), sha256, data(PLAIN), init]), Tag.CorrelationValue);
    expect(await fails(h, v, Operation.SignatureVerify, [uidItem(pub), data(PLAIN), corr(c), final], ResultReason.MissingData)).toBe(
      'Signature Data is required, with the first or the final part',
    );
    await fails(h, v, Operation.SignatureVerify, [uidItem(pub), data(PLAIN), ttlv.byteString(Tag.SignatureData, Buffer.alloc(64)), corr(c), final], unknownReason(v));
  });

  test('a Sign stream is not a Signature Verify stream, nor a MAC stream a MAC Verify one', async () => {
    const mac = await macKey();
    const c = bytesOf(await ok(h, v, Operation.MAC, [uidItem(mac), data(PLAIN), init]), Tag.CorrelationValue);
    expect(await fails(h, v, Operation.MACVerify, [uidItem(mac), data(PLAIN), ttlv.byteString(Tag.MACData, Buffer.alloc(32)), corr(c), final], unknownReason(v))).toBe(
      'MAC Verify: no operation in progress has this Correlation Value',
    );
    const whole = bytesOf(await ok(h, v, Operation.MAC, [uidItem(mac), data(Buffer.concat([PLAIN, PLAIN]))]), Tag.MACData);
    expect(bytesOf(await ok(h, v, Operation.MAC, [uidItem(mac), data(PLAIN), corr(c), final]), Tag.MACData).equals(whole)).toBe(true);
    expect(whole.equals(createHmac('sha256', Buffer.alloc(32, 9)).update(Buffer.concat([PLAIN, PLAIN])).digest())).toBe(true);
  });

  test('every part passes the key gate: a key revoked mid-stream stops MAC, not MAC Verify', async () => {
    const mac = await macKey();
    const m = bytesOf(await ok(h, v, Operation.MAC, [uidItem(mac), data(PLAIN), init]), Tag.CorrelationValue);
    const given = createHmac('sha256', Buffer.alloc(32, 9)).update(Buffer.concat([PLAIN, PLAIN])).digest();
    const mv = bytesOf(await ok(h, v, Operation.MACVerify, [uidItem(mac), data(PLAIN), init]), Tag.CorrelationValue);
    await ok(h, v, Operation.Revoke, [uidItem(mac), ttlv.structure(Tag.RevocationReason, [ttlv.enumeration(Tag.RevocationReasonCode, RevocationReasonCode.CessationOfOperation)])]);
    // Wrong Key Lifecycle State is a 2.x reason; 1.x has Permission Denied for it.
    await fails(h, v, Operation.MAC, [uidItem(mac), data(PLAIN), corr(m), final], v.major >= 2 ? ResultReason.WrongKeyLifecycleState : ResultReason.PermissionDenied);
    const r = await ok(h, v, Operation.MACVerify, [uidItem(mac), data(PLAIN), ttlv.byteString(Tag.MACData, given), corr(mv), final]);
    expect(enumOf(r, Tag.ValidityIndicator)).toBe(ValidityIndicator.Valid);
  });

  test('Usage Limits: a refused MAC part ends its stream; MAC Verify counts nothing', async () => {
    const mac = await macKey([limits(60n)]);
    const c = bytesOf(await ok(h, v, Operation.MAC, [uidItem(mac), data(PLAIN), init]), Tag.CorrelationValue);
    await fails(h, v, Operation.MAC, [uidItem(mac), data(PLAIN), corr(c)], ResultReason.PermissionDenied);
    await fails(h, v, Operation.MAC, [uidItem(mac), data(Buffer.alloc(1)), corr(c), final], unknownReason(v));
    const given = createHmac('sha256', Buffer.alloc(32, 9)).update(Buffer.concat([PLAIN, PLAIN, PLAIN])).digest();
    const mv = bytesOf(await ok(h, v, Operation.MACVerify, [uidItem(mac), data(PLAIN), ttlv.byteString(Tag.MACData, given), init]), Tag.CorrelationValue);
    await ok(h, v, Operation.MACVerify, [uidItem(mac), data(PLAIN), corr(mv)]);
    expect(enumOf(await ok(h, v, Operation.MACVerify, [uidItem(mac), data(PLAIN), corr(mv), final]), Tag.ValidityIndicator)).toBe(ValidityIndicator.Valid);
    // 12 bytes are left of the 60: a 13-byte MAC is refused, a 12-byte one passes.
    await fails(h, v, Operation.MAC, [uidItem(mac), data(Buffer.alloc(13))], ResultReason.PermissionDenied);
    await ok(h, v, Operation.MAC, [uidItem(mac), data(Buffer.alloc(12))]);
  });
});

describe('KMIP 1.3', () => {
  const v13: ProtocolVersion = { major: 1, minor: 3 };
  test('Digested Data is a 1.4 field', async () => {
    const pair = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const priv = await registerKey(h, v13, ObjectType.PrivateKey, rawBlock(KeyFormatType.PKCS_8, pair.privateKey.export({ type: 'pkcs8', format: 'der' }), CryptographicAlgorithm.EC, 256), [
      maskAttr(CryptographicUsageMask.Sign),
      activeSince(),
      nameAttr('ec13'),
    ]);
    const digest = ttlv.byteString(Tag.DigestedData, createHash('sha256').update(PLAIN).digest());
    expect(await fails(h, v13, Operation.Sign, [uidItem(priv), digest], ResultReason.InvalidField)).toBe('Sign: Digested Data is a KMIP 1.4 field');
    // Parts work in 1.3; an unknown Correlation Value is Item Not Found there.
    const c = bytesOf(await ok(h, v13, Operation.Sign, [uidItem(priv), data(PLAIN), init]), Tag.CorrelationValue);
    await ok(h, v13, Operation.Sign, [uidItem(priv), data(PLAIN), corr(c), final]);
    await fails(h, v13, Operation.Sign, [uidItem(priv), data(PLAIN), corr(c), final], ResultReason.ItemNotFound);
  });
});
