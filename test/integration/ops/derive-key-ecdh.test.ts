/**
 * Derive Key with Derivation Method Asymmetric Key (ECDH) through handleMessage (real SQLite, real
 * SoftHSM2), in KMIP 1.4 and 2.1: a managed EC (P-256/384/521), X25519 or X448 private key agrees
 * with the other party's public key, given as a managed Public Key or as bytes in Derivation Data
 * (SubjectPublicKeyInfo, a bare EC point, a raw X25519 key). Every result is checked against
 * node:crypto.diffieHellman on the same keys; then the refusals (wrong key type, mismatched curve,
 * too long, key given twice, no key, not a public key).
 */
import { createPublicKey, diffieHellman, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { ItemType, ttlv, type TtlvItem, type TtlvStructure } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import { CryptographicAlgorithm, CryptographicUsageMask, DerivationMethod, KeyFormatType, LinkType, ObjectType, Operation, ResultReason } from '../../../src/spec/generated/enums';
import type { KmipAttribute } from '../../../src/kmip/attributes';
import type { ProtocolVersion } from '../../../src/spec/versions';
import { attributesFor, find, successPayload, textOf } from '../../helpers/kmip-client';
import { VERSIONS, aesTemplate, attributeValues, failure, getKeyBytes, openHarness, uidItem, type Harness } from '../../helpers/ops-harness';

let h: Harness;
beforeAll(async () => {
  h = await openHarness('derive-ecdh');
});
afterAll(async () => {
  await h.close();
});

const active = (): KmipAttribute => ({ name: 'Activation Date', value: ttlv.dateTime(Tag.ActivationDate, BigInt(Math.floor(Date.now() / 1000) - 60)) });
const mask = (m: number): KmipAttribute => ({ name: 'Cryptographic Usage Mask', value: ttlv.integer(Tag.CryptographicUsageMask, m) });
const DERIVE = CryptographicUsageMask.DeriveKey;

function block(format: number, der: Buffer, algorithm: number, bits: number): TtlvStructure {
  return ttlv.structure(Tag.KeyBlock, [
    ttlv.enumeration(Tag.KeyFormatType, format),
    ttlv.structure(Tag.KeyValue, [ttlv.byteString(Tag.KeyMaterial, der)]),
    ttlv.enumeration(Tag.CryptographicAlgorithm, algorithm),
    ttlv.integer(Tag.CryptographicLength, bits),
  ]);
}

async function registerPrivate(v: ProtocolVersion, key: KeyObject, bits: number, m: number = DERIVE, algorithm: number = CryptographicAlgorithm.EC): Promise<string> {
  const der = key.export({ format: 'der', type: 'pkcs8' });
  const r = await h.send(v, Operation.Register, [
    ttlv.enumeration(Tag.ObjectType, ObjectType.PrivateKey),
    attributesFor(v, [mask(m), active()]),
    ttlv.structure(Tag.PrivateKey, [block(KeyFormatType.PKCS_8, der, algorithm, bits)]),
  ]);
  return textOf(successPayload(r), Tag.UniqueIdentifier)!;
}

async function registerPublic(v: ProtocolVersion, key: KeyObject, bits: number): Promise<string> {
  const der = key.export({ format: 'der', type: 'spki' });
  const r = await h.send(v, Operation.Register, [
    ttlv.enumeration(Tag.ObjectType, ObjectType.PublicKey),
    attributesFor(v, [mask(DERIVE), active()]),
    ttlv.structure(Tag.PublicKey, [block(KeyFormatType.X_509, der, CryptographicAlgorithm.EC, bits)]),
  ]);
  return textOf(successPayload(r), Tag.UniqueIdentifier)!;
}

function payload(v: ProtocolVersion, objectType: number, uids: string[], dp: TtlvItem[], attrs: KmipAttribute[]): TtlvItem[] {
  return [
    ttlv.enumeration(Tag.ObjectType, objectType),
    ...uids.map(uidItem),
    ttlv.enumeration(Tag.DerivationMethod, DerivationMethod.AsymmetricKey),
    ttlv.structure(Tag.DerivationParameters, dp),
    attributesFor(v, attrs),
  ];
}

async function derive(v: ProtocolVersion, objectType: number, uids: string[], dp: TtlvItem[], attrs: KmipAttribute[]): Promise<string> {
  return textOf(successPayload(await h.send(v, Operation.DeriveKey, payload(v, objectType, uids, dp, attrs))), Tag.UniqueIdentifier)!;
}

const aes = (bits: number) => aesTemplate(undefined, CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt, bits);
const secretLength = (bits: number): KmipAttribute[] => [{ name: 'Cryptographic Length', value: ttlv.integer(Tag.CryptographicLength, bits) }];
const peerData = (b: Buffer): TtlvItem => ttlv.byteString(Tag.DerivationData, b);

async function secretBytes(v: ProtocolVersion, uid: string): Promise<Buffer> {
  const p = successPayload(await h.send(v, Operation.Get, [uidItem(uid)]));
  const km = find(find(find(find(p, Tag.SecretData) as TtlvStructure, Tag.KeyBlock) as TtlvStructure, Tag.KeyValue) as TtlvStructure, Tag.KeyMaterial);
  if (km?.type !== ItemType.ByteString) throw new Error('no key material');
  return Buffer.from(km.value);
}

/** The EC point alone (SEC1 uncompressed), as some clients send the peer key. */
function uncompressedPoint(pub: KeyObject): Buffer {
  const spki = pub.export({ format: 'der', type: 'spki' });
  const jwk = pub.export({ format: 'jwk' });
  const point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
  // The BIT STRING holding the point ends the SPKI: 0x04 || X || Y.
  expect(spki.subarray(spki.length - point.length).equals(point)).toBe(true);
  return point;
}

const CURVES: readonly [string, string, number][] = [
  ['P-256', 'prime256v1', 256],
  ['P-384', 'secp384r1', 384],
  ['P-521', 'secp521r1', 521],
];

describe.each(VERSIONS)('KMIP %s Derive Key by ECDH (Asymmetric Key)', (_label, v) => {
  test.each(CURVES)('%s: with a managed peer Public Key, an AES-256 key equal to the leftmost bytes of Z; links both ways', async (_n, curve, bits) => {
    const mine = generateKeyPairSync('ec', { namedCurve: curve });
    const theirs = generateKeyPairSync('ec', { namedCurve: curve });
    const priv = await registerPrivate(v, mine.privateKey, bits);
    const pub = await registerPublic(v, theirs.publicKey, bits);
    const uid = await derive(v, ObjectType.SymmetricKey, [priv, pub], [], aes(256));
    const z = diffieHellman({ privateKey: mine.privateKey, publicKey: theirs.publicKey });
    expect((await getKeyBytes(h, v, uid)).equals(z.subarray(0, 32))).toBe(true);
    // The other side computes the same key from its own private key and our public key.
    expect(diffieHellman({ privateKey: theirs.privateKey, publicKey: mine.publicKey }).subarray(0, 32).equals(await getKeyBytes(h, v, uid))).toBe(true);
    const baseLinks = (await attributeValues(h, v, uid, 'Link', Tag.Link)).map((l) => find(l as TtlvStructure, Tag.LinkedObjectIdentifier)?.value);
    expect(baseLinks.sort()).toEqual([priv, pub].sort());
    const privLinks = await attributeValues(h, v, priv, 'Link', Tag.Link);
    expect(privLinks.map((l) => [find(l as TtlvStructure, Tag.LinkType)?.value, find(l as TtlvStructure, Tag.LinkedObjectIdentifier)?.value])).toEqual([[LinkType.DerivedKeyLink, uid]]);
  });

  test.each(CURVES)('%s: the peer key as SubjectPublicKeyInfo or as a bare point in Derivation Data; the whole of Z as Secret Data', async (_n, curve, bits) => {
    const mine = generateKeyPairSync('ec', { namedCurve: curve });
    const theirs = generateKeyPairSync('ec', { namedCurve: curve });
    const priv = await registerPrivate(v, mine.privateKey, bits);
    const z = diffieHellman({ privateKey: mine.privateKey, publicKey: theirs.publicKey });
    const fromSpki = await derive(v, ObjectType.SecretData, [priv], [peerData(theirs.publicKey.export({ format: 'der', type: 'spki' }))], secretLength(z.length * 8));
    expect((await secretBytes(v, fromSpki)).equals(z)).toBe(true);
    const fromPoint = await derive(v, ObjectType.SecretData, [priv], [peerData(uncompressedPoint(theirs.publicKey))], secretLength(128));
    expect((await secretBytes(v, fromPoint)).equals(z.subarray(0, 16))).toBe(true);
  });

  test.each([
    ['X25519', 'x25519', 256, 32],
    ['X448', 'x448', 448, 56],
  ] as const)('%s: a raw or SubjectPublicKeyInfo peer key gives the RFC 7748 shared secret', async (_n, type, bits, rawBytes) => {
    const mine = type === 'x25519' ? generateKeyPairSync('x25519') : generateKeyPairSync('x448');
    const theirs = type === 'x25519' ? generateKeyPairSync('x25519') : generateKeyPairSync('x448');
    const priv = await registerPrivate(v, mine.privateKey, bits);
    const z = diffieHellman({ privateKey: mine.privateKey, publicKey: theirs.publicKey });
    const raw = Buffer.from(theirs.publicKey.export({ format: 'jwk' }).x!, 'base64url');
    expect(raw.length).toBe(rawBytes);
    const fromRaw = await derive(v, ObjectType.SymmetricKey, [priv], [peerData(raw)], aes(256));
    expect((await getKeyBytes(h, v, fromRaw)).equals(z.subarray(0, 32))).toBe(true);
    const fromSpki = await derive(v, ObjectType.SecretData, [priv], [peerData(theirs.publicKey.export({ format: 'der', type: 'spki' }))], secretLength(rawBytes * 8));
    expect((await secretBytes(v, fromSpki)).equals(z)).toBe(true);
  });

  test('refusals: an RSA private key, a peer on another curve, more bits than Z, the key given twice or not at all, garbage bytes, a private key as the peer, no Derive Key bit', async () => {
    const mine = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const priv = await registerPrivate(v, mine.privateKey, 256);
    const spki384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).publicKey.export({ format: 'der', type: 'spki' });
    const spki256 = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ format: 'der', type: 'spki' });

    const rsa = await registerPrivate(v, generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey, 2048, DERIVE, CryptographicAlgorithm.RSA);
    let r = await h.send(v, Operation.DeriveKey, payload(v, ObjectType.SymmetricKey, [rsa], [peerData(spki256)], aes(256)));
    expect(failure(r)).toBe(ResultReason.InvalidField);
    expect(r.items[0]!.message).toMatch(/EC, X25519 or X448 private key/);

    r = await h.send(v, Operation.DeriveKey, payload(v, ObjectType.SymmetricKey, [priv], [peerData(spki384)], aes(256)));
    expect(failure(r)).toBe(ResultReason.InvalidField);
    expect(r.items[0]!.message).toMatch(/does not match the private key/);

    r = await h.send(v, Operation.DeriveKey, payload(v, ObjectType.SecretData, [priv], [peerData(spki256)], secretLength(264)));
    expect(failure(r)).toBe(ResultReason.CryptographicFailure);
    expect(r.items[0]!.message).toMatch(/gives 256 bits; 264 were asked for/);

    const pub = await registerPublic(v, createPublicKey({ key: spki256, format: 'der', type: 'spki' }), 256);
    r = await h.send(v, Operation.DeriveKey, payload(v, ObjectType.SymmetricKey, [priv, pub], [peerData(spki256)], aes(256)));
    expect(failure(r)).toBe(ResultReason.InvalidMessage);

    r = await h.send(v, Operation.DeriveKey, payload(v, ObjectType.SymmetricKey, [priv], [], aes(256)));
    expect(failure(r)).toBe(ResultReason.MissingData);

    r = await h.send(v, Operation.DeriveKey, payload(v, ObjectType.SymmetricKey, [priv], [peerData(Buffer.from('04deadbeef', 'hex'))], aes(256)));
    expect(failure(r)).toBe(ResultReason.InvalidField);
    expect(r.items[0]!.message).toMatch(/not a public key for EC prime256v1: tried X.509 SubjectPublicKeyInfo, an EC point on the curve/);

    // A private key as the "peer": the second object must be a Public Key.
    r = await h.send(v, Operation.DeriveKey, payload(v, ObjectType.SymmetricKey, [priv, rsa], [], aes(256)));
    expect([ResultReason.InvalidObjectType, ResultReason.InvalidField]).toContain(failure(r));
    expect(r.items[0]!.message).toMatch(/is not a public key/);

    // Without the Derive Key bit the private key may not agree.
    const signOnly = await registerPrivate(v, generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey, 256, CryptographicUsageMask.Sign as number);
    r = await h.send(v, Operation.DeriveKey, payload(v, ObjectType.SymmetricKey, [signOnly], [peerData(spki256)], aes(256)));
    expect([ResultReason.IncompatibleCryptographicUsageMask, ResultReason.InvalidField]).toContain(failure(r));
  });
});
