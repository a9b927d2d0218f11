/**
 * MAC / MAC Verify (HMAC, CMAC), Hash, RNG Retrieve and RNG Seed through handleMessage, in KMIP
 * 1.4 and 2.1, against RFC 4231 / RFC 2202 / RFC 4493 / SP 800-38B vectors and the OASIS values.
 */
import { ttlv } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import {
  BlockCipherMode,
  CryptographicAlgorithm,
  CryptographicUsageMask,
  HashingAlgorithm,
  KeyFormatType,
  ObjectType,
  Operation,
  ResultReason,
  ValidityIndicator,
} from '../../../src/spec/generated/enums';
import type { ProtocolVersion } from '../../../src/spec/versions';
import { find } from '../../helpers/kmip-client';
import {
  VERSIONS,
  activeSince,
  bytesOf,
  cryptoParamsAttr,
  data,
  enumOf,
  fails,
  hex,
  maskAttr,
  nameAttr,
  ok,
  params,
  rawBlock,
  registerKey,
  uidItem,
  useHarness,
} from './harness';
import { LEGACY_CRYPTO_POLICY } from '../../../src/crypto/policy-profiles';

// Published vectors (OASIS 3DES/ECB values, RFC 2202/4231 short HMAC keys) need the legacy profile.
const h = useHarness({ crypto: LEGACY_CRYPTO_POLICY });
const MAC_BOTH = CryptographicUsageMask.MACGenerate | CryptographicUsageMask.MACVerify;
const JEFE = Buffer.from('Jefe');
const WANT = Buffer.from('what do ya want for nothing?');

async function macKey(v: ProtocolVersion, key: Buffer, algorithm: number, mask = MAC_BOTH, extra = [] as ReturnType<typeof cryptoParamsAttr>[]): Promise<string> {
  return registerKey(h, v, ObjectType.SymmetricKey, rawBlock(KeyFormatType.Raw, key, algorithm, key.length * 8), [maskAttr(mask), activeSince(), nameAttr('mac'), ...extra]);
}

async function mac(v: ProtocolVersion, uid: string, msg: Buffer, p?: ReturnType<typeof params>): Promise<Buffer> {
  const r = await ok(h, v, Operation.MAC, p ? [uidItem(uid), p, data(msg)] : [uidItem(uid), data(msg)]);
  return bytesOf(r, Tag.MACData);
}

async function macVerify(v: ProtocolVersion, uid: string, msg: Buffer, tag: Buffer, p?: ReturnType<typeof params>): Promise<number | undefined> {
  const payload = [uidItem(uid), ...(p ? [p] : []), data(msg), ttlv.byteString(Tag.MACData, tag)];
  return enumOf(await ok(h, v, Operation.MACVerify, payload), Tag.ValidityIndicator);
}

describe.each(VERSIONS)('KMIP %s MAC', (_label, v) => {
  test.each([
    [CryptographicAlgorithm.HMAC_SHA1, 'effcdf6ae5eb2fa2d27416d5f184df9c259a7c79'],
    [CryptographicAlgorithm.HMAC_SHA224, 'a30e01098bc6dbbf45690f3a7e9e6d0f8bbea2a39e6148008fd05e44'],
    [CryptographicAlgorithm.HMAC_SHA256, '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843'],
    [CryptographicAlgorithm.HMAC_SHA384, 'af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649'],
    [
      CryptographicAlgorithm.HMAC_SHA512,
      '164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737',
    ],
  ])('HMAC algorithm %i: RFC 4231 / 2202 test case 2, verified both ways', async (algorithm, expected) => {
    const uid = await macKey(v, JEFE, algorithm);
    const m = await mac(v, uid, WANT);
    expect(m.toString('hex')).toBe(expected);
    expect(await macVerify(v, uid, WANT, m)).toBe(ValidityIndicator.Valid);
    const wrong = Buffer.from(m);
    wrong[0] = (wrong[0] ?? 0) ^ 1;
    expect(await macVerify(v, uid, WANT, wrong)).toBe(ValidityIndicator.Invalid);
    expect(await macVerify(v, uid, WANT, m.subarray(0, 10))).toBe(ValidityIndicator.Invalid);
  });

  test('HMAC-SHA256 from the key attribute on an AES key (OASIS CS-AC-M-4 value)', async () => {
    const uid = await macKey(v, hex('0123456789abcdef0123456789abcdef'), CryptographicAlgorithm.AES, MAC_BOTH, [
      cryptoParamsAttr(params({ alg: CryptographicAlgorithm.HMAC_SHA256 })),
    ]);
    expect((await mac(v, uid, hex('01020304050607080910111213141516'))).toString('hex')).toBe(
      'c911e78196d64c30f631bb079ea37b97a95936d4da764d6a171df030c895ecf9',
    );
  });

  test('AES-CMAC: RFC 4493 examples 1-3; 3DES-CMAC: SP 800-38B', async () => {
    const uid = await macKey(v, hex('2b7e151628aed2a6abf7158809cf4f3c'), CryptographicAlgorithm.AES);
    const p = params({ mode: BlockCipherMode.CMAC });
    expect((await mac(v, uid, Buffer.alloc(0), p)).toString('hex')).toBe('bb1d6929e95937287fa37d129b756746');
    expect((await mac(v, uid, hex('6bc1bee22e409f96e93d7e117393172a'), p)).toString('hex')).toBe('070a16b46b4d4144f79bdd9dd04a287c');
    const m3 = hex('6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411');
    expect((await mac(v, uid, m3, p)).toString('hex')).toBe('dfa66747de9ae63030ca32611497c827');
    // No parameters: an AES key MACs by CMAC.
    expect(await macVerify(v, uid, m3, hex('dfa66747de9ae63030ca32611497c827'))).toBe(ValidityIndicator.Valid);
    const tdes = await macKey(v, hex('8aa83bf8cbda10620bc1bf19fbb6cd58bc313d4a371ca8b5'), CryptographicAlgorithm.DES3);
    expect((await mac(v, tdes, hex('6bc1bee22e409f96'), p)).toString('hex')).toBe('8e8f293136283797');
  });

  test('refusals: usage mask, an algorithm that is no MAC, a Pre-Active key', async () => {
    const verifyOnly = await macKey(v, JEFE, CryptographicAlgorithm.HMAC_SHA256, CryptographicUsageMask.MACVerify);
    await fails(h, v, Operation.MAC, [uidItem(verifyOnly), data(WANT)], v.major >= 2 ? ResultReason.IncompatibleCryptographicUsageMask : ResultReason.PermissionDenied);
    const generateOnly = await macKey(v, JEFE, CryptographicAlgorithm.HMAC_SHA256, CryptographicUsageMask.MACGenerate);
    await fails(
      h,
      v,
      Operation.MACVerify,
      [uidItem(generateOnly), data(WANT), ttlv.byteString(Tag.MACData, Buffer.alloc(32))],
      v.major >= 2 ? ResultReason.IncompatibleCryptographicUsageMask : ResultReason.PermissionDenied,
    );
    const chacha = await macKey(v, Buffer.alloc(32), CryptographicAlgorithm.ChaCha20);
    expect(await fails(h, v, Operation.MAC, [uidItem(chacha), data(WANT)], ResultReason.InvalidField)).toMatch(/ChaCha20 as a MAC is not supported/);
    const pre = await registerKey(h, v, ObjectType.SymmetricKey, rawBlock(KeyFormatType.Raw, JEFE, CryptographicAlgorithm.HMAC_SHA256, 32), [maskAttr(MAC_BOTH), nameAttr('pre')]);
    await fails(h, v, Operation.MAC, [uidItem(pre), data(WANT)], v.major >= 2 ? ResultReason.WrongKeyLifecycleState : ResultReason.PermissionDenied);
  });
});

describe.each(VERSIONS)('KMIP %s Hash and RNG', (_label, v) => {
  test('Hash: OASIS CS-AC-M-7 values (SHA-256, SHA-512), SHA3-256 of "abc"', async () => {
    const msg = hex('01020304050607080910111213141516');
    const sha256 = await ok(h, v, Operation.Hash, [params({ hash: HashingAlgorithm.SHA_256 }), data(msg)]);
    expect(bytesOf(sha256, Tag.Data).toString('hex')).toBe('ad41233d22cf9322e3a7ff49a13da434797abed3bab80950a1a0d4e582b7ea72');
    const sha512 = await ok(h, v, Operation.Hash, [params({ hash: HashingAlgorithm.SHA_512 }), data(msg)]);
    expect(bytesOf(sha512, Tag.Data).toString('hex')).toBe(
      '406a806f76c06b90c8aca278995d4271037f91124ebfaba5475f1f59ee21ebe3a0cc7f5ca6f2183d360bcc762cef68713de7c6498eb08dc591075ca62f7a0717',
    );
    const sha3 = await ok(h, v, Operation.Hash, [params({ hash: HashingAlgorithm.SHA3_256 }), data(Buffer.from('abc'))]);
    expect(bytesOf(sha3, Tag.Data).toString('hex')).toBe('3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532');
  });

  test('Hash refusals: no algorithm, an unsupported one', async () => {
    await fails(h, v, Operation.Hash, [params({}), data(Buffer.from('x'))], ResultReason.MissingData);
    expect(await fails(h, v, Operation.Hash, [params({ hash: HashingAlgorithm.MD2 }), data(Buffer.from('x'))], ResultReason.InvalidField)).toMatch(/MD2/);
  });

  test('RNG Retrieve: the length asked for, different each time; bounds checked', async () => {
    const a = bytesOf(await ok(h, v, Operation.RNGRetrieve, [ttlv.integer(Tag.DataLength, 32)]), Tag.Data);
    const b = bytesOf(await ok(h, v, Operation.RNGRetrieve, [ttlv.integer(Tag.DataLength, 32)]), Tag.Data);
    expect(a.length).toBe(32);
    expect(a.equals(b)).toBe(false);
    await fails(h, v, Operation.RNGRetrieve, [ttlv.integer(Tag.DataLength, 0)], ResultReason.InvalidField);
    await fails(h, v, Operation.RNGRetrieve, [ttlv.integer(Tag.DataLength, 1 << 20)], ResultReason.InvalidField);
  });

  test('RNG Seed: accepted, and says none of it was used', async () => {
    const r = await ok(h, v, Operation.RNGSeed, [data(hex('333c06587706225099a67438f263f8f932f64b860c3a7dbb21bc2bd56685d8bc'))]);
    const len = find(r, Tag.DataLength);
    expect(len && len.value).toBe(0);
  });
});
