/**
 * Key pairs, public/private key formats, signatures, RSA encryption and certificates through
 * handleMessage (real SQLite, real SoftHSM2), in KMIP 1.4 and 2.1. Results are checked against
 * Node's OpenSSL on the client side and against a vector made with Python's cryptography package.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  constants,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  privateDecrypt,
  publicEncrypt,
  sign,
  verify,
  X509Certificate,
  type KeyObject,
} from 'node:crypto';
import { ItemType, ttlv, type TtlvItem, type TtlvStructure } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import {
  CryptographicAlgorithm,
  CryptographicUsageMask,
  DigitalSignatureAlgorithm,
  HashingAlgorithm,
  KeyFormatType,
  LinkType,
  ObjectType,
  Operation,
  PaddingMethod,
  RecommendedCurve,
  ResultReason,
  State,
  ValidityIndicator,
} from '../../../src/spec/generated/enums';
import type { KmipAttribute } from '../../../src/kmip/attributes';
import type { ProtocolVersion } from '../../../src/spec/versions';
import { createCertificateAuthority, issueServerCertificate } from '../../../src/pki/dev-pki';
import { allOf, attributesFor, find, textOf } from '../../helpers/kmip-client';
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

// PKCS#1 v1.5 encryption (interoperability with OpenSSL's) needs the legacy profile.
const h = useHarness({ crypto: LEGACY_CRYPTO_POLICY });

/** RSA-2048 private key (PKCS#8) and an OAEP ciphertext of "mixed-hash OAEP vector" with SHA-384, MGF1-SHA-256 and label "kmip", made with Python cryptography 48. */
const OAEP_KEY_PKCS8 =
  '308204bc020100300d06092a864886f70d0101010500048204a6308204a20201000282010100cee42bbb978af3f7e4eda33fb673eb7b872916fb0f0f' +
  '6f82e9a82b964eaa4b4b5e98c7fd44fca2bf39c8ec39c465e8defe3bc1332ff45d60a7f3d1804d0f81bf7bd644f175c7835996bc30440b603079ad89' +
  '56b7efccccee007da1ce05e4bd187cc4589db2589ee71f5735c5317b425ca13b6bd6c89366f0248f48698d8eb746d1aaf5037e89668d23324b187286' +
  '40df8acf9c1b7fd3793182d15ed1205dc7803675da2e7eb476a5a4f6423c4c1cd8713b8fa97a7833f803acadd01e14f71db890f359b7eaeeaba1041f' +
  '7afbbf60069965b4ab097cf2bee4279800bf86fec3d2bceddff998655e628c40cf730e2584b9ff1ecea3b61728cb29cbba65427ac2e1020301000102' +
  '8201001ca4009bdd0c3adedfddb7e23b8f4b9393aff002fc603e2728d2838a30c4a95cbb313a4a48f11254979ac57cefbfcddf84e15fcb06c1f4e54b' +
  '0ad93f422bb9e1f8b23e6410d27850002a78220b531b12d51fb4960d07d47cc42ba02925aeb730bb20f1458f696e41ff983294e45734661f59db0166' +
  '4de58babfbfbe1c4db736a85fc9cda2f35dd490ced3eae91ef9cabedf27b57aacee75e4eae93504cab3112da9b6730a8df5cdd5e8ac54732977669bd' +
  '10a98ef1f0e1c7315cd2633e2faa6053e28b32e3655472c201d17a468b990b89b8e7356d6591610d800cf3c3102744e17232bc30bdb4f4443afdad8d' +
  '3d0035328b70b2c6ecc03b1e3b1ce48c38bf9902818100f7546fd028841788d593fe7794b34acdce59df8dc5ebc761bd5a19a83250320c51c9d498f6' +
  'a16d337f6bd7228f8163b6603ea91a45acb8c99f096e0e125f486d033e62505f286743d1a91b6823797fbafd7a1fb76ec50412c3da0da43c031fde4d' +
  'fd0a2e628d5f71ad4589e040a99d7838ebe83f24300942358bffd6f7d6d27d02818100d624d5a006d3f4fe0fac64068ec860725cc730f58f9ea2aaca' +
  '9732ae62237cd15f1cec9fd09eb81a7a86da9d95c307c721bc2e4832df2df4ad6f746a7c7e64c78be05cad7e5d7cb274daecf11b17c36068fa64fe09' +
  '2f3073a7daf1afdb0fe41767060c9f723b3746f4d0780d7e3fb08294f4beaf69946a1301ed8020b1661b35028180698a70844525c8dd2d368ff9fb4c' +
  '5ef95fbade38a362af9c37af010fd31881a2dc2be23abbd3bac3a4f621c1afb72913a412591acaec9f95f9f58e2f170bedde06ea520db5ed89d358de' +
  '6ec18b91c73dc5f89d1c2b7a8af86ef6d7a763ac79a6e564bb397bf893e7f066a2253db2a36dafec8b18969aa0f8cddcc5f9b79cc6090281801de1ab' +
  'f195a2540873b5718bbcb6d7467e0dc9962a814f5f97bf7b71fbfdc9b80996a6aa32594385665d94f9f260f19fe6e4346d1cb429dc7fab12ca9d2ea1' +
  'ef7a64476a6a3caf5ed3918d08a3e82ffa2f0be9b5cd20499989edb25600b279f88e06b91232c57294332b37e5621d8f0ad9b0413f86f30fce3131ab' +
  'f463ecc49502818028e3ae9332f4a20393d6e41c953bd11296bca2eb2fc197c8b375b43d0e4f9354500f66ca8cafd55213315295ec2c7c159002e314' +
  '4f5343652cebf78b9674039c180989f0c5fcf5f37136dc33c0b2b8b970de027f2725710703d11617359b01d75d9b8cca2b93b0dced7725500a325b39' +
  '333641479195e8b3472961e305abe44b';
const OAEP_CIPHERTEXT =
  '03ada3670ebc17f952b7c91d79f59007fe422271a3bdb171a222e8a62d77131da871dd74e712e817d68825df93ca9ff5eea1d35cfc12326979fa4c02' +
  'd6b25bd05011edf4717e8e5f39fb9fd5a766aadaf18957ac6521c4ec5dcb67529f3cfc6aa80ae411ab61eaf5b0924db8fb44f59625ab5b10485aa689' +
  '0682fc3147f8746dda0c08dfcc9cd40d27241f269bdcbeca32685e834346abdbf6c64a6cbb918499a78efa8275bd42203888a867c1f4aa2be24edc12' +
  '67d1ddc6e0ed465b89ce2d3eaffce219136beecd8d7ee6eab5919c10bfe2bb8393e49d1a5d63951ed42c05dcd59664ab506130f803d5d763ab07f655' +
  '83ecee82518276e4553f95b34a44eb8f';

const wrongState = (v: ProtocolVersion) => (v.major >= 2 ? ResultReason.WrongKeyLifecycleState : ResultReason.PermissionDenied);
const badMask = (v: ProtocolVersion) => (v.major >= 2 ? ResultReason.IncompatibleCryptographicUsageMask : ResultReason.PermissionDenied);

function attr(name: string, value: TtlvItem): KmipAttribute {
  return { name, value };
}

async function createPair(v: ProtocolVersion, common: KmipAttribute[], priv: KmipAttribute[] = [], pub: KmipAttribute[] = []): Promise<{ priv: string; pub: string }> {
  const w = (t1: number, t2: number, a: KmipAttribute[]) => {
    const s = attributesFor(v, a);
    return ttlv.structure(v.major >= 2 ? t2 : t1, (s as TtlvStructure).value);
  };
  const r = await ok(h, v, Operation.CreateKeyPair, [
    w(Tag.CommonTemplateAttribute, Tag.CommonAttributes, common),
    w(Tag.PrivateKeyTemplateAttribute, Tag.PrivateKeyAttributes, [maskAttr(CryptographicUsageMask.Sign), nameAttr('priv'), ...priv]),
    w(Tag.PublicKeyTemplateAttribute, Tag.PublicKeyAttributes, [maskAttr(CryptographicUsageMask.Verify), nameAttr('pub'), ...pub]),
  ]);
  return { priv: textOf(r, Tag.PrivateKeyUniqueIdentifier) ?? '', pub: textOf(r, Tag.PublicKeyUniqueIdentifier) ?? '' };
}

function createPairPayload(v: ProtocolVersion, common: KmipAttribute[]): TtlvItem[] {
  const s = attributesFor(v, common) as TtlvStructure;
  return [ttlv.structure(v.major >= 2 ? Tag.CommonAttributes : Tag.CommonTemplateAttribute, s.value)];
}

const alg = (a: number) => attr('Cryptographic Algorithm', ttlv.enumeration(Tag.CryptographicAlgorithm, a));
const len = (n: number) => attr('Cryptographic Length', ttlv.integer(Tag.CryptographicLength, n));
const curve = (c: number) => attr('Cryptographic Domain Parameters', ttlv.structure(Tag.CryptographicDomainParameters, [ttlv.enumeration(Tag.RecommendedCurve, c)]));

/** Values of one attribute, by name, in either version's Get Attributes form. */
async function attributeValues(v: ProtocolVersion, uid: string, name: string, tag: number): Promise<TtlvItem[]> {
  const ref = v.major >= 2 ? ttlv.enumeration(Tag.AttributeReference, tag) : ttlv.textString(Tag.AttributeName, name);
  const p = await ok(h, v, Operation.GetAttributes, [uidItem(uid), ref]);
  if (v.major >= 2) {
    const attrs = find(p, Tag.Attributes) as TtlvStructure | undefined;
    return attrs ? allOf(attrs, tag) : [];
  }
  return allOf(p, Tag.Attribute).map((a) => find(a as TtlvStructure, Tag.AttributeValue) as TtlvItem);
}

async function activate(v: ProtocolVersion, ...uids: string[]): Promise<void> {
  for (const uid of uids) await ok(h, v, Operation.Activate, [uidItem(uid)]);
}

/** Get in a Key Format Type; the Key Material item. */
async function getMaterial(v: ProtocolVersion, uid: string, format?: number): Promise<{ block: TtlvStructure; material: TtlvItem }> {
  const payload: TtlvItem[] = [uidItem(uid)];
  if (format !== undefined) payload.push(ttlv.enumeration(Tag.KeyFormatType, format));
  const r = await ok(h, v, Operation.Get, payload);
  const body = (find(r, Tag.PrivateKey) ?? find(r, Tag.PublicKey)) as TtlvStructure;
  const block = find(body, Tag.KeyBlock) as TtlvStructure;
  const kv = find(block, Tag.KeyValue) as TtlvStructure;
  return { block, material: find(kv, Tag.KeyMaterial) as TtlvItem };
}

function derOf(item: TtlvItem): Buffer {
  if (item.type !== ItemType.ByteString) throw new Error('not DER');
  return Buffer.from(item.value);
}

async function publicKeyOf(v: ProtocolVersion, uid: string): Promise<KeyObject> {
  return createPublicKey({ key: derOf((await getMaterial(v, uid, KeyFormatType.X_509)).material), format: 'der', type: 'spki' });
}

async function kmipSign(v: ProtocolVersion, uid: string, msg: Buffer, p?: TtlvStructure): Promise<Buffer> {
  return bytesOf(await ok(h, v, Operation.Sign, p ? [uidItem(uid), p, data(msg)] : [uidItem(uid), data(msg)]), Tag.SignatureData);
}

async function kmipVerify(v: ProtocolVersion, uid: string, msg: Buffer, sig: Buffer, p?: TtlvStructure): Promise<number | undefined> {
  const payload = [uidItem(uid), ...(p ? [p] : []), data(msg), ttlv.byteString(Tag.SignatureData, sig)];
  return enumOf(await ok(h, v, Operation.SignatureVerify, payload), Tag.ValidityIndicator);
}

const MSG = Buffer.from('The quick brown fox jumps over the lazy dog');

describe.each(VERSIONS)('KMIP %s key pairs', (_label, v) => {
  test('RSA-2048: linked pair, PKCS#1 at rest, PKCS#1 v1.5 and PSS signatures checked by OpenSSL', async () => {
    const { priv, pub } = await createPair(v, [alg(CryptographicAlgorithm.RSA), len(2048)]);
    const privLinks = await attributeValues(v, priv, 'Link', Tag.Link);
    expect(privLinks.map((l) => [enumOf(l as TtlvStructure, Tag.LinkType), textOf(l as TtlvStructure, Tag.LinkedObjectIdentifier)])).toEqual([
      [LinkType.PublicKeyLink, pub],
    ]);
    const pubLinks = await attributeValues(v, pub, 'Link', Tag.Link);
    expect(pubLinks.map((l) => textOf(l as TtlvStructure, Tag.LinkedObjectIdentifier))).toEqual([priv]);
    const [state] = await attributeValues(v, priv, 'State', Tag.State);
    expect(state?.value).toBe(State.PreActive);
    const [digest] = await attributeValues(v, pub, 'Digest', Tag.Digest);
    expect(enumOf(digest as TtlvStructure, Tag.KeyFormatType)).toBe(KeyFormatType.PKCS_1);
    expect(enumOf((await getMaterial(v, priv)).block, Tag.KeyFormatType)).toBe(KeyFormatType.PKCS_1);

    // Pre-Active keys do not sign.
    await fails(h, v, Operation.Sign, [uidItem(priv), data(MSG)], wrongState(v));
    await activate(v, priv, pub);
    const publicKey = await publicKeyOf(v, pub);
    expect(publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048);

    const v15 = params({ padding: PaddingMethod.PKCS1V1_5, hash: HashingAlgorithm.SHA_256 });
    const sig = await kmipSign(v, priv, MSG, v15);
    expect(verify('sha256', MSG, { key: publicKey, padding: constants.RSA_PKCS1_PADDING }, sig)).toBe(true);
    expect(await kmipVerify(v, pub, MSG, sig, v15)).toBe(ValidityIndicator.Valid);
    expect(await kmipVerify(v, pub, Buffer.from('tampered'), sig, v15)).toBe(ValidityIndicator.Invalid);
    // The same signature through the Digital Signature Algorithm enumeration.
    expect(await kmipVerify(v, pub, MSG, sig, params({ dsa: DigitalSignatureAlgorithm.SHA_256WithRSAEncryption }))).toBe(ValidityIndicator.Valid);

    const pss = params({ padding: PaddingMethod.PSS, hash: HashingAlgorithm.SHA_384, salt: 48 });
    const pssSig = await kmipSign(v, priv, MSG, pss);
    expect(verify('sha384', MSG, { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 48 }, pssSig)).toBe(true);
    expect(await kmipVerify(v, pub, MSG, pssSig, params({ padding: PaddingMethod.PSS, hash: HashingAlgorithm.SHA_384 }))).toBe(ValidityIndicator.Valid);
    expect(await kmipVerify(v, pub, MSG, pssSig, params({ padding: PaddingMethod.PSS, hash: HashingAlgorithm.SHA_256 }))).toBe(ValidityIndicator.Invalid);

    // Signing needs the private key and its Sign bit.
    await fails(h, v, Operation.Sign, [uidItem(pub), data(MSG)], v.major >= 2 ? ResultReason.InvalidObjectType : ResultReason.InvalidField);
  });

  test('RSA key formats on Get: PKCS#8, Transparent RSA Private/Public, X.509', async () => {
    const { priv, pub } = await createPair(v, [alg(CryptographicAlgorithm.RSA), len(3072)]);
    const pkcs8 = createPrivateKey({ key: derOf((await getMaterial(v, priv, KeyFormatType.PKCS_8)).material), format: 'der', type: 'pkcs8' });
    const transparent = (await getMaterial(v, priv, KeyFormatType.TransparentRSAPrivateKey)).material as TtlvStructure;
    const n = find(transparent, Tag.Modulus);
    expect(n?.type).toBe(ItemType.BigInteger);
    const jwk = pkcs8.export({ format: 'jwk' });
    expect(n && n.type === ItemType.BigInteger ? n.value.toString(16) : '').toBe(Buffer.from(jwk.n ?? '', 'base64url').toString('hex').replace(/^0+/, ''));
    const tpub = (await getMaterial(v, pub, KeyFormatType.TransparentRSAPublicKey)).material as TtlvStructure;
    expect(find(tpub, Tag.PublicExponent)?.value).toBe(65537n);
    // A private key has no X.509 form; a public key no PKCS#8 form.
    await fails(h, v, Operation.Get, [uidItem(priv), ttlv.enumeration(Tag.KeyFormatType, KeyFormatType.X_509)], ResultReason.KeyFormatTypeNotSupported);
    await fails(h, v, Operation.Get, [uidItem(pub), ttlv.enumeration(Tag.KeyFormatType, KeyFormatType.PKCS_8)], ResultReason.KeyFormatTypeNotSupported);
  });

  test.each([
    [RecommendedCurve.P_256, 256, 'sha256'],
    [RecommendedCurve.P_384, 384, 'sha384'],
    [RecommendedCurve.P_521, 521, 'sha512'],
  ])('EC curve %i: ECDSA with the matching hash; SEC1 and Transparent EC forms', async (c, bits, hash) => {
    const { priv, pub } = await createPair(v, [alg(CryptographicAlgorithm.EC), curve(c)]);
    await activate(v, priv, pub);
    const [length] = await attributeValues(v, priv, 'Cryptographic Length', Tag.CryptographicLength);
    expect(length?.value).toBe(bits);
    const publicKey = await publicKeyOf(v, pub);
    const sig = await kmipSign(v, priv, MSG);
    expect(verify(hash, MSG, publicKey, sig)).toBe(true);
    expect(await kmipVerify(v, pub, MSG, sig)).toBe(ValidityIndicator.Valid);
    expect(await kmipVerify(v, pub, MSG, Buffer.from(sig).fill(0, 8, 12))).toBe(ValidityIndicator.Invalid);
    createPrivateKey({ key: derOf((await getMaterial(v, priv, KeyFormatType.ECPrivateKey)).material), format: 'der', type: 'sec1' });
    const tpub = (await getMaterial(v, pub, KeyFormatType.TransparentECPublicKey)).material as TtlvStructure;
    expect(enumOf(tpub, Tag.RecommendedCurve)).toBe(c);
    expect(bytesOf(tpub, Tag.QString)[0]).toBe(4);
  });

  test('Ed25519: sign, verify, Raw public key', async () => {
    const { priv, pub } = await createPair(v, [alg(CryptographicAlgorithm.Ed25519)]);
    await activate(v, priv, pub);
    const sig = await kmipSign(v, priv, MSG);
    expect(sig.length).toBe(64);
    expect(verify(null, MSG, await publicKeyOf(v, pub), sig)).toBe(true);
    expect(await kmipVerify(v, pub, MSG, sig)).toBe(ValidityIndicator.Valid);
    expect(derOf((await getMaterial(v, pub, KeyFormatType.Raw)).material).length).toBe(32);
  });

  test('Re-key Key Pair: a like pair, linked to the old one and to each other; Names move', async () => {
    const { priv, pub } = await createPair(v, [alg(CryptographicAlgorithm.EC), curve(RecommendedCurve.P_384)]);
    const [oldName] = await attributeValues(v, priv, 'Name', Tag.Name);
    const r = await ok(h, v, Operation.ReKeyKeyPair, [ttlv.textString(Tag.PrivateKeyUniqueIdentifier, priv)]);
    const newPriv = textOf(r, Tag.PrivateKeyUniqueIdentifier) ?? '';
    const newPub = textOf(r, Tag.PublicKeyUniqueIdentifier) ?? '';
    expect([newPriv, newPub]).not.toContain(priv);
    const links = async (uid: string) =>
      (await attributeValues(v, uid, 'Link', Tag.Link)).map((l) => [enumOf(l as TtlvStructure, Tag.LinkType), textOf(l as TtlvStructure, Tag.LinkedObjectIdentifier)]);
    expect(await links(newPriv)).toEqual(expect.arrayContaining([[LinkType.PublicKeyLink, newPub], [LinkType.ReplacedObjectLink, priv]]));
    expect(await links(newPub)).toEqual(expect.arrayContaining([[LinkType.PrivateKeyLink, newPriv], [LinkType.ReplacedObjectLink, pub]]));
    expect(await links(priv)).toEqual(expect.arrayContaining([[LinkType.ReplacementObjectLink, newPriv]]));
    expect(await links(pub)).toEqual(expect.arrayContaining([[LinkType.ReplacementObjectLink, newPub]]));
    const [movedName] = await attributeValues(v, newPriv, 'Name', Tag.Name);
    expect(movedName).toEqual(oldName);
    expect(await attributeValues(v, priv, 'Name', Tag.Name)).toEqual([]);
    const [length] = await attributeValues(v, newPriv, 'Cryptographic Length', Tag.CryptographicLength);
    expect(length?.value).toBe(384);
    await activate(v, newPriv, newPub);
    const sig = await kmipSign(v, newPriv, MSG);
    expect(verify('sha384', MSG, await publicKeyOf(v, newPub), sig)).toBe(true);
  });

  // RSA-1024 is the default policy's to refuse (test/integration/server/crypto-policy.test.ts); this
  // harness runs the legacy profile, under which only sizes the server cannot make are refused.
  test('refusals: short RSA, an algorithm that makes no pairs, no algorithm', async () => {
    expect(await fails(h, v, Operation.CreateKeyPair, createPairPayload(v, [alg(CryptographicAlgorithm.RSA), len(512)]), ResultReason.InvalidField)).toMatch(/512 bits are not offered/);
    expect(await fails(h, v, Operation.CreateKeyPair, createPairPayload(v, [alg(CryptographicAlgorithm.AES), len(256)]), ResultReason.InvalidField)).toMatch(/not offered/);
    await fails(h, v, Operation.CreateKeyPair, createPairPayload(v, [len(2048)]), ResultReason.MissingData);
  });
});

describe.each(VERSIONS)('KMIP %s registered keys and RSA encryption', (_label, v) => {
  const local = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const privDer = local.privateKey.export({ format: 'der', type: 'pkcs8' });
  const pubDer = local.publicKey.export({ format: 'der', type: 'spki' });

  async function registerRsa(format: 'private' | 'public', mask: number, extra: KmipAttribute[] = []): Promise<string> {
    const [type, fmt, der] = format === 'private' ? [ObjectType.PrivateKey, KeyFormatType.PKCS_8, privDer] : [ObjectType.PublicKey, KeyFormatType.X_509, pubDer];
    return registerKey(h, v, type, rawBlock(fmt, der, CryptographicAlgorithm.RSA, 2048), [maskAttr(mask), activeSince(), nameAttr('rsa'), ...extra]);
  }

  test('signatures made here verify there, and the other way', async () => {
    const priv = await registerRsa('private', CryptographicUsageMask.Sign);
    const pub = await registerRsa('public', CryptographicUsageMask.Verify);
    const p = params({ padding: PaddingMethod.PKCS1V1_5, hash: HashingAlgorithm.SHA_512 });
    const sig = await kmipSign(v, priv, MSG, p);
    expect(verify('sha512', MSG, local.publicKey, sig)).toBe(true);
    const localSig = sign('sha512', MSG, local.privateKey);
    expect(await kmipVerify(v, pub, MSG, localSig, p)).toBe(ValidityIndicator.Valid);
    // The registered key's algorithm and length were read from it.
    const [length] = await attributeValues(v, pub, 'Cryptographic Length', Tag.CryptographicLength);
    expect(length?.value).toBe(2048);
  });

  test('OAEP SHA-256: encrypted here, decrypted by OpenSSL; and back', async () => {
    const oaep = cryptoParamsAttr(params({ padding: PaddingMethod.OAEP, hash: HashingAlgorithm.SHA_256 }));
    const pub = await registerRsa('public', CryptographicUsageMask.Encrypt, [oaep]);
    const priv = await registerRsa('private', CryptographicUsageMask.Decrypt, [oaep]);
    const ct = bytesOf(await ok(h, v, Operation.Encrypt, [uidItem(pub), data(MSG)]), Tag.Data);
    expect(ct.length).toBe(256);
    expect(privateDecrypt({ key: local.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, ct).equals(MSG)).toBe(true);
    const mine = publicEncrypt({ key: local.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, MSG);
    expect(bytesOf(await ok(h, v, Operation.Decrypt, [uidItem(priv), data(mine)]), Tag.Data).equals(MSG)).toBe(true);
    // A corrupted ciphertext fails without plaintext.
    await fails(h, v, Operation.Decrypt, [uidItem(priv), data(Buffer.from(mine).fill(1, 0, 4))], ResultReason.CryptographicFailure);
    // Too long for OAEP-SHA-256 on a 2048-bit key (at most 190 bytes).
    await fails(h, v, Operation.Encrypt, [uidItem(pub), data(Buffer.alloc(191))], ResultReason.InvalidField);
  });

  test('OAEP with SHA-384 and MGF1-SHA-256 and a label: Python cryptography vector, and a round trip', async () => {
    const mixed = cryptoParamsAttr(params({ padding: PaddingMethod.OAEP, hash: HashingAlgorithm.SHA_384, mgfHash: HashingAlgorithm.SHA_256 }, Buffer.from('kmip')));
    const priv = await registerKey(h, v, ObjectType.PrivateKey, rawBlock(KeyFormatType.PKCS_8, hex(OAEP_KEY_PKCS8), CryptographicAlgorithm.RSA, 2048), [
      maskAttr(CryptographicUsageMask.Decrypt),
      activeSince(),
      nameAttr('oaep'),
      mixed,
    ]);
    const pt = bytesOf(await ok(h, v, Operation.Decrypt, [uidItem(priv), data(hex(OAEP_CIPHERTEXT))]), Tag.Data);
    expect(pt.toString()).toBe('mixed-hash OAEP vector');
    const spki = createPublicKey(createPrivateKey({ key: hex(OAEP_KEY_PKCS8), format: 'der', type: 'pkcs8' })).export({ format: 'der', type: 'spki' });
    const pub = await registerKey(h, v, ObjectType.PublicKey, rawBlock(KeyFormatType.X_509, spki, CryptographicAlgorithm.RSA, 2048), [
      maskAttr(CryptographicUsageMask.Encrypt),
      activeSince(),
      nameAttr('oaep'),
      mixed,
    ]);
    const ct = bytesOf(await ok(h, v, Operation.Encrypt, [uidItem(pub), data(MSG)]), Tag.Data);
    expect(bytesOf(await ok(h, v, Operation.Decrypt, [uidItem(priv), data(ct)]), Tag.Data).equals(MSG)).toBe(true);
    // A wrong label does not decrypt.
    await fails(
      h,
      v,
      Operation.Decrypt,
      [uidItem(priv), params({ padding: PaddingMethod.OAEP, hash: HashingAlgorithm.SHA_384, mgfHash: HashingAlgorithm.SHA_256 }, Buffer.from('other')), data(ct)],
      ResultReason.CryptographicFailure,
    );
  });

  test('PKCS#1 v1.5: OpenSSL-encrypted data decrypts; bad padding gives a stable decoy, not an error', async () => {
    const v15 = cryptoParamsAttr(params({ padding: PaddingMethod.PKCS1V1_5 }));
    const priv = await registerRsa('private', CryptographicUsageMask.Decrypt, [v15]);
    const pub = await registerRsa('public', CryptographicUsageMask.Encrypt, [v15]);
    const ct = publicEncrypt({ key: local.publicKey, padding: constants.RSA_PKCS1_PADDING }, MSG);
    expect(bytesOf(await ok(h, v, Operation.Decrypt, [uidItem(priv), data(ct)]), Tag.Data).equals(MSG)).toBe(true);
    const ours = bytesOf(await ok(h, v, Operation.Encrypt, [uidItem(pub), data(MSG)]), Tag.Data);
    expect(bytesOf(await ok(h, v, Operation.Decrypt, [uidItem(priv), data(ours)]), Tag.Data).equals(MSG)).toBe(true);
    const garbage = publicEncrypt({ key: local.publicKey, padding: constants.RSA_NO_PADDING }, Buffer.alloc(256, 0x42));
    const a = bytesOf(await ok(h, v, Operation.Decrypt, [uidItem(priv), data(garbage)]), Tag.Data);
    const b = bytesOf(await ok(h, v, Operation.Decrypt, [uidItem(priv), data(garbage)]), Tag.Data);
    expect(a.equals(b)).toBe(true);
    expect(a.equals(Buffer.alloc(256, 0x42))).toBe(false);
  });

  test('refusals: malformed DER, usage mask, EC keys do not encrypt', async () => {
    expect(
      await fails(
        h,
        v,
        Operation.Register,
        [
          ttlv.enumeration(Tag.ObjectType, ObjectType.PrivateKey),
          attributesFor(v, [maskAttr(CryptographicUsageMask.Sign)]),
          ttlv.structure(Tag.PrivateKey, [rawBlock(KeyFormatType.PKCS_1, hex('3082deadbeef'), CryptographicAlgorithm.RSA, 2048)]),
        ],
        ResultReason.InvalidField,
      ),
    ).toMatch(/the Key Material \(labelled PKCS#1\) is not a private key: it is none of PKCS#8 PrivateKeyInfo, PKCS#8 EncryptedPrivateKeyInfo, PKCS#1 RSAPrivateKey or SEC1 ECPrivateKey/);
    const verifyOnly = await registerRsa('public', CryptographicUsageMask.Verify);
    await fails(h, v, Operation.Encrypt, [uidItem(verifyOnly), data(MSG)], badMask(v));
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const ecPub = await registerKey(
      h,
      v,
      ObjectType.PublicKey,
      rawBlock(KeyFormatType.X_509, ec.publicKey.export({ format: 'der', type: 'spki' }), CryptographicAlgorithm.EC, 256),
      [maskAttr(CryptographicUsageMask.Encrypt), activeSince(), nameAttr('ec')],
    );
    expect(await fails(h, v, Operation.Encrypt, [uidItem(ecPub), data(MSG)], ResultReason.InvalidField)).toMatch(/only RSA keys/);
  });

  test('Transparent EC private key registered from its scalar signs like the original', async () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const d = BigInt(`0x${Buffer.from(ec.privateKey.export({ format: 'jwk' }).d ?? '', 'base64url').toString('hex')}`);
    const material = ttlv.structure(Tag.KeyMaterial, [ttlv.enumeration(Tag.RecommendedCurve, RecommendedCurve.P_384), ttlv.bigInteger(Tag.D, d)]);
    const format = v.major >= 2 ? KeyFormatType.TransparentECPrivateKey : KeyFormatType.TransparentECDSAPrivateKey;
    const priv = await registerKey(h, v, ObjectType.PrivateKey, rawBlock(format, material, CryptographicAlgorithm.EC, 384), [
      maskAttr(CryptographicUsageMask.Sign),
      activeSince(),
      nameAttr('tec'),
    ]);
    const sig = await kmipSign(v, priv, MSG);
    expect(verify('sha384', MSG, ec.publicKey, sig)).toBe(true);
  });
});

describe.each(VERSIONS)('KMIP %s certificates', (_label, v) => {
  let certDer: Buffer;
  let leafKey: KeyObject;
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-cert-'));
    createCertificateAuthority(dir, { commonName: 'Crypto Test CA' });
    const leaf = issueServerCertificate(dir, dir, { commonName: 'leaf.example', dnsNames: ['leaf.example'] });
    certDer = new X509Certificate(leaf.certPem).raw;
    leafKey = createPrivateKey(leaf.keyPem);
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  function registerCert(der: Buffer) {
    return [
      ttlv.enumeration(Tag.ObjectType, ObjectType.Certificate),
      attributesFor(v, [maskAttr(CryptographicUsageMask.Verify), nameAttr('cert'), activeSince()]),
      ttlv.structure(Tag.Certificate, [ttlv.enumeration(Tag.CertificateType, 1), ttlv.byteString(Tag.CertificateValue, der)]),
    ];
  }

  test('Register parses the certificate and sets its attributes', async () => {
    const uid = textOf(await ok(h, v, Operation.Register, registerCert(certDer)), Tag.UniqueIdentifier) ?? '';
    const [length] = await attributeValues(v, uid, 'Certificate Length', Tag.CertificateLength);
    expect(length?.value).toBe(certDer.length);
    const [sigAlg] = await attributeValues(v, uid, 'Digital Signature Algorithm', Tag.DigitalSignatureAlgorithm);
    expect(sigAlg?.value).toBe(DigitalSignatureAlgorithm.ECDSAWithSHA256);
    const [algorithm] = await attributeValues(v, uid, 'Cryptographic Algorithm', Tag.CryptographicAlgorithm);
    expect(algorithm?.value).toBe(CryptographicAlgorithm.EC);
    const [subject] = await attributeValues(v, uid, 'X.509 Certificate Subject', Tag.X_509CertificateSubject);
    const dn = bytesOf(subject as TtlvStructure, Tag.SubjectDistinguishedName);
    expect(dn.toString('latin1')).toContain('leaf.example');
    expect(find(subject as TtlvStructure, Tag.SubjectAlternativeName)).toBeDefined();
    const [ident] = await attributeValues(v, uid, 'X.509 Certificate Identifier', Tag.X_509CertificateIdentifier);
    expect(bytesOf(ident as TtlvStructure, Tag.IssuerDistinguishedName).toString('latin1')).toContain('Crypto Test CA');
    if (v.major === 1) {
      const [text] = await attributeValues(v, uid, 'Certificate Subject', Tag.CertificateSubject);
      expect(textOf(text as TtlvStructure, Tag.CertificateSubjectDistinguishedName)).toContain('CN=leaf.example');
    }
  });

  test('Signature Verify with a certificate uses its public key', async () => {
    const uid = textOf(await ok(h, v, Operation.Register, registerCert(certDer)), Tag.UniqueIdentifier) ?? '';
    const sig = sign('sha256', MSG, leafKey);
    expect(await kmipVerify(v, uid, MSG, sig)).toBe(ValidityIndicator.Valid);
    expect(await kmipVerify(v, uid, Buffer.from('other'), sig)).toBe(ValidityIndicator.Invalid);
  });

  test('malformed DER: Invalid Field with the reason', async () => {
    expect(await fails(h, v, Operation.Register, registerCert(certDer.subarray(0, certDer.length - 5)), ResultReason.InvalidField)).toMatch(/not a valid X.509 certificate/);
    expect(await fails(h, v, Operation.Register, registerCert(Buffer.concat([certDer, Buffer.from([0])])), ResultReason.InvalidField)).toMatch(/bytes follow/);
  });
});
