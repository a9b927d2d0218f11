/**
 * The key material real clients send (issue 13, item 1), in-process over a real SQLite store and
 * SoftHSM2 token: private keys as PKCS#8 (plain and encrypted), PKCS#1 and SEC1, public keys as
 * SubjectPublicKeyInfo and PKCS#1, under their own label and under the others clients use (PKCS#8,
 * Raw); Get as registered and converted; refusals of what is none of them; size caps; HMAC and
 * derived key lengths; objects without a Key Value; XOR split keys with a threshold below the
 * part count. Every key is generated here with node:crypto.
 */
import { createHmac, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';
import { ItemType, ttlv, type TtlvItem, type TtlvStructure } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import {
  CryptographicAlgorithm,
  CryptographicUsageMask,
  DerivationMethod,
  HashingAlgorithm,
  KeyFormatType,
  ObjectType,
  Operation,
  ResultReason,
  SecretDataType,
  SplitKeyMethod,
  ValidityIndicator,
} from '../../../src/spec/generated/enums';
import type { KmipAttribute } from '../../../src/kmip/attributes';
import type { ProtocolVersion } from '../../../src/spec/versions';
import { attributesFor, find, successPayload, textOf, type ParsedResponse } from '../../helpers/kmip-client';
import { V14, V21, VERSIONS, attributeValues, bytesOf, failure, openHarness, uidItem, type Harness } from '../../helpers/ops-harness';

/** Import is an administrator operation; alice as an administrator keeps the objects hers. */
const aliceAdmin = { name: 'alice', isAdmin: true };

const V11: ProtocolVersion = { major: 1, minor: 1 };

let h: Harness;
beforeAll(async () => {
  h = await openHarness('keyformats');
});
afterAll(async () => {
  await h.close();
});

const mask = (m: number): KmipAttribute => ({ name: 'Cryptographic Usage Mask', value: ttlv.integer(Tag.CryptographicUsageMask, m) });
const SIGN = mask(CryptographicUsageMask.Sign);
const VERIFY = mask(CryptographicUsageMask.Verify);
const activeSince: KmipAttribute = { name: 'Activation Date', value: ttlv.dateTime(Tag.ActivationDate, BigInt(Math.floor(Date.now() / 1000) - 3600)) };

const BODY_TAG: Readonly<Record<number, number>> = {
  [ObjectType.PrivateKey]: Tag.PrivateKey,
  [ObjectType.PublicKey]: Tag.PublicKey,
  [ObjectType.SymmetricKey]: Tag.SymmetricKey,
  [ObjectType.SecretData]: Tag.SecretData,
  [ObjectType.SplitKey]: Tag.SplitKey,
};

/** A key block as clients send it: the label they chose, the bytes they have, algorithm and length when given. */
function block(format: number, material: Uint8Array | undefined, algorithm?: number, length?: number): TtlvStructure {
  const items: TtlvItem[] = [ttlv.enumeration(Tag.KeyFormatType, format)];
  if (material) items.push(ttlv.structure(Tag.KeyValue, [ttlv.byteString(Tag.KeyMaterial, material)]));
  if (algorithm !== undefined) items.push(ttlv.enumeration(Tag.CryptographicAlgorithm, algorithm));
  if (length !== undefined) items.push(ttlv.integer(Tag.CryptographicLength, length));
  return ttlv.structure(Tag.KeyBlock, items);
}

function registerPayload(v: ProtocolVersion, objectType: number, body: TtlvItem[], attrs: KmipAttribute[] = [SIGN]): TtlvItem[] {
  return [ttlv.enumeration(Tag.ObjectType, objectType), attributesFor(v, attrs), ttlv.structure(BODY_TAG[objectType]!, body)];
}

async function register(v: ProtocolVersion, objectType: number, body: TtlvItem[], attrs?: KmipAttribute[]): Promise<string> {
  return textOf(successPayload(await h.send(v, Operation.Register, registerPayload(v, objectType, body, attrs))), Tag.UniqueIdentifier)!;
}

/** The failure's reason and message (the test fails if it succeeded). */
function refusal(r: ParsedResponse): { reason: number | undefined; message: string } {
  return { reason: failure(r), message: r.items[0]!.message ?? '' };
}

async function getBlock(v: ProtocolVersion, uid: string, objectType: number, format?: number): Promise<TtlvStructure> {
  const payload: TtlvItem[] = [uidItem(uid)];
  if (format !== undefined) payload.push(ttlv.enumeration(Tag.KeyFormatType, format));
  const p = successPayload(await h.send(v, Operation.Get, payload));
  return find(find(p, BODY_TAG[objectType]!) as TtlvStructure, Tag.KeyBlock) as TtlvStructure;
}

function formatOf(b: TtlvStructure): number | undefined {
  const f = find(b, Tag.KeyFormatType);
  return f?.type === ItemType.Enumeration ? f.value : undefined;
}

function materialOf(b: TtlvStructure): Buffer {
  return bytesOf(find(find(b, Tag.KeyValue) as TtlvStructure, Tag.KeyMaterial));
}

async function intAttribute(v: ProtocolVersion, uid: string, name: string, tag: number): Promise<number | undefined> {
  const [value] = await attributeValues(h, v, uid, name, tag);
  return value && (value.type === ItemType.Integer || value.type === ItemType.Enumeration) ? value.value : undefined;
}

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-384' });
const ed = generateKeyPairSync('ed25519');

const der = (k: KeyObject, type: 'pkcs1' | 'pkcs8' | 'sec1' | 'spki'): Buffer => k.export({ format: 'der', type } as never) as Buffer;
const encryptedPkcs8 = rsa.privateKey.export({ format: 'der', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: 'client secret' });

/** The private keys clients send: what the bytes are, and the key they hold. */
const PRIVATE_BYTES: readonly { name: string; bytes: Buffer; key: KeyObject; algorithm: number; length: number }[] = [
  { name: 'RSA PKCS#8', bytes: der(rsa.privateKey, 'pkcs8'), key: rsa.privateKey, algorithm: CryptographicAlgorithm.RSA, length: 2048 },
  { name: 'RSA PKCS#1', bytes: der(rsa.privateKey, 'pkcs1'), key: rsa.privateKey, algorithm: CryptographicAlgorithm.RSA, length: 2048 },
  { name: 'EC SEC1', bytes: der(ec.privateKey, 'sec1'), key: ec.privateKey, algorithm: CryptographicAlgorithm.EC, length: 384 },
  { name: 'EC PKCS#8', bytes: der(ec.privateKey, 'pkcs8'), key: ec.privateKey, algorithm: CryptographicAlgorithm.EC, length: 384 },
];
const PRIVATE_LABELS: readonly [string, number][] = [
  ['PKCS#8', KeyFormatType.PKCS_8],
  ['PKCS#1', KeyFormatType.PKCS_1],
  ['ECPrivateKey', KeyFormatType.ECPrivateKey],
  ['Raw', KeyFormatType.Raw],
];

describe.each(VERSIONS)('KMIP %s private keys', (_label, v) => {
  const cases = PRIVATE_BYTES.flatMap((k) => PRIVATE_LABELS.map(([labelName, label]) => ({ ...k, labelName, label })));

  test.each(cases)('$name labelled $labelName: kept as sent, converted on Get, usable', async ({ bytes, key, label, algorithm, length }) => {
    // Neither algorithm nor length in the block: both come from the key itself.
    const uid = await register(v, ObjectType.PrivateKey, [block(label, bytes)], [SIGN, activeSince]);
    const stored = await getBlock(v, uid, ObjectType.PrivateKey);
    expect(formatOf(stored)).toBe(label);
    expect(materialOf(stored).equals(bytes)).toBe(true);
    expect(await intAttribute(v, uid, 'Cryptographic Algorithm', Tag.CryptographicAlgorithm)).toBe(algorithm);
    expect(await intAttribute(v, uid, 'Cryptographic Length', Tag.CryptographicLength)).toBe(length);

    const asPkcs8 = await getBlock(v, uid, ObjectType.PrivateKey, KeyFormatType.PKCS_8);
    expect(formatOf(asPkcs8)).toBe(KeyFormatType.PKCS_8);
    expect(materialOf(asPkcs8).equals(der(key, 'pkcs8'))).toBe(true);
    const own = algorithm === CryptographicAlgorithm.RSA ? KeyFormatType.PKCS_1 : KeyFormatType.ECPrivateKey;
    const asOwn = await getBlock(v, uid, ObjectType.PrivateKey, own);
    expect(formatOf(asOwn)).toBe(own);
    expect(materialOf(asOwn).equals(der(key, algorithm === CryptographicAlgorithm.RSA ? 'pkcs1' : 'sec1'))).toBe(true);

    // The server signs with it, whatever the label said.
    const data = Buffer.from('signed by a mislabelled key');
    const p = successPayload(await h.send(v, Operation.Sign, [uidItem(uid), ttlv.structure(Tag.CryptographicParameters, [ttlv.enumeration(Tag.HashingAlgorithm, HashingAlgorithm.SHA_256)]), ttlv.byteString(Tag.Data, data)]));
    const signature = bytesOf(find(p, Tag.SignatureData));
    expect(verify('sha256', data, createPublicKey(key), signature)).toBe(true);
  });

  test('a PKCS#8 EncryptedPrivateKeyInfo is stored as given; Get gives it back under PKCS#8 and refuses to convert it', async () => {
    const attrs = [SIGN, activeSince];
    const uid = await register(v, ObjectType.PrivateKey, [block(KeyFormatType.PKCS_8, encryptedPkcs8, CryptographicAlgorithm.RSA, 2048)], attrs);
    const stored = await getBlock(v, uid, ObjectType.PrivateKey);
    expect(materialOf(stored).equals(encryptedPkcs8)).toBe(true);
    // Still the client's own key: it opens with the client's password.
    expect(createPrivateKey({ key: materialOf(stored), format: 'der', type: 'pkcs8', passphrase: 'client secret' }).export({ format: 'jwk' }).d).toBe(rsa.privateKey.export({ format: 'jwk' }).d);
    expect(materialOf(await getBlock(v, uid, ObjectType.PrivateKey, KeyFormatType.PKCS_8)).equals(encryptedPkcs8)).toBe(true);
    const r = refusal(await h.send(v, Operation.Get, [uidItem(uid), ttlv.enumeration(Tag.KeyFormatType, KeyFormatType.PKCS_1)]));
    expect(r.reason).toBe(ResultReason.KeyFormatTypeNotSupported);
    expect(r.message).toMatch(/encrypted PKCS#8 .* cannot use or convert it/);
    const s = refusal(await h.send(v, Operation.Sign, [uidItem(uid), ttlv.byteString(Tag.Data, Buffer.from('x'))]));
    expect(s.reason).toBe(ResultReason.KeyFormatTypeNotSupported);
    // Labelled PKCS#1, the same bytes are recognised as what they are.
    const mislabelled = await register(v, ObjectType.PrivateKey, [block(KeyFormatType.PKCS_1, encryptedPkcs8)], attrs);
    const back = await getBlock(v, mislabelled, ObjectType.PrivateKey, KeyFormatType.PKCS_8);
    expect(formatOf(back)).toBe(KeyFormatType.PKCS_8);
    expect(materialOf(back).equals(encryptedPkcs8)).toBe(true);
  });

  test('Raw EdDSA keys stay what they were', async () => {
    const raw = Buffer.from(ed.privateKey.export({ format: 'jwk' }).d!, 'base64url');
    const uid = await register(v, ObjectType.PrivateKey, [block(KeyFormatType.Raw, raw)], [SIGN]);
    expect(await intAttribute(v, uid, 'Cryptographic Algorithm', Tag.CryptographicAlgorithm)).toBe(CryptographicAlgorithm.Ed25519);
    expect(materialOf(await getBlock(v, uid, ObjectType.PrivateKey, KeyFormatType.PKCS_8)).equals(der(ed.privateKey, 'pkcs8'))).toBe(true);
    // PKCS#8 bytes of an Ed25519 key labelled Raw: read as PKCS#8, and Raw asked for gives the raw key.
    const uid2 = await register(v, ObjectType.PrivateKey, [block(KeyFormatType.Raw, der(ed.privateKey, 'pkcs8'))], [SIGN]);
    expect(materialOf(await getBlock(v, uid2, ObjectType.PrivateKey, KeyFormatType.Raw)).equals(raw)).toBe(true);
  });

  test('an RSA key labelled Raw: Get as registered, or in a real format when asked', async () => {
    const bytes = der(rsa.privateKey, 'pkcs8');
    const uid = await register(v, ObjectType.PrivateKey, [block(KeyFormatType.Raw, bytes, CryptographicAlgorithm.RSA, 2048)]);
    expect(materialOf(await getBlock(v, uid, ObjectType.PrivateKey, KeyFormatType.Raw)).equals(bytes)).toBe(true);
    const t = await getBlock(v, uid, ObjectType.PrivateKey, KeyFormatType.TransparentRSAPrivateKey);
    const modulus = find(find(find(t, Tag.KeyValue) as TtlvStructure, Tag.KeyMaterial) as TtlvStructure, Tag.Modulus);
    expect(modulus?.type === ItemType.BigInteger ? modulus.value : undefined).toBe(BigInt(`0x${Buffer.from(rsa.privateKey.export({ format: 'jwk' }).n!, 'base64url').toString('hex')}`));
  });
});

const PUBLIC_BYTES: readonly { name: string; bytes: Buffer; key: KeyObject; algorithm: number; length: number }[] = [
  { name: 'RSA SubjectPublicKeyInfo', bytes: der(rsa.publicKey, 'spki'), key: rsa.publicKey, algorithm: CryptographicAlgorithm.RSA, length: 2048 },
  { name: 'RSA PKCS#1', bytes: der(rsa.publicKey, 'pkcs1'), key: rsa.publicKey, algorithm: CryptographicAlgorithm.RSA, length: 2048 },
  { name: 'EC SubjectPublicKeyInfo', bytes: der(ec.publicKey, 'spki'), key: ec.publicKey, algorithm: CryptographicAlgorithm.EC, length: 384 },
  { name: 'Ed25519 SubjectPublicKeyInfo', bytes: der(ed.publicKey, 'spki'), key: ed.publicKey, algorithm: CryptographicAlgorithm.Ed25519, length: 256 },
];
const PUBLIC_LABELS: readonly [string, number][] = [
  ['X.509', KeyFormatType.X_509],
  ['PKCS#1', KeyFormatType.PKCS_1],
  ['Raw', KeyFormatType.Raw],
];

describe.each(VERSIONS)('KMIP %s public keys', (_label, v) => {
  const cases = PUBLIC_BYTES.flatMap((k) => PUBLIC_LABELS.map(([labelName, label]) => ({ ...k, labelName, label })));

  test.each(cases)('$name labelled $labelName: kept as sent, converted on Get, verifies', async ({ bytes, key, label, algorithm, length }) => {
    const uid = await register(v, ObjectType.PublicKey, [block(label, bytes)], [VERIFY, activeSince]);
    const stored = await getBlock(v, uid, ObjectType.PublicKey);
    expect(formatOf(stored)).toBe(label);
    expect(materialOf(stored).equals(bytes)).toBe(true);
    expect(await intAttribute(v, uid, 'Cryptographic Algorithm', Tag.CryptographicAlgorithm)).toBe(algorithm);
    expect(await intAttribute(v, uid, 'Cryptographic Length', Tag.CryptographicLength)).toBe(length);
    expect(materialOf(await getBlock(v, uid, ObjectType.PublicKey, KeyFormatType.X_509)).equals(der(key, 'spki'))).toBe(true);
    if (algorithm === CryptographicAlgorithm.RSA) {
      expect(materialOf(await getBlock(v, uid, ObjectType.PublicKey, KeyFormatType.PKCS_1)).equals(der(key, 'pkcs1'))).toBe(true);
      const data = Buffer.from('verified with a mislabelled key');
      const signature = sign('sha256', data, rsa.privateKey);
      const p = successPayload(
        await h.send(v, Operation.SignatureVerify, [
          uidItem(uid),
          ttlv.structure(Tag.CryptographicParameters, [ttlv.enumeration(Tag.HashingAlgorithm, HashingAlgorithm.SHA_256)]),
          ttlv.byteString(Tag.Data, data),
          ttlv.byteString(Tag.SignatureData, signature),
        ]),
      );
      expect(find(p, Tag.ValidityIndicator)).toMatchObject({ value: ValidityIndicator.Valid });
    } else if (label !== KeyFormatType.PKCS_1) {
      expect(refusal(await h.send(v, Operation.Get, [uidItem(uid), ttlv.enumeration(Tag.KeyFormatType, KeyFormatType.PKCS_1)])).reason).toBe(ResultReason.KeyFormatTypeNotSupported);
    } else {
      // Asked for the label it was registered under, which has no form for this key: as registered.
      expect(materialOf(await getBlock(v, uid, ObjectType.PublicKey, KeyFormatType.PKCS_1)).equals(bytes)).toBe(true);
    }
  });
});

/** An RSAPublicKey with a modulus of exactly `bits` bits (not a real key: only its size matters here). */
function rsaPublicOfBits(bits: number): Buffer {
  const n = randomBytes(bits / 8);
  n[0]! |= 0x80;
  n[n.length - 1]! |= 1;
  const seq = new asn1js.Sequence({
    value: [new asn1js.Integer({ valueHex: Buffer.concat([Buffer.from([0]), n]) }), new asn1js.Integer({ value: 65537 })],
  });
  return Buffer.from(seq.toBER(false));
}

const PRIVATE_TRIED = /the Key Material \(labelled PKCS#8\) is not a private key: it is none of PKCS#8 PrivateKeyInfo, PKCS#8 EncryptedPrivateKeyInfo, PKCS#1 RSAPrivateKey or SEC1 ECPrivateKey/;

describe.each(VERSIONS)('KMIP %s refusals', (_label, v) => {
  const pkcs8 = der(rsa.privateKey, 'pkcs8');
  test.each([
    ['random bytes', randomBytes(200)],
    ['a truncated key', pkcs8.subarray(0, pkcs8.length - 10)],
    ['a key with trailing bytes', Buffer.concat([pkcs8, Buffer.from([0x00, 0x00])])],
    ['an empty string', Buffer.alloc(0)],
    ['a SEQUENCE of the wrong shape', Buffer.from('30050403010203', 'hex')],
  ])('private key: %s is Invalid Field naming every encoding tried', async (_what, bytes) => {
    const r = refusal(await h.send(v, Operation.Register, registerPayload(v, ObjectType.PrivateKey, [block(KeyFormatType.PKCS_8, bytes, CryptographicAlgorithm.RSA, 2048)])));
    expect(r.reason).toBe(ResultReason.InvalidField);
    expect(r.message).toMatch(PRIVATE_TRIED);
  });

  test('public key: garbage labelled Raw names the DER encodings and Raw EdDSA', async () => {
    const r = refusal(await h.send(v, Operation.Register, registerPayload(v, ObjectType.PublicKey, [block(KeyFormatType.Raw, randomBytes(100))], [VERIFY])));
    expect(r.reason).toBe(ResultReason.InvalidField);
    expect(r.message).toBe('the Key Material (labelled Raw) is not a public key: it is none of X.509 SubjectPublicKeyInfo, PKCS#1 RSAPublicKey or Raw Ed25519 or Ed448');
  });

  test('a private key registered as a public key, and the other way round', async () => {
    const a = refusal(await h.send(v, Operation.Register, registerPayload(v, ObjectType.PublicKey, [block(KeyFormatType.X_509, pkcs8)], [VERIFY])));
    expect(a).toEqual({ reason: ResultReason.InvalidField, message: 'the Key Material (labelled X.509) is a private key, not a public key' });
    const b = refusal(await h.send(v, Operation.Register, registerPayload(v, ObjectType.PrivateKey, [block(KeyFormatType.PKCS_8, der(rsa.publicKey, 'spki'))])));
    expect(b).toEqual({ reason: ResultReason.InvalidField, message: 'the Key Material (labelled PKCS#8) is a public key, not a private key' });
  });

  test('a structure that matches but holds no valid key', async () => {
    // An RSAPrivateKey of nine INTEGERs that are all 1: the right shape, not a key.
    const fake = new asn1js.Sequence({ value: [new asn1js.Integer({ value: 0 }), ...Array.from({ length: 8 }, () => new asn1js.Integer({ value: 1 }))] });
    const r = refusal(await h.send(v, Operation.Register, registerPayload(v, ObjectType.PrivateKey, [block(KeyFormatType.PKCS_1, Buffer.from(fake.toBER(false)))])));
    expect(r).toEqual({ reason: ResultReason.InvalidField, message: 'an RSA modulus of 1 bits is not a key' });
    // A real key with one prime changed: OpenSSL loads it, the arithmetic does not hold.
    const parts = (asn1js.fromBER(der(rsa.privateKey, 'pkcs1')).result as asn1js.Sequence).valueBlock.value;
    const p = Buffer.from((parts[4] as asn1js.Integer).valueBlock.valueHexView);
    p[p.length - 1]! ^= 2;
    const broken = new asn1js.Sequence({ value: parts.map((x, i) => (i === 4 ? new asn1js.Integer({ valueHex: p }) : x)) });
    const b = refusal(await h.send(v, Operation.Register, registerPayload(v, ObjectType.PrivateKey, [block(KeyFormatType.PKCS_1, Buffer.from(broken.toBER(false)))])));
    expect(b).toEqual({ reason: ResultReason.InvalidField, message: 'the RSA private key is inconsistent: its primes, exponents and coefficient do not belong together' });
  });

  test('EC keys with explicit curve parameters are refused: named curves only', async () => {
    // The same P-384 key, its curve written out as parameters instead of named by OID.
    const named = der(ec.privateKey, 'sec1');
    const parsed = asn1js.fromBER(named).result as asn1js.Sequence;
    const explicit = new asn1js.Sequence({
      value: [
        parsed.valueBlock.value[0]!,
        parsed.valueBlock.value[1]!,
        new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 0 }, value: [new asn1js.Sequence({ value: [new asn1js.Integer({ value: 1 })] })] }),
      ],
    });
    const r = refusal(await h.send(v, Operation.Register, registerPayload(v, ObjectType.PrivateKey, [block(KeyFormatType.ECPrivateKey, Buffer.from(explicit.toBER(false)))])));
    expect(r).toEqual({ reason: ResultReason.InvalidField, message: 'the Key Material is an EC key with explicit curve parameters: only named curves are accepted' });
  });

  test('RSA modulus: 16,384 bits accepted, 16,392 refused by default', async () => {
    const uid = await register(v, ObjectType.PublicKey, [block(KeyFormatType.PKCS_1, rsaPublicOfBits(16_384))], [VERIFY]);
    expect(await intAttribute(v, uid, 'Cryptographic Length', Tag.CryptographicLength)).toBe(16_384);
    const r = refusal(await h.send(v, Operation.Register, registerPayload(v, ObjectType.PublicKey, [block(KeyFormatType.PKCS_1, rsaPublicOfBits(16_392))], [VERIFY])));
    expect(r).toEqual({ reason: ResultReason.InvalidField, message: "the RSA modulus of 16392 bits is above the server's limit of 16384 bits (limits.maxRsaModulusBits)" });
  });
});

describe('configured RSA cap', () => {
  let small: Harness;
  beforeAll(async () => {
    small = await openHarness('keyformats-cap', { maxRsaModulusBits: 2048, keys: h.embedded.core.keys });
  });
  afterAll(async () => {
    await small.close();
  });

  test('limits.maxRsaModulusBits 2048: a 2048-bit key in, a 3072-bit key out (Register and Import)', async () => {
    const big = generateKeyPairSync('rsa', { modulusLength: 3072 }).privateKey;
    const ok = await small.send(V21, Operation.Register, registerPayload(V21, ObjectType.PrivateKey, [block(KeyFormatType.PKCS_8, der(rsa.privateKey, 'pkcs1'))]));
    expect(textOf(successPayload(ok), Tag.UniqueIdentifier)).toBeDefined();
    const r = refusal(await small.send(V21, Operation.Register, registerPayload(V21, ObjectType.PrivateKey, [block(KeyFormatType.PKCS_8, der(big, 'pkcs8'))])));
    expect(r).toEqual({ reason: ResultReason.InvalidField, message: "the RSA modulus of 3072 bits is above the server's limit of 2048 bits (limits.maxRsaModulusBits)" });
    const imported = refusal(
      await small.send(V21, Operation.Import, [
        ttlv.textString(Tag.UniqueIdentifier, 'imported-big'),
        ttlv.enumeration(Tag.ObjectType, ObjectType.PrivateKey),
        attributesFor(V21, [SIGN]),
        ttlv.structure(Tag.PrivateKey, [block(KeyFormatType.PKCS_1, der(big, 'pkcs1'))]),
      ], aliceAdmin),
    );
    expect(imported.reason).toBe(ResultReason.InvalidField);
  });
});

describe.each(VERSIONS)('KMIP %s Import and Re-key Key Pair of mislabelled keys', (_label, v) => {
  test('Import takes PKCS#1 bytes labelled PKCS#8 and Get converts them', async () => {
    const uid = `imported-${v.major}${v.minor}-${randomBytes(4).toString('hex')}`;
    const bytes = der(rsa.privateKey, 'pkcs1');
    await h.send(v, Operation.Import, [
      ttlv.textString(Tag.UniqueIdentifier, uid),
      ttlv.enumeration(Tag.ObjectType, ObjectType.PrivateKey),
      attributesFor(v, [SIGN]),
      ttlv.structure(Tag.PrivateKey, [block(KeyFormatType.PKCS_8, bytes, CryptographicAlgorithm.RSA, 2048)]),
    ], aliceAdmin).then(successPayload);
    expect(materialOf(await getBlock(v, uid, ObjectType.PrivateKey)).equals(bytes)).toBe(true);
    expect(materialOf(await getBlock(v, uid, ObjectType.PrivateKey, KeyFormatType.PKCS_8)).equals(der(rsa.privateKey, 'pkcs8'))).toBe(true);
    const bad = refusal(
      await h.send(v, Operation.Import, [
        ttlv.textString(Tag.UniqueIdentifier, `${uid}-bad`),
        ttlv.enumeration(Tag.ObjectType, ObjectType.PrivateKey),
        attributesFor(v, [SIGN]),
        ttlv.structure(Tag.PrivateKey, [block(KeyFormatType.PKCS_8, randomBytes(64))]),
      ], aliceAdmin),
    );
    expect(bad.reason).toBe(ResultReason.InvalidField);
    expect(bad.message).toMatch(PRIVATE_TRIED);
  });

  test('Re-key Key Pair of a pair registered as SEC1 labelled PKCS#8 and SPKI labelled Raw', async () => {
    const priv = await register(v, ObjectType.PrivateKey, [block(KeyFormatType.PKCS_8, der(ec.privateKey, 'sec1'))], [SIGN]);
    const pub = await register(v, ObjectType.PublicKey, [block(KeyFormatType.Raw, der(ec.publicKey, 'spki'))], [
      VERIFY,
      { name: 'Link', value: ttlv.structure(Tag.Link, [ttlv.enumeration(Tag.LinkType, 0x00000102), ttlv.textString(Tag.LinkedObjectIdentifier, priv)]) },
    ]);
    await h.send(v, Operation.AddAttribute, [uidItem(priv), v.major >= 2
      ? ttlv.structure(Tag.NewAttribute, [ttlv.structure(Tag.Link, [ttlv.enumeration(Tag.LinkType, 0x00000103), ttlv.textString(Tag.LinkedObjectIdentifier, pub)])])
      : ttlv.structure(Tag.Attribute, [ttlv.textString(Tag.AttributeName, 'Link'), ttlv.structure(Tag.AttributeValue, [ttlv.enumeration(Tag.LinkType, 0x00000103), ttlv.textString(Tag.LinkedObjectIdentifier, pub)])])]).then(successPayload);
    const p = successPayload(await h.send(v, Operation.ReKeyKeyPair, [ttlv.textString(Tag.PrivateKeyUniqueIdentifier, priv)]));
    const newPriv = textOf(p, Tag.PrivateKeyUniqueIdentifier)!;
    expect(await intAttribute(v, newPriv, 'Cryptographic Length', Tag.CryptographicLength)).toBe(384);
  });
});

describe('HMAC keys and derived key lengths', () => {
  const v = V14;

  test('an HMAC-SHA1 key of 160 bits: Create, Register, MAC', async () => {
    const hmacAttrs: KmipAttribute[] = [
      { name: 'Cryptographic Algorithm', value: ttlv.enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.HMAC_SHA1) },
      { name: 'Cryptographic Length', value: ttlv.integer(Tag.CryptographicLength, 160) },
      mask(CryptographicUsageMask.MACGenerate),
    ];
    const created = successPayload(await h.send(v, Operation.Create, [ttlv.enumeration(Tag.ObjectType, ObjectType.SymmetricKey), attributesFor(v, hmacAttrs)]));
    expect(textOf(created, Tag.UniqueIdentifier)).toBeDefined();
    // Odd lengths too: RFC 2104 keys are any whole number of bytes.
    const odd = [...hmacAttrs.slice(0, 1), { name: 'Cryptographic Length', value: ttlv.integer(Tag.CryptographicLength, 8 * 77) }, hmacAttrs[2]!];
    expect(textOf(successPayload(await h.send(v, Operation.Create, [ttlv.enumeration(Tag.ObjectType, ObjectType.SymmetricKey), attributesFor(v, odd)])), Tag.UniqueIdentifier)).toBeDefined();
    expect(failure(await h.send(v, Operation.Create, [ttlv.enumeration(Tag.ObjectType, ObjectType.SymmetricKey), attributesFor(v, [hmacAttrs[0]!, { name: 'Cryptographic Length', value: ttlv.integer(Tag.CryptographicLength, 161) }, hmacAttrs[2]!])]))).toBe(ResultReason.InvalidField);

    const key = randomBytes(20);
    const uid = await register(v, ObjectType.SymmetricKey, [block(KeyFormatType.Raw, key, CryptographicAlgorithm.HMAC_SHA1, 160)], [mask(CryptographicUsageMask.MACGenerate), activeSince]);
    const data = Buffer.from('what the MAC covers');
    const p = successPayload(await h.send(v, Operation.MAC, [uidItem(uid), ttlv.structure(Tag.CryptographicParameters, [ttlv.enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.HMAC_SHA1)]), ttlv.byteString(Tag.Data, data)]));
    expect(bytesOf(find(p, Tag.MACData)).equals(createHmac('sha1', key).update(data).digest())).toBe(true);
  });

  function deriveRequest(password: string, algorithm: number, bits: number): TtlvItem[] {
    return [
      ttlv.enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
      uidItem(password),
      ttlv.enumeration(Tag.DerivationMethod, DerivationMethod.PBKDF2),
      ttlv.structure(Tag.DerivationParameters, [
        ttlv.structure(Tag.CryptographicParameters, [ttlv.enumeration(Tag.HashingAlgorithm, HashingAlgorithm.SHA_1)]),
        ttlv.byteString(Tag.Salt, Buffer.from('salt')),
        ttlv.integer(Tag.IterationCount, 4096),
      ]),
      attributesFor(v, [
        { name: 'Cryptographic Algorithm', value: ttlv.enumeration(Tag.CryptographicAlgorithm, algorithm) },
        { name: 'Cryptographic Length', value: ttlv.integer(Tag.CryptographicLength, bits) },
      ]),
    ];
  }

  test('Derive Key with PBKDF2-HMAC-SHA1: a 160-bit key (RFC 6070 vector), any whole-byte length, never a part byte', async () => {
    const password = await register(v, ObjectType.SecretData, [ttlv.enumeration(Tag.SecretDataType, SecretDataType.Password), block(KeyFormatType.Opaque, Buffer.from('password'))], [
      mask(CryptographicUsageMask.DeriveKey),
    ]);
    for (const algorithm of [CryptographicAlgorithm.AES, CryptographicAlgorithm.HMAC_SHA1]) {
      const uid = textOf(successPayload(await h.send(v, Operation.DeriveKey, deriveRequest(password, algorithm, 160))), Tag.UniqueIdentifier)!;
      const key = materialOf(await getBlock(v, uid, ObjectType.SymmetricKey));
      expect(key.toString('hex')).toBe('4b007901b765489abead49d926f721d065a429c1');
      expect(await intAttribute(v, uid, 'Cryptographic Length', Tag.CryptographicLength)).toBe(160);
    }
    // Re-key repeats the derived key's length: a fresh 160-bit key.
    const derived = textOf(successPayload(await h.send(v, Operation.DeriveKey, deriveRequest(password, CryptographicAlgorithm.AES, 160))), Tag.UniqueIdentifier)!;
    const replacement = textOf(successPayload(await h.send(v, Operation.ReKey, [uidItem(derived)])), Tag.UniqueIdentifier)!;
    const fresh = materialOf(await getBlock(v, replacement, ObjectType.SymmetricKey));
    expect(fresh.length).toBe(20);
    expect(fresh.toString('hex')).not.toBe('4b007901b765489abead49d926f721d065a429c1');
    const r = refusal(await h.send(v, Operation.DeriveKey, deriveRequest(password, CryptographicAlgorithm.AES, 161)));
    expect(r).toEqual({ reason: ResultReason.InvalidField, message: 'key length 161 is not valid for this algorithm: not a whole number of bytes' });
    expect(refusal(await h.send(v, Operation.DeriveKey, deriveRequest(password, CryptographicAlgorithm.RSA, 256)))).toEqual({
      reason: ResultReason.InvalidField,
      message: 'this algorithm cannot be used to create a symmetric key',
    });
  });
});

describe('objects without a Key Value (metadata only)', () => {
  const metaBlock = block(KeyFormatType.Raw, undefined, CryptographicAlgorithm.AES, 256);
  const ENCRYPT = mask(CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt);

  test.each(VERSIONS)('KMIP %s: registered, Key Value Present False, Get / Encrypt / Re-key answer Key Value Not Present', async (_label, v) => {
    const uid = await register(v, ObjectType.SymmetricKey, [metaBlock], [ENCRYPT, activeSince]);
    const [present] = await attributeValues(h, v, uid, 'Key Value Present', Tag.KeyValuePresent);
    expect(present).toMatchObject({ type: ItemType.Boolean, value: false });
    expect(await intAttribute(v, uid, 'Cryptographic Length', Tag.CryptographicLength)).toBe(256);
    const get = refusal(await h.send(v, Operation.Get, [uidItem(uid)]));
    expect(get).toEqual({ reason: ResultReason.KeyValueNotPresent, message: `object ${uid} was registered without its Key Value: the server holds its attributes only` });
    expect(failure(await h.send(v, Operation.Encrypt, [uidItem(uid), ttlv.byteString(Tag.Data, Buffer.alloc(16))]))).toBe(ResultReason.KeyValueNotPresent);
    expect(failure(await h.send(v, Operation.ReKey, [uidItem(uid)]))).toBe(ResultReason.KeyValueNotPresent);
    // A key with its value gets no Key Value Present: the server creates it only for an absent value.
    const full = await register(v, ObjectType.SymmetricKey, [block(KeyFormatType.Raw, randomBytes(32), CryptographicAlgorithm.AES, 256)], [ENCRYPT]);
    expect(await attributeValues(h, v, full, 'Key Value Present', Tag.KeyValuePresent)).toEqual([]);
    // The client may not set it.
    const set = await h.send(v, Operation.Register, registerPayload(v, ObjectType.SymmetricKey, [metaBlock], [ENCRYPT, { name: 'Key Value Present', value: ttlv.boolean(Tag.KeyValuePresent, true) }]));
    expect(failure(set)).toBeDefined();
  });

  test('a metadata-only private key and split key (1.4); Join refuses a part without its value', async () => {
    const priv = await register(V14, ObjectType.PrivateKey, [block(KeyFormatType.PKCS_8, undefined, CryptographicAlgorithm.RSA, 2048)], [SIGN]);
    expect(failure(await h.send(V14, Operation.Get, [uidItem(priv)]))).toBe(ResultReason.KeyValueNotPresent);
    const part = await register(V14, ObjectType.SplitKey, splitBody(3, 1, 2, undefined), [mask(CryptographicUsageMask.Export)]);
    expect(failure(await h.send(V14, Operation.Get, [uidItem(part)]))).toBe(ResultReason.KeyValueNotPresent);
  });

  test('1.x public keys need their value (Key Value Present does not apply to them before 2.0); 2.1 stores them', async () => {
    const pubBlock = block(KeyFormatType.X_509, undefined, CryptographicAlgorithm.RSA, 2048);
    const r = refusal(await h.send(V14, Operation.Register, registerPayload(V14, ObjectType.PublicKey, [pubBlock], [VERIFY])));
    expect(r.reason).toBe(ResultReason.MissingData);
    expect(r.message).toMatch(/no Key Value/);
    const uid = await register(V21, ObjectType.PublicKey, [pubBlock], [VERIFY]);
    expect(failure(await h.send(V21, Operation.Get, [uidItem(uid)]))).toBe(ResultReason.KeyValueNotPresent);
  });

  test('before 1.2 a Key Value is required; a 1.1 client reading a metadata-only object gets Illegal Operation', async () => {
    const r = refusal(await h.send(V11, Operation.Register, registerPayload(V11, ObjectType.SymmetricKey, [metaBlock], [ENCRYPT])));
    expect(r).toEqual({ reason: ResultReason.MissingData, message: 'the Key Block has no Key Value: an object without its key value cannot be registered before KMIP 1.2' });
    const uid = await register(V14, ObjectType.SymmetricKey, [metaBlock], [ENCRYPT]);
    expect(failure(await h.send(V11, Operation.Get, [uidItem(uid)]))).toBe(ResultReason.IllegalOperation);
  });
});

function splitBody(parts: number, x: number, threshold: number, share: Uint8Array | undefined): TtlvItem[] {
  return [
    ttlv.integer(Tag.SplitKeyParts, parts),
    ttlv.integer(Tag.KeyPartIdentifier, x),
    ttlv.integer(Tag.SplitKeyThreshold, threshold),
    ttlv.enumeration(Tag.SplitKeyMethod, SplitKeyMethod.XOR),
    block(KeyFormatType.Raw, share, CryptographicAlgorithm.AES, 128),
  ];
}

describe.each(VERSIONS)('KMIP %s XOR split keys registered with a threshold below the part count', (_label, v) => {
  test('stored and returned as given; Join needs all three parts and rebuilds the key', async () => {
    const key = randomBytes(16);
    const s1 = randomBytes(16);
    const s2 = randomBytes(16);
    const s3 = Buffer.from(key.map((b, i) => b ^ s1[i]! ^ s2[i]!));
    const uids: string[] = [];
    for (const [i, share] of [s1, s2, s3].entries()) uids.push(await register(v, ObjectType.SplitKey, splitBody(3, i + 1, 2, share), [mask(CryptographicUsageMask.Export)]));
    const p = successPayload(await h.send(v, Operation.Get, [uidItem(uids[0]!)]));
    const body = find(p, Tag.SplitKey) as TtlvStructure;
    expect(find(body, Tag.SplitKeyThreshold)).toMatchObject({ value: 2 });
    expect(find(body, Tag.SplitKeyParts)).toMatchObject({ value: 3 });
    expect(materialOf(find(body, Tag.KeyBlock) as TtlvStructure).equals(s1)).toBe(true);

    const join = (parts: string[]): TtlvItem[] => [ttlv.enumeration(Tag.ObjectType, ObjectType.SymmetricKey), ...parts.map(uidItem), attributesFor(v, [mask(CryptographicUsageMask.Encrypt)])];
    const two = refusal(await h.send(v, Operation.JoinSplitKey, join(uids.slice(0, 2))));
    expect(two).toEqual({ reason: ResultReason.CryptographicFailure, message: 'an XOR split key is joined from all of its 3 parts; 2 given' });
    const joined = textOf(successPayload(await h.send(v, Operation.JoinSplitKey, join(uids))), Tag.UniqueIdentifier)!;
    expect(materialOf(await getBlock(v, joined, ObjectType.SymmetricKey)).equals(key)).toBe(true);
  });

  test('Create Split Key still makes XOR splits only where every part is needed', async () => {
    const r = await h.send(v, Operation.CreateSplitKey, [
      ttlv.enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
      ttlv.integer(Tag.SplitKeyParts, 3),
      ttlv.integer(Tag.SplitKeyThreshold, 2),
      ttlv.enumeration(Tag.SplitKeyMethod, SplitKeyMethod.XOR),
      attributesFor(v, [
        { name: 'Cryptographic Algorithm', value: ttlv.enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES) },
        { name: 'Cryptographic Length', value: ttlv.integer(Tag.CryptographicLength, 128) },
        mask(CryptographicUsageMask.Export),
      ]),
    ]);
    expect(refusal(r)).toEqual({ reason: ResultReason.InvalidField, message: 'with XOR splitting every part is needed: Split Key Threshold must equal Split Key Parts' });
  });
});


