/**
 * Sign and Signature Verify with Digested Data (KMIP 1.4 on) through handleMessage over a real
 * store and a real SoftHSM2 token (which computes PSS and ECDSA over the digest): for RSA PKCS#1
 * v1.5, RSA PSS and ECDSA on P-256/384/521 the server signs the client's digest without hashing it
 * again, shown by node:crypto verifying the signature over the original data; signatures node made
 * over the data verify against the digest; altered digests and signatures do not. Then the
 * refusals: a digest of the wrong length (Invalid Field in 1.4, Bad Cryptographic Parameters in
 * 2.x), EdDSA, Data and Digested Data together, Digested Data in parts.
 */
import { constants, createHash, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { ttlv, type TtlvItem } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import {
  CryptographicAlgorithm,
  CryptographicUsageMask,
  HashingAlgorithm,
  KeyFormatType,
  ObjectType,
  Operation,
  PaddingMethod,
  ResultReason,
  ValidityIndicator,
} from '../../../src/spec/generated/enums';
import type { KmipAttribute } from '../../../src/kmip/attributes';
import type { ProtocolVersion } from '../../../src/spec/versions';
import { attributesFor, find, successPayload, textOf } from '../../helpers/kmip-client';
import { VERSIONS, bytesOf, failure, openHarness, uidItem, type Harness } from '../../helpers/ops-harness';
import { LEGACY_CRYPTO_POLICY } from '../../../src/crypto/policy-profiles';

let h: Harness;
beforeAll(async () => {
  // SHA-1 digests are signed here too, which only the legacy profile allows.
  h = await openHarness('sign-digested', { crypto: LEGACY_CRYPTO_POLICY });
});
afterAll(async () => {
  await h.close();
});

const mask = (m: number): KmipAttribute => ({ name: 'Cryptographic Usage Mask', value: ttlv.integer(Tag.CryptographicUsageMask, m) });
const active = (): KmipAttribute => ({ name: 'Activation Date', value: ttlv.dateTime(Tag.ActivationDate, BigInt(Math.floor(Date.now() / 1000) - 60)) });

async function register(v: ProtocolVersion, objectType: number, der: Buffer, format: number, algorithm: number, bits: number, m: number): Promise<string> {
  const block = ttlv.structure(Tag.KeyBlock, [
    ttlv.enumeration(Tag.KeyFormatType, format),
    ttlv.structure(Tag.KeyValue, [ttlv.byteString(Tag.KeyMaterial, der)]),
    ttlv.enumeration(Tag.CryptographicAlgorithm, algorithm),
    ttlv.integer(Tag.CryptographicLength, bits),
  ]);
  const r = await h.send(v, Operation.Register, [
    ttlv.enumeration(Tag.ObjectType, objectType),
    attributesFor(v, [mask(m), active()]),
    ttlv.structure(objectType === ObjectType.PrivateKey ? Tag.PrivateKey : Tag.PublicKey, [block]),
  ]);
  return textOf(successPayload(r), Tag.UniqueIdentifier)!;
}

async function registerPair(v: ProtocolVersion, pair: { privateKey: KeyObject; publicKey: KeyObject }, algorithm: number, bits: number) {
  return {
    priv: await register(v, ObjectType.PrivateKey, pair.privateKey.export({ format: 'der', type: 'pkcs8' }), KeyFormatType.PKCS_8, algorithm, bits, CryptographicUsageMask.Sign),
    pub: await register(v, ObjectType.PublicKey, pair.publicKey.export({ format: 'der', type: 'spki' }), KeyFormatType.X_509, algorithm, bits, CryptographicUsageMask.Verify),
  };
}

function params(hash: number, padding?: number): TtlvItem {
  return ttlv.structure(Tag.CryptographicParameters, [
    ...(padding !== undefined ? [ttlv.enumeration(Tag.PaddingMethod, padding)] : []),
    ttlv.enumeration(Tag.HashingAlgorithm, hash),
  ]);
}

async function signDigest(v: ProtocolVersion, uid: string, cp: TtlvItem, digest: Buffer): Promise<Buffer> {
  const p = successPayload(await h.send(v, Operation.Sign, [uidItem(uid), cp, ttlv.byteString(Tag.DigestedData, digest)]));
  return bytesOf(find(p, Tag.SignatureData));
}

async function verifyDigest(v: ProtocolVersion, uid: string, cp: TtlvItem, digest: Buffer, signature: Buffer): Promise<number | undefined> {
  const p = successPayload(
    await h.send(v, Operation.SignatureVerify, [uidItem(uid), cp, ttlv.byteString(Tag.DigestedData, digest), ttlv.byteString(Tag.SignatureData, signature)]),
  );
  const item = find(p, Tag.ValidityIndicator);
  return item?.value as number | undefined;
}

async function verifyData(v: ProtocolVersion, uid: string, cp: TtlvItem, data: Buffer, signature: Buffer): Promise<number | undefined> {
  const p = successPayload(await h.send(v, Operation.SignatureVerify, [uidItem(uid), cp, ttlv.byteString(Tag.Data, data), ttlv.byteString(Tag.SignatureData, signature)]));
  return find(p, Tag.ValidityIndicator)?.value as number | undefined;
}

const flip = (b: Buffer): Buffer => {
  const c = Buffer.from(b);
  c[c.length - 1] = (c[c.length - 1] ?? 0) ^ 1;
  return c;
};

const message = Buffer.from('the client hashed this message itself and sends only the digest');

const HASHES: readonly [string, number, string][] = [
  ['SHA-1', HashingAlgorithm.SHA_1, 'sha1'],
  ['SHA-256', HashingAlgorithm.SHA_256, 'sha256'],
  ['SHA-384', HashingAlgorithm.SHA_384, 'sha384'],
  ['SHA-512', HashingAlgorithm.SHA_512, 'sha512'],
];

describe.each(VERSIONS)('KMIP %s Sign / Signature Verify with Digested Data', (_label, v) => {
  let rsa: { priv: string; pub: string };
  let rsaKeys: { privateKey: KeyObject; publicKey: KeyObject };
  beforeAll(async () => {
    rsaKeys = generateKeyPairSync('rsa', { modulusLength: 2048 });
    rsa = await registerPair(v, rsaKeys, CryptographicAlgorithm.RSA, 2048);
  });

  test.each(HASHES)('RSA PKCS#1 v1.5 with %s: the signature over the digest is the signature over the data', async (_n, hashEnum, hash) => {
    const cp = params(hashEnum, PaddingMethod.PKCS1V1_5);
    const digest = createHash(hash).update(message).digest();
    const sig = await signDigest(v, rsa.priv, cp, digest);
    expect(verify(hash, message, rsaKeys.publicKey, sig)).toBe(true);
    // PKCS#1 v1.5 is deterministic: the same bytes node makes over the whole message.
    expect(sig.equals(sign(hash, message, rsaKeys.privateKey))).toBe(true);
    expect(await verifyDigest(v, rsa.pub, cp, digest, sig)).toBe(ValidityIndicator.Valid);
    expect(await verifyData(v, rsa.pub, cp, message, sig)).toBe(ValidityIndicator.Valid);
    expect(await verifyDigest(v, rsa.pub, cp, flip(digest), sig)).toBe(ValidityIndicator.Invalid);
    expect(await verifyDigest(v, rsa.pub, cp, digest, flip(sig))).toBe(ValidityIndicator.Invalid);
  });

  test.each(HASHES)('RSA PSS with %s (salt the hash length): node verifies over the data; node\'s PSS signature verifies over the digest', async (_n, hashEnum, hash) => {
    const cp = params(hashEnum, PaddingMethod.PSS);
    const digest = createHash(hash).update(message).digest();
    const sig = await signDigest(v, rsa.priv, cp, digest);
    const pss = { key: rsaKeys.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: digest.length };
    expect(verify(hash, message, pss, sig)).toBe(true);
    const nodeSig = sign(hash, message, { key: rsaKeys.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST });
    expect(await verifyDigest(v, rsa.pub, cp, digest, nodeSig)).toBe(ValidityIndicator.Valid);
    expect(await verifyDigest(v, rsa.pub, cp, digest, sig)).toBe(ValidityIndicator.Valid);
    expect(await verifyDigest(v, rsa.pub, cp, flip(digest), sig)).toBe(ValidityIndicator.Invalid);
    expect(await verifyDigest(v, rsa.pub, cp, digest, flip(sig))).toBe(ValidityIndicator.Invalid);
  });

  test.each([
    ['P-256', 'prime256v1', 256, HashingAlgorithm.SHA_256, 'sha256'],
    ['P-384', 'secp384r1', 384, HashingAlgorithm.SHA_384, 'sha384'],
    ['P-521', 'secp521r1', 521, HashingAlgorithm.SHA_512, 'sha512'],
  ] as const)('ECDSA %s: a DER signature over the digest that node verifies over the data, and node\'s verifies over the digest', async (_n, curve, bits, hashEnum, hash) => {
    const keys = generateKeyPairSync('ec', { namedCurve: curve });
    const pair = await registerPair(v, keys, CryptographicAlgorithm.EC, bits);
    const cp = params(hashEnum);
    const digest = createHash(hash).update(message).digest();
    const sig = await signDigest(v, pair.priv, cp, digest);
    expect(sig[0]).toBe(0x30); // DER SEQUENCE, as Sign's other ECDSA signatures
    expect(verify(hash, message, keys.publicKey, sig)).toBe(true);
    const nodeSig = sign(hash, message, keys.privateKey);
    expect(await verifyDigest(v, pair.pub, cp, digest, nodeSig)).toBe(ValidityIndicator.Valid);
    expect(await verifyData(v, pair.pub, cp, message, sig)).toBe(ValidityIndicator.Valid);
    expect(await verifyDigest(v, pair.pub, cp, flip(digest), sig)).toBe(ValidityIndicator.Invalid);
    expect(await verifyDigest(v, pair.pub, cp, digest, flip(sig))).toBe(ValidityIndicator.Invalid);
    expect(await verifyDigest(v, pair.pub, cp, digest, Buffer.from('not DER at all'))).toBe(ValidityIndicator.Invalid);
  });

  test('a digest of the wrong length is refused, naming both lengths, for signing and verifying', async () => {
    const wrongReason = v.major >= 2 ? ResultReason.BadCryptographicParameters : ResultReason.InvalidField;
    const cp = params(HashingAlgorithm.SHA_256, PaddingMethod.PKCS1V1_5);
    const short = createHash('sha1').update(message).digest();
    let r = await h.send(v, Operation.Sign, [uidItem(rsa.priv), cp, ttlv.byteString(Tag.DigestedData, short)]);
    expect(failure(r)).toBe(wrongReason);
    expect(r.items[0]!.message).toMatch(/Digested Data is 20 bytes; a SHA-256 digest is 32/);
    r = await h.send(v, Operation.SignatureVerify, [uidItem(rsa.pub), cp, ttlv.byteString(Tag.DigestedData, short), ttlv.byteString(Tag.SignatureData, Buffer.alloc(256))]);
    expect(failure(r)).toBe(wrongReason);
    expect(r.items[0]!.message).toMatch(/Digested Data is 20 bytes; a SHA-256 digest is 32/);
  });

  test('refusals: EdDSA keys, Data and Digested Data together, Digested Data with an Init Indicator', async () => {
    const ed = generateKeyPairSync('ed25519');
    const edPair = await registerPair(v, ed, CryptographicAlgorithm.Ed25519, 256);
    const digest = createHash('sha256').update(message).digest();
    let r = await h.send(v, Operation.Sign, [uidItem(edPair.priv), ttlv.byteString(Tag.DigestedData, digest)]);
    expect(failure(r)).toBe(ResultReason.InvalidField);
    expect(r.items[0]!.message).toMatch(/EdDSA signs the message itself/);

    r = await h.send(v, Operation.Sign, [uidItem(rsa.priv), ttlv.byteString(Tag.Data, message), ttlv.byteString(Tag.DigestedData, digest)]);
    expect(failure(r)).toBe(ResultReason.InvalidField);
    expect(r.items[0]!.message).toMatch(/Data or Digested Data, not both/);

    r = await h.send(v, Operation.Sign, [uidItem(rsa.priv), ttlv.byteString(Tag.DigestedData, digest), ttlv.boolean(Tag.InitIndicator, true)]);
    expect(failure(r)).toBe(ResultReason.InvalidField);
    expect(r.items[0]!.message).toMatch(/one request, not in parts/);
  });
});
