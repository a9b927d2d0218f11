/**
 * Sign, Signature Verify, MAC, MAC Verify and Hash in parts (Init Indicator, Correlation Value, Final Indicator) through
 * handleMessage (real SQLite, real SoftHSM2), in KMIP 1.4 and 2.1: the parts give the same result
 * as one request, a stream belongs to its client, key and operation, an unknown Correlation Value
 * is refused with the version's reason, and Usage Limits count every part.
 */
import { createHash, createHmac, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { ttlv, type TtlvItem } from '../../../ttlv/types';
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
  UsageLimitsUnit,
  ValidityIndicator,
} from '../../../src/spec/generated/enums';
import type { KmipAttribute } from '../../../src/kmip/attributes';
import type { ProtocolVersion } from '../../../src/spec/versions';
import { computeMac, startMac } from '../../../src/crypto/mac';
import { CMACS } from '../../../src/crypto/tables';
import { find } from '../../helpers/kmip-client';
import { VERSIONS, activeSince, bytesOf, call, corr, data, enumOf, fails, final, init, maskAttr, nameAttr, ok, params, rawBlock, registerKey, uidItem, unknownReason, useHarness } from './harness';

const h = useHarness();


const MESSAGE = Buffer.from('The quick brown fox jumps over the lazy dog, in three uneven parts of a longer message.');
const PARTS = [MESSAGE.subarray(0, 7), MESSAGE.subarray(7, 40), MESSAGE.subarray(40)];

async function registerPrivate(v: ProtocolVersion, key: KeyObject, algorithm: number, length: number, extra: KmipAttribute[] = []): Promise<string> {
  const der = key.export({ type: 'pkcs8', format: 'der' });
  return registerKey(h, v, ObjectType.PrivateKey, rawBlock(KeyFormatType.PKCS_8, der, algorithm, length), [maskAttr(CryptographicUsageMask.Sign), activeSince(), nameAttr('sign'), ...extra]);
}

/** Sends `parts` as a stream; returns the final payload. */
async function stream(v: ProtocolVersion, operation: number, head: TtlvItem[], parts: readonly Buffer[], resultTag: number): Promise<Buffer> {
  const first = await ok(h, v, operation, [...head, data(parts[0] as Buffer), init]);
  expect(find(first, resultTag)).toBeUndefined();
  const c = bytesOf(first, Tag.CorrelationValue);
  const keyPart = head.filter((i) => i.tag === Tag.UniqueIdentifier);
  for (const p of parts.slice(1, -1)) {
    const mid = await ok(h, v, operation, [...keyPart, data(p), corr(c)]);
    expect(find(mid, resultTag)).toBeUndefined();
    expect(bytesOf(mid, Tag.CorrelationValue).equals(c)).toBe(true);
  }
  const last = await ok(h, v, operation, [...keyPart, data(parts[parts.length - 1] as Buffer), corr(c), final]);
  expect(find(last, Tag.CorrelationValue)).toBeUndefined();
  return bytesOf(last, resultTag);
}

describe.each(VERSIONS)('KMIP %s Sign in parts', (_label, v) => {
  test.each([
    ['RSA-2048 PKCS#1 v1.5', () => generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey, CryptographicAlgorithm.RSA, 2048, 'sha256'],
    ['ECDSA P-256', () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey, CryptographicAlgorithm.EC, 256, 'sha256'],
    ['Ed25519 (buffered: EdDSA hashes the whole message)', () => generateKeyPairSync('ed25519').privateKey, CryptographicAlgorithm.Ed25519, 256, null],
  ] as const)('%s: the streamed signature verifies over the whole message', async (_name, make, algorithm, length, hash) => {
    const key = make();
    const uid = await registerPrivate(v, key, algorithm, length);
    const p = algorithm === CryptographicAlgorithm.RSA ? [params({ hash: HashingAlgorithm.SHA_256 })] : [];
    const signature = await stream(v, Operation.Sign, [uidItem(uid), ...p], PARTS, Tag.SignatureData);
    expect(verify(hash, MESSAGE, { key: createPublicKey(key), dsaEncoding: 'der' }, signature)).toBe(true);
    expect(verify(hash, Buffer.from('something else'), { key: createPublicKey(key), dsaEncoding: 'der' }, signature)).toBe(false);
  });

  test('RSA PKCS#1 v1.5 in parts equals the one-shot signature (deterministic)', async () => {
    const key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const uid = await registerPrivate(v, key, CryptographicAlgorithm.RSA, 2048);
    const p = params({ hash: HashingAlgorithm.SHA_384 });
    const whole = bytesOf(await ok(h, v, Operation.Sign, [uidItem(uid), p, data(MESSAGE)]), Tag.SignatureData);
    expect((await stream(v, Operation.Sign, [uidItem(uid), p], PARTS, Tag.SignatureData)).equals(whole)).toBe(true);
  });

  test('Init and Final together are one whole message', async () => {
    const key = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
    const uid = await registerPrivate(v, key, CryptographicAlgorithm.EC, 256);
    const r = await ok(h, v, Operation.Sign, [uidItem(uid), data(MESSAGE), init, final]);
    expect(find(r, Tag.CorrelationValue)).toBeUndefined();
    expect(verify('sha256', MESSAGE, { key: createPublicKey(key), dsaEncoding: 'der' }, bytesOf(r, Tag.SignatureData))).toBe(true);
  });

  test('an unknown Correlation Value, another key or another client: refused, and the stream is unharmed', async () => {
    const key = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
    const uid = await registerPrivate(v, key, CryptographicAlgorithm.EC, 256);
    const other = await registerPrivate(v, generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey, CryptographicAlgorithm.EC, 256);
    await fails(h, v, Operation.Sign, [uidItem(uid), data(MESSAGE), corr(Buffer.alloc(16, 7))], unknownReason(v));
    const c = bytesOf(await ok(h, v, Operation.Sign, [uidItem(uid), data(PARTS[0] as Buffer), init]), Tag.CorrelationValue);
    await fails(h, v, Operation.Sign, [uidItem(other), data(PARTS[1] as Buffer), corr(c)], unknownReason(v));
    // A MAC cannot continue a signature's stream.
    await fails(h, v, Operation.Hash, [params({ hash: HashingAlgorithm.SHA_256 }), data(PARTS[1] as Buffer), corr(c)], unknownReason(v));
    const mallory = await call(h, v, Operation.Sign, [uidItem(uid), data(PARTS[1] as Buffer), corr(c)], { name: 'mallory', isAdmin: false });
    expect(mallory.reason).toBe(v.major >= 2 ? ResultReason.ObjectNotFound : ResultReason.ItemNotFound);
    const last = await ok(h, v, Operation.Sign, [uidItem(uid), data(Buffer.concat([PARTS[1] as Buffer, PARTS[2] as Buffer])), corr(c), final]);
    expect(verify('sha256', MESSAGE, { key: createPublicKey(key), dsaEncoding: 'der' }, bytesOf(last, Tag.SignatureData))).toBe(true);
    // The final part closed the stream.
    await fails(h, v, Operation.Sign, [uidItem(uid), data(MESSAGE), corr(c), final], unknownReason(v));
  });

  test('Usage Limits count every part; a part past the limit ends the stream', async () => {
    const limits = ttlv.structure(Tag.UsageLimits, [ttlv.longInteger(Tag.UsageLimitsTotal, 50n), ttlv.enumeration(Tag.UsageLimitsUnit, UsageLimitsUnit.Byte)]);
    const uid = await registerPrivate(v, generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey, CryptographicAlgorithm.EC, 256, [{ name: 'Usage Limits', value: limits }]);
    const c = bytesOf(await ok(h, v, Operation.Sign, [uidItem(uid), data(Buffer.alloc(30)), init]), Tag.CorrelationValue);
    await fails(h, v, Operation.Sign, [uidItem(uid), data(Buffer.alloc(30)), corr(c)], ResultReason.PermissionDenied);
    await fails(h, v, Operation.Sign, [uidItem(uid), data(Buffer.alloc(1)), corr(c), final], unknownReason(v));
  });
});

describe.each(VERSIONS)('KMIP %s MAC in parts', (_label, v) => {
  async function macKey(key: Buffer, algorithm: number): Promise<string> {
    return registerKey(h, v, ObjectType.SymmetricKey, rawBlock(KeyFormatType.Raw, key, algorithm, key.length * 8), [
      maskAttr(CryptographicUsageMask.MACGenerate | CryptographicUsageMask.MACVerify),
      activeSince(),
      nameAttr('mac'),
    ]);
  }

  test('HMAC-SHA256 in three parts equals HMAC over the whole message', async () => {
    const key = Buffer.alloc(32, 0x0b);
    const uid = await macKey(key, CryptographicAlgorithm.HMAC_SHA256);
    const mac = await stream(v, Operation.MAC, [uidItem(uid)], PARTS, Tag.MACData);
    expect(mac.equals(createHmac('sha256', key).update(MESSAGE).digest())).toBe(true);
  });

  test.each([
    ['block-aligned parts', [16, 16, 32]],
    ['uneven parts', [5, 27, 1, 31]],
    ['an empty part in the middle', [16, 0, 17]],
  ])('AES-CMAC with %s equals CMAC in one pass', async (_name, sizes) => {
    const key = Buffer.from('2b7e151628aed2a6abf7158809cf4f3c', 'hex');
    const uid = await macKey(key, CryptographicAlgorithm.AES);
    const msg = Buffer.from(Array.from({ length: sizes.reduce((a, b) => a + b, 0) }, (_, i) => (i * 37) & 0xff));
    const parts: Buffer[] = [];
    let at = 0;
    for (const n of sizes) {
      parts.push(msg.subarray(at, at + n));
      at += n;
    }
    const p = params({ mode: BlockCipherMode.CMAC });
    const whole = bytesOf(await ok(h, v, Operation.MAC, [uidItem(uid), p, data(msg)]), Tag.MACData);
    expect((await stream(v, Operation.MAC, [uidItem(uid), p], parts, Tag.MACData)).equals(whole)).toBe(true);
  });

  test('RFC 4493 example 3 (40 bytes) in parts', async () => {
    const key = Buffer.from('2b7e151628aed2a6abf7158809cf4f3c', 'hex');
    const msg = Buffer.from('6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411', 'hex');
    const uid = await macKey(key, CryptographicAlgorithm.AES);
    const mac = await stream(v, Operation.MAC, [uidItem(uid), params({ mode: BlockCipherMode.CMAC })], [msg.subarray(0, 3), msg.subarray(3, 20), msg.subarray(20)], Tag.MACData);
    expect(mac.toString('hex')).toBe('dfa66747de9ae63030ca32611497c827');
  });

  test('an unknown Correlation Value is refused with the version\'s reason', async () => {
    const uid = await macKey(Buffer.alloc(32, 1), CryptographicAlgorithm.HMAC_SHA256);
    await fails(h, v, Operation.MAC, [uidItem(uid), data(MESSAGE), corr(Buffer.alloc(16)), final], unknownReason(v));
  });
});

describe.each(VERSIONS)('KMIP %s Hash in parts', (_label, v) => {
  test.each([
    [HashingAlgorithm.SHA_256, 'sha256'],
    [HashingAlgorithm.SHA_512, 'sha512'],
    [HashingAlgorithm.SHA3_256, 'sha3-256'],
  ])('Hashing Algorithm %i in parts equals the digest of the whole message', async (algorithm, node) => {
    const digest = await stream(v, Operation.Hash, [params({ hash: algorithm })], PARTS, Tag.Data);
    expect(digest.equals(createHash(node).update(MESSAGE).digest())).toBe(true);
  });

  test('two streams run side by side without mixing', async () => {
    const p = params({ hash: HashingAlgorithm.SHA_256 });
    const a = bytesOf(await ok(h, v, Operation.Hash, [p, data(Buffer.from('aa')), init]), Tag.CorrelationValue);
    const b = bytesOf(await ok(h, v, Operation.Hash, [p, data(Buffer.from('bb')), init]), Tag.CorrelationValue);
    const da = bytesOf(await ok(h, v, Operation.Hash, [p, data(Buffer.from('AA')), corr(a), final]), Tag.Data);
    const db = bytesOf(await ok(h, v, Operation.Hash, [p, data(Buffer.from('BB')), corr(b), final]), Tag.Data);
    expect(da.equals(createHash('sha256').update('aaAA').digest())).toBe(true);
    expect(db.equals(createHash('sha256').update('bbBB').digest())).toBe(true);
  });

  test('another client cannot continue the stream', async () => {
    const p = params({ hash: HashingAlgorithm.SHA_256 });
    const c = bytesOf(await ok(h, v, Operation.Hash, [p, data(Buffer.from('secret')), init]), Tag.CorrelationValue);
    const r = await call(h, v, Operation.Hash, [p, data(Buffer.from('x')), corr(c), final], { name: 'mallory', isAdmin: false });
    expect(r.reason).toBe(unknownReason(v));
    await ok(h, v, Operation.Hash, [p, corr(c), final]);
  });

  test('an unknown Correlation Value is refused', async () => {
    await fails(h, v, Operation.Hash, [params({ hash: HashingAlgorithm.SHA_256 }), data(MESSAGE), corr(Buffer.alloc(16, 3))], unknownReason(v));
  });
});

describe('streaming CMAC (unit)', () => {
  test('startMac over random splits equals computeMac', () => {
    const info = CMACS[CryptographicAlgorithm.AES];
    if (!info) throw new Error('no AES CMAC');
    for (let trial = 0; trial < 200; trial++) {
      const key = Buffer.from(Array.from({ length: 16 }, (_, i) => (i * 7 + trial) & 0xff));
      const msg = Buffer.from(Array.from({ length: trial % 70 }, (_, i) => (i * 13 + trial) & 0xff));
      const run = startMac(info, key);
      let at = 0;
      while (at < msg.length) {
        const n = 1 + ((at * 31 + trial) % 23);
        run.update(msg.subarray(at, at + n));
        at += n;
      }
      expect(run.finish().equals(computeMac(info, key, msg))).toBe(true);
    }
  });
});

/**
 * Sends `parts` to a verify operation with `proof` (Signature Data or MAC Data) on the last part,
 * or on the first (`proofAt`: the spec makes it optional for multi-part); returns the Validity Indicator.
 */
async function verifyStream(
  v: ProtocolVersion,
  operation: number,
  head: TtlvItem[],
  parts: readonly Buffer[],
  proof: TtlvItem,
  proofAt: 'first' | 'final' = 'final',
): Promise<number | undefined> {
  const first = await ok(h, v, operation, [...head, data(parts[0] as Buffer), ...(proofAt === 'first' ? [proof] : []), init]);
  expect(enumOf(first, Tag.ValidityIndicator)).toBeUndefined();
  const c = bytesOf(first, Tag.CorrelationValue);
  const keyPart = head.filter((i) => i.tag === Tag.UniqueIdentifier);
  for (const p of parts.slice(1, -1)) {
    const mid = await ok(h, v, operation, [...keyPart, data(p), corr(c)]);
    expect(bytesOf(mid, Tag.CorrelationValue).equals(c)).toBe(true);
  }
  const last = await ok(h, v, operation, [...keyPart, data(parts[parts.length - 1] as Buffer), ...(proofAt === 'final' ? [proof] : []), corr(c), final]);
  expect(find(last, Tag.CorrelationValue)).toBeUndefined();
  // The stream is over once answered.
  await fails(h, v, operation, [...keyPart, data(Buffer.alloc(1)), proof, corr(c), final], unknownReason(v));
  return enumOf(last, Tag.ValidityIndicator);
}

describe.each(VERSIONS)('KMIP %s Signature Verify in parts', (_label, v) => {
  test.each([
    ['RSA-2048 PKCS#1 v1.5', () => generateKeyPairSync('rsa', { modulusLength: 2048 }), CryptographicAlgorithm.RSA, 2048, 'sha256'],
    ['ECDSA P-384', () => generateKeyPairSync('ec', { namedCurve: 'secp384r1' }), CryptographicAlgorithm.EC, 384, 'sha384'],
    ['Ed25519 (buffered)', () => generateKeyPairSync('ed25519'), CryptographicAlgorithm.Ed25519, 256, null],
  ] as const)('%s: a signature over the whole message is Valid, over another message Invalid', async (_name, make, algorithm, length, hash) => {
    const pair = make();
    const spki = pair.publicKey.export({ type: 'spki', format: 'der' });
    const uid = await registerKey(h, v, ObjectType.PublicKey, rawBlock(KeyFormatType.X_509, spki, algorithm, length), [
      maskAttr(CryptographicUsageMask.Verify),
      activeSince(),
      nameAttr('verify'),
    ]);
    const p = hash === null ? [] : [params({ hash: hash === 'sha256' ? HashingAlgorithm.SHA_256 : HashingAlgorithm.SHA_384 })];
    const good = sign(hash, MESSAGE, { key: pair.privateKey, dsaEncoding: 'der' });
    const other = sign(hash, Buffer.from('another message'), { key: pair.privateKey, dsaEncoding: 'der' });
    expect(await verifyStream(v, Operation.SignatureVerify, [uidItem(uid), ...p], PARTS, ttlv.byteString(Tag.SignatureData, good))).toBe(ValidityIndicator.Valid);
    expect(await verifyStream(v, Operation.SignatureVerify, [uidItem(uid), ...p], PARTS, ttlv.byteString(Tag.SignatureData, other))).toBe(ValidityIndicator.Invalid);
    // The Signature Data given with the first part is the one checked at the final part.
    expect(await verifyStream(v, Operation.SignatureVerify, [uidItem(uid), ...p], PARTS, ttlv.byteString(Tag.SignatureData, good), 'first')).toBe(ValidityIndicator.Valid);
    expect(await verifyStream(v, Operation.SignatureVerify, [uidItem(uid), ...p], PARTS, ttlv.byteString(Tag.SignatureData, other), 'first')).toBe(ValidityIndicator.Invalid);
  });
});

describe.each(VERSIONS)('KMIP %s MAC Verify in parts', (_label, v) => {
  test('HMAC-SHA512: the MAC of the whole message is Valid, a MAC of one bit changed Invalid', async () => {
    const key = Buffer.alloc(64, 0x2c);
    const uid = await registerKey(h, v, ObjectType.SymmetricKey, rawBlock(KeyFormatType.Raw, key, CryptographicAlgorithm.HMAC_SHA512, 512), [
      maskAttr(CryptographicUsageMask.MACVerify),
      activeSince(),
      nameAttr('macverify'),
    ]);
    const mac = createHmac('sha512', key).update(MESSAGE).digest();
    expect(await verifyStream(v, Operation.MACVerify, [uidItem(uid)], PARTS, ttlv.byteString(Tag.MACData, mac))).toBe(ValidityIndicator.Valid);
    const bad = Buffer.from(mac);
    bad[0] = (bad[0] as number) ^ 1;
    expect(await verifyStream(v, Operation.MACVerify, [uidItem(uid)], PARTS, ttlv.byteString(Tag.MACData, bad))).toBe(ValidityIndicator.Invalid);
    // MAC Data given with the first part is the one checked at the final part.
    expect(await verifyStream(v, Operation.MACVerify, [uidItem(uid)], PARTS, ttlv.byteString(Tag.MACData, mac), 'first')).toBe(ValidityIndicator.Valid);
    expect(await verifyStream(v, Operation.MACVerify, [uidItem(uid)], PARTS, ttlv.byteString(Tag.MACData, bad), 'first')).toBe(ValidityIndicator.Invalid);
    // Given with neither: Missing Data at the final part.
    const first = await ok(h, v, Operation.MACVerify, [uidItem(uid), data(PARTS[0] as Buffer), init]);
    expect(await fails(h, v, Operation.MACVerify, [uidItem(uid), data(PARTS[1] as Buffer), corr(bytesOf(first, Tag.CorrelationValue)), final], ResultReason.MissingData)).toMatch(/MAC Data is required/);
  });
});
