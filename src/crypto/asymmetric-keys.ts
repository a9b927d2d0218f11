/**
 * Public and private keys between KMIP key blocks and Node KeyObjects, in every Key Format Type we
 * read or write: PKCS#1, PKCS#8, X.509 (SubjectPublicKeyInfo), SEC1 ECPrivateKey, Transparent RSA
 * and EC structures, and Raw for EdDSA. One table per object type; converting is reading with one
 * codec and writing with another.
 *
 * Secrets: DER buffers made here are returned to the caller, who owns wiping them. Transparent
 * forms pass through JWK strings and BigInteger bigints, which JavaScript cannot overwrite; they
 * are dropped as soon as the conversion ends.
 */
import { createPrivateKey, createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';
import { ItemType, ttlv, type TtlvItem, type TtlvStructure } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { CryptographicAlgorithm, KeyFormatType, ObjectType } from '../spec/generated/enums';
import { enumValueInfo } from '../spec/registry';
import { asStructure, child, opt, req, tagLabel } from '../kmip/tree';
import { KmipError, Reason } from '../kmip/errors';
import { curveByKmip, curveByNode, type CurveInfo } from './tables';
import { checkKeyLimits, toArrayBuffer, DEFAULT_KEY_LIMITS, readPrivateDer, readPublicDer, type KeyMaterialLimits, type PrivateEncoding, type PublicEncoding } from './key-encoding';

type KeyKind = 'private' | 'public';

interface FormatCodec {
  /** Node asymmetricKeyType values this format can hold. */
  readonly keyTypes: readonly string[];
  read(material: TtlvItem): KeyObject;
  /** The Key Material item for `key`. */
  write(key: KeyObject): TtlvItem;
}

// ---------------------------------------------------------------------------------------------
// Helpers

function bytesOf(material: TtlvItem, format: string): Buffer {
  if (material.type !== ItemType.ByteString) throw new KmipError(Reason.InvalidField, `${format} Key Material must be a Byte String`);
  // A view, not a copy: the stored body's bytes are zeroed with the request's secrets.
  return Buffer.from(material.value.buffer, material.value.byteOffset, material.value.byteLength);
}

function parseFailed(format: string): KmipError {
  return new KmipError(Reason.InvalidField, `the Key Material is not a valid ${format} key`);
}

function der(parse: () => KeyObject, format: string): KeyObject {
  try {
    return parse();
  } catch {
    throw parseFailed(format);
  }
}

function bigToB64u(n: bigint, bytes?: number): string {
  return bigToBytes(n, bytes).toString('base64url');
}

export function bigToBytes(n: bigint, bytes?: number): Buffer {
  if (n < 0n) throw new KmipError(Reason.InvalidField, 'key components must not be negative');
  let hex = n.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  const raw = Buffer.from(hex, 'hex');
  if (bytes === undefined || raw.length >= bytes) return raw;
  return Buffer.concat([Buffer.alloc(bytes - raw.length), raw]);
}

export function bytesToBig(b: Uint8Array): bigint {
  return b.length === 0 ? 0n : BigInt(`0x${Buffer.from(b).toString('hex')}`);
}

function b64uToBig(s: string | undefined): bigint {
  if (s === undefined) throw new KmipError(Reason.CryptographicFailure, 'the key lacks a component');
  return bytesToBig(Buffer.from(s, 'base64url'));
}

function bigOf(s: TtlvStructure, tag: number): bigint {
  const item = child(s, tag);
  if (item === undefined) throw new KmipError(Reason.MissingData, `the Transparent key lacks ${tagLabel(tag)}`);
  if (item.type !== ItemType.BigInteger) throw new KmipError(Reason.InvalidField, `${tagLabel(tag)} must be a Big Integer`);
  return item.value;
}

function jwkOf(key: KeyObject): JsonWebKey {
  return key.export({ format: 'jwk' });
}

function curveOfKey(key: KeyObject): CurveInfo {
  const name = key.asymmetricKeyDetails?.namedCurve;
  const curve = name === undefined ? undefined : curveByNode(name);
  if (!curve) throw new KmipError(Reason.InvalidField, `curve ${name ?? '?'} is not supported`);
  return curve;
}

function curveOfStructure(s: TtlvStructure): CurveInfo {
  const kmip = req.enumeration(s, Tag.RecommendedCurve);
  const curve = curveByKmip(kmip);
  if (!curve) {
    throw new KmipError(Reason.InvalidField, `Recommended Curve ${enumValueInfo('RecommendedCurve', kmip)?.name ?? kmip} is not supported`);
  }
  return curve;
}

/** SEC1 ECPrivateKey without the optional public key: OpenSSL computes it from d. */
function sec1FromD(curve: CurveInfo, d: Buffer): Buffer {
  const dBuf = toArrayBuffer(d);
  const seq = new asn1js.Sequence({
    value: [
      new asn1js.Integer({ value: 1 }),
      new asn1js.OctetString({ valueHex: dBuf }),
      new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 0 }, value: [new asn1js.ObjectIdentifier({ value: curve.oid })] }),
    ],
  });
  const out = Buffer.from(seq.toBER(false));
  new Uint8Array(dBuf).fill(0);
  return out;
}

/** SubjectPublicKeyInfo for an EC point (compressed or not, as the client sent it). */
export function spkiFromPoint(curve: CurveInfo, point: Uint8Array): Buffer {
  const seq = new asn1js.Sequence({
    value: [
      new asn1js.Sequence({
        value: [new asn1js.ObjectIdentifier({ value: '1.2.840.10045.2.1' }), new asn1js.ObjectIdentifier({ value: curve.oid })],
      }),
      new asn1js.BitString({ valueHex: toArrayBuffer(point) }),
    ],
  });
  return Buffer.from(seq.toBER(false));
}

/** Ed25519 / Ed448 DER prefixes (RFC 8410): the raw key follows. */
const EDDSA = {
  ed25519: { bytes: 32, pkcs8: '302e020100300506032b657004220420', spki: '302a300506032b6570032100' },
  ed448: { bytes: 57, pkcs8: '3047020100300506032b6571043b0439', spki: '3043300506032b6571033a00' },
} as const;

// ---------------------------------------------------------------------------------------------
// Codecs

const rsaPrivateTransparent: FormatCodec = {
  keyTypes: ['rsa'],
  read(material) {
    const s = asStructure(material);
    const n = bigOf(s, Tag.Modulus);
    const jwk: JsonWebKey = {
      kty: 'RSA',
      n: bigToB64u(n),
      e: bigToB64u(bigOf(s, Tag.PublicExponent)),
      d: bigToB64u(bigOf(s, Tag.PrivateExponent)),
      p: bigToB64u(bigOf(s, Tag.P)),
      q: bigToB64u(bigOf(s, Tag.Q)),
      dp: bigToB64u(bigOf(s, Tag.PrimeExponentP)),
      dq: bigToB64u(bigOf(s, Tag.PrimeExponentQ)),
      qi: bigToB64u(bigOf(s, Tag.CRTCoefficient)),
    };
    return der(() => createPrivateKey({ key: jwk, format: 'jwk' }), 'Transparent RSA Private Key');
  },
  write(key) {
    const j = jwkOf(key);
    return ttlv.structure(Tag.KeyMaterial, [
      ttlv.bigInteger(Tag.Modulus, b64uToBig(j.n)),
      ttlv.bigInteger(Tag.PrivateExponent, b64uToBig(j.d)),
      ttlv.bigInteger(Tag.PublicExponent, b64uToBig(j.e)),
      ttlv.bigInteger(Tag.P, b64uToBig(j.p)),
      ttlv.bigInteger(Tag.Q, b64uToBig(j.q)),
      ttlv.bigInteger(Tag.PrimeExponentP, b64uToBig(j.dp)),
      ttlv.bigInteger(Tag.PrimeExponentQ, b64uToBig(j.dq)),
      ttlv.bigInteger(Tag.CRTCoefficient, b64uToBig(j.qi)),
    ]);
  },
};

const rsaPublicTransparent: FormatCodec = {
  keyTypes: ['rsa'],
  read(material) {
    const s = asStructure(material);
    const jwk: JsonWebKey = { kty: 'RSA', n: bigToB64u(bigOf(s, Tag.Modulus)), e: bigToB64u(bigOf(s, Tag.PublicExponent)) };
    return der(() => createPublicKey({ key: jwk, format: 'jwk' }), 'Transparent RSA Public Key');
  },
  write(key) {
    const j = jwkOf(key);
    return ttlv.structure(Tag.KeyMaterial, [
      ttlv.bigInteger(Tag.Modulus, b64uToBig(j.n)),
      ttlv.bigInteger(Tag.PublicExponent, b64uToBig(j.e)),
    ]);
  },
};

const ecPrivateTransparent: FormatCodec = {
  keyTypes: ['ec'],
  read(material) {
    const s = asStructure(material);
    const curve = curveOfStructure(s);
    const d = bigToBytes(bigOf(s, Tag.D), Math.ceil(curve.bits / 8));
    const sec1 = sec1FromD(curve, d);
    d.fill(0);
    try {
      return der(() => createPrivateKey({ key: sec1, format: 'der', type: 'sec1' }), 'Transparent EC Private Key');
    } finally {
      sec1.fill(0);
    }
  },
  write(key) {
    const curve = curveOfKey(key);
    return ttlv.structure(Tag.KeyMaterial, [
      ttlv.enumeration(Tag.RecommendedCurve, curve.kmip),
      ttlv.bigInteger(Tag.D, b64uToBig(jwkOf(key).d)),
    ]);
  },
};

const ecPublicTransparent: FormatCodec = {
  keyTypes: ['ec'],
  read(material) {
    const s = asStructure(material);
    const curve = curveOfStructure(s);
    const q = req.bytes(s, Tag.QString);
    return der(() => createPublicKey({ key: spkiFromPoint(curve, q), format: 'der', type: 'spki' }), 'Transparent EC Public Key');
  },
  write(key) {
    const curve = curveOfKey(key);
    const j = jwkOf(key);
    const size = Math.ceil(curve.bits / 8);
    const point = Buffer.concat([Buffer.from([4]), bigToBytes(b64uToBig(j.x), size), bigToBytes(b64uToBig(j.y), size)]);
    return ttlv.structure(Tag.KeyMaterial, [ttlv.enumeration(Tag.RecommendedCurve, curve.kmip), ttlv.byteString(Tag.QString, point)]);
  },
};

/** The Key Format Type that names each DER encoding (EncryptedPrivateKeyInfo is PKCS#8's too). */
const FORMAT_OF_ENCODING: Readonly<Record<PrivateEncoding | PublicEncoding, number>> = {
  pkcs8: KeyFormatType.PKCS_8,
  'encrypted-pkcs8': KeyFormatType.PKCS_8,
  pkcs1: KeyFormatType.PKCS_1,
  sec1: KeyFormatType.ECPrivateKey,
  spki: KeyFormatType.X_509,
};

/** What a key block's material is: the real Key Format Type and, unless it is encrypted, the key. */
interface MaterialRead {
  readonly actual: number;
  readonly key?: KeyObject;
}

const ENCRYPTED_PKCS8 = 'an encrypted PKCS#8 private key (EncryptedPrivateKeyInfo) is kept as registered: the server has not its password, so it cannot use or convert it';

/**
 * DER Key Material under any of the DER labels (and Raw, below): read as what it really is, so
 * PKCS#1 bytes labelled PKCS#8 or a SubjectPublicKeyInfo labelled PKCS#1 are keys like any other.
 */
function readDer(bytes: Uint8Array, kind: KeyKind, labelled: string, extraTried: readonly string[] = []): MaterialRead {
  if (kind === 'private') {
    const r = readPrivateDer(bytes, labelled, extraTried);
    return 'key' in r ? { actual: FORMAT_OF_ENCODING[r.encoding], key: r.key } : { actual: KeyFormatType.PKCS_8 };
  }
  const r = readPublicDer(bytes, labelled, extraTried);
  return { actual: FORMAT_OF_ENCODING[r.encoding], key: r.key };
}

function derCodec(kind: KeyKind, type: 'pkcs1' | 'pkcs8' | 'sec1' | 'spki', keyTypes: readonly string[], label: string): FormatCodec {
  return {
    keyTypes,
    read(material) {
      const key = readDer(bytesOf(material, label), kind, label).key;
      if (!key) throw new KmipError(Reason.KeyFormatTypeNotSupported, ENCRYPTED_PKCS8);
      return key;
    },
    write(key) {
      if (kind === 'private') {
        const t = type === 'spki' ? 'pkcs8' : type;
        return ttlv.byteString(Tag.KeyMaterial, key.export({ format: 'der', type: t }));
      }
      const t = type === 'pkcs1' ? 'pkcs1' : 'spki';
      return ttlv.byteString(Tag.KeyMaterial, key.export({ format: 'der', type: t }));
    },
  };
}

/** Raw EdDSA material by its length; else the DER encodings (clients label RSA and EC keys Raw too). */
function readRaw(raw: Uint8Array, kind: KeyKind): MaterialRead {
  const variant = raw.length === EDDSA.ed25519.bytes ? EDDSA.ed25519 : raw.length === EDDSA.ed448.bytes ? EDDSA.ed448 : undefined;
  if (!variant) return readDer(raw, kind, 'Raw', ['Raw Ed25519 or Ed448']);
  const prefix = Buffer.from(kind === 'private' ? variant.pkcs8 : variant.spki, 'hex');
  const whole = Buffer.concat([prefix, raw]);
  try {
    const key =
      kind === 'private'
        ? der(() => createPrivateKey({ key: whole, format: 'der', type: 'pkcs8' }), 'Raw EdDSA')
        : der(() => createPublicKey({ key: whole, format: 'der', type: 'spki' }), 'Raw EdDSA');
    return { actual: KeyFormatType.Raw, key };
  } finally {
    whole.fill(0);
  }
}

function rawEdDsa(kind: KeyKind): FormatCodec {
  return {
    keyTypes: ['ed25519', 'ed448'],
    read(material) {
      const key = readRaw(bytesOf(material, 'Raw'), kind).key;
      if (!key) throw new KmipError(Reason.KeyFormatTypeNotSupported, ENCRYPTED_PKCS8);
      return key;
    },
    write(key) {
      const j = jwkOf(key);
      const part = kind === 'private' ? j.d : j.x;
      if (part === undefined) throw new KmipError(Reason.CryptographicFailure, 'the key lacks its raw value');
      return ttlv.byteString(Tag.KeyMaterial, Buffer.from(part, 'base64url'));
    },
  };
}

const ALL = ['rsa', 'rsa-pss', 'ec', 'dsa', 'ed25519', 'ed448', 'x25519', 'x448', 'dh'];

const PRIVATE_FORMATS: Readonly<Partial<Record<number, FormatCodec>>> = {
  [KeyFormatType.PKCS_1]: derCodec('private', 'pkcs1', ['rsa'], 'PKCS#1'),
  [KeyFormatType.PKCS_8]: derCodec('private', 'pkcs8', ALL, 'PKCS#8'),
  [KeyFormatType.ECPrivateKey]: derCodec('private', 'sec1', ['ec'], 'SEC1 ECPrivateKey'),
  [KeyFormatType.TransparentRSAPrivateKey]: rsaPrivateTransparent,
  [KeyFormatType.TransparentECPrivateKey]: ecPrivateTransparent,
  [KeyFormatType.TransparentECDSAPrivateKey]: ecPrivateTransparent,
  [KeyFormatType.TransparentECDHPrivateKey]: ecPrivateTransparent,
  [KeyFormatType.TransparentECMQVPrivateKey]: ecPrivateTransparent,
  [KeyFormatType.Raw]: rawEdDsa('private'),
};

const PUBLIC_FORMATS: Readonly<Partial<Record<number, FormatCodec>>> = {
  [KeyFormatType.PKCS_1]: derCodec('public', 'pkcs1', ['rsa'], 'PKCS#1'),
  [KeyFormatType.X_509]: derCodec('public', 'spki', ALL, 'X.509 SubjectPublicKeyInfo'),
  [KeyFormatType.TransparentRSAPublicKey]: rsaPublicTransparent,
  [KeyFormatType.TransparentECPublicKey]: ecPublicTransparent,
  [KeyFormatType.TransparentECDSAPublicKey]: ecPublicTransparent,
  [KeyFormatType.TransparentECDHPublicKey]: ecPublicTransparent,
  [KeyFormatType.TransparentECMQVPublicKey]: ecPublicTransparent,
  [KeyFormatType.Raw]: rawEdDsa('public'),
};

function formatsFor(kind: KeyKind): Readonly<Partial<Record<number, FormatCodec>>> {
  return kind === 'private' ? PRIVATE_FORMATS : PUBLIC_FORMATS;
}

function formatName(f: number): string {
  return enumValueInfo('KeyFormatType', f)?.name ?? `0x${f.toString(16)}`;
}

function kindOf(objectType: number): KeyKind | undefined {
  if (objectType === ObjectType.PrivateKey) return 'private';
  if (objectType === ObjectType.PublicKey) return 'public';
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Public API

/** How messages name the labels whose material is DER. */
const DER_LABELS: Readonly<Partial<Record<number, string>>> = {
  [KeyFormatType.PKCS_1]: 'PKCS#1',
  [KeyFormatType.PKCS_8]: 'PKCS#8',
  [KeyFormatType.ECPrivateKey]: 'ECPrivateKey',
  [KeyFormatType.X_509]: 'X.509',
};

/** What a key block's material really is, and the key unless it is an encrypted PKCS#8 key. */
function readBlockMaterial(block: TtlvStructure, kind: KeyKind): MaterialRead {
  if (child(block, Tag.KeyWrappingData)) {
    throw new KmipError(Reason.CryptographicFailure, 'the key is stored wrapped and cannot be used here');
  }
  const format = req.enumeration(block, Tag.KeyFormatType);
  const codec = formatsFor(kind)[format];
  if (!codec) throw new KmipError(Reason.KeyFormatTypeNotSupported, `${formatName(format)} is not supported for ${kind} keys`);
  const kv = opt.structure(block, Tag.KeyValue);
  const material = kv ? child(kv, Tag.KeyMaterial) : undefined;
  if (!material) throw new KmipError(Reason.MissingData, 'the key block has no Key Material');
  const derLabel = DER_LABELS[format];
  if (derLabel !== undefined) return readDer(bytesOf(material, derLabel), kind, derLabel);
  if (format === KeyFormatType.Raw) return readRaw(bytesOf(material, 'Raw'), kind);
  return { actual: format, key: codec.read(material) };
}

/** The KeyObject a key block holds. */
export function keyObjectFromBlock(block: TtlvStructure, kind: KeyKind): KeyObject {
  const { key } = readBlockMaterial(block, kind);
  if (!key) throw new KmipError(Reason.KeyFormatTypeNotSupported, ENCRYPTED_PKCS8);
  return key;
}

/** KMIP algorithm and length (bits) of a KeyObject. */
export function describeKey(key: KeyObject): { algorithm: number; length: number } {
  const t = key.asymmetricKeyType;
  if (t === 'rsa' || t === 'rsa-pss') return { algorithm: CryptographicAlgorithm.RSA, length: key.asymmetricKeyDetails?.modulusLength ?? 0 };
  if (t === 'ec') return { algorithm: CryptographicAlgorithm.EC, length: curveOfKey(key).bits };
  if (t === 'ed25519') return { algorithm: CryptographicAlgorithm.Ed25519, length: 256 };
  if (t === 'ed448') return { algorithm: CryptographicAlgorithm.Ed448, length: 448 };
  if (t === 'dsa') return { algorithm: CryptographicAlgorithm.DSA, length: key.asymmetricKeyDetails?.modulusLength ?? 0 };
  throw new KmipError(Reason.InvalidField, `${t ?? 'this'} key type is not supported`);
}

/** The Key Material for `key` in `format`; Key Format Type Not Supported where it cannot be. */
function keyMaterialIn(key: KeyObject, kind: KeyKind, format: number): TtlvItem {
  const codec = formatsFor(kind)[format];
  const t = key.asymmetricKeyType ?? '';
  if (!codec || !codec.keyTypes.includes(t)) {
    throw new KmipError(Reason.KeyFormatTypeNotSupported, `a ${t} ${kind} key cannot be given as ${formatName(format)}`);
  }
  return codec.write(key);
}

/** A key block for `key` in `format`, with the block's algorithm and length. */
export function keyBlockIn(key: KeyObject, kind: KeyKind, format: number, algorithm: number, length: number): TtlvStructure {
  return ttlv.structure(Tag.KeyBlock, [
    ttlv.enumeration(Tag.KeyFormatType, format),
    ttlv.structure(Tag.KeyValue, [keyMaterialIn(key, kind, format)]),
    ttlv.enumeration(Tag.CryptographicAlgorithm, algorithm),
    ttlv.integer(Tag.CryptographicLength, length),
  ]);
}

/**
 * Re-expresses a stored public or private key block in another Key Format Type (Get with Key
 * Format Type). Attributes inside the Key Value and the block's algorithm and length are kept.
 * New Byte Strings are added to `secrets`.
 */
export function convertKeyBlock(block: TtlvStructure, objectType: number, to: number, secrets: Uint8Array[]): TtlvStructure {
  const kind = kindOf(objectType);
  if (!kind) throw new KmipError(Reason.KeyFormatTypeNotSupported, 'only public and private keys are converted here');
  const label = opt.enumeration(block, Tag.KeyFormatType);
  const read = readBlockMaterial(block, kind);
  // Already in that encoding (perhaps under another label, as the client registered it): the bytes as kept.
  if (read.actual === to) return label === to ? block : relabel(block, to, undefined);
  if (!read.key) throw new KmipError(Reason.KeyFormatTypeNotSupported, ENCRYPTED_PKCS8);
  const codec = formatsFor(kind)[to];
  // Asked for the label it was registered under, which does not fit the key (an RSA key labelled Raw): as registered.
  if (label === to && (!codec || !codec.keyTypes.includes(read.key.asymmetricKeyType ?? ''))) return block;
  const material = keyMaterialIn(read.key, kind, to);
  // The new encoding is as secret as the stored one: zeroed with the request's other secrets.
  if (material.type === ItemType.ByteString) secrets.push(material.value);
  return relabel(block, to, material);
}

/** The block with another Key Format Type, and new Key Material when given. */
function relabel(block: TtlvStructure, to: number, material: TtlvItem | undefined): TtlvStructure {
  const out: TtlvItem[] = [];
  for (const c of block.value) {
    if (c.tag === Tag.KeyFormatType) out.push(ttlv.enumeration(Tag.KeyFormatType, to));
    else if (material && c.tag === Tag.KeyValue && c.type === ItemType.Structure) {
      out.push(ttlv.structure(Tag.KeyValue, c.value.map((k) => (k.tag === Tag.KeyMaterial ? material : k))));
    } else out.push(c);
  }
  return ttlv.structure(Tag.KeyBlock, out);
}

/**
 * Checks a registered key parses in what it really is (whatever its label) and keeps the limits
 * (RSA modulus size, named curves); states its algorithm and length. Malformed material is Invalid
 * Field naming the encodings tried. An encrypted PKCS#8 key is stored as given, stating nothing.
 */
export function inspectKeyBlock(block: TtlvStructure, objectType: number, limits: KeyMaterialLimits = DEFAULT_KEY_LIMITS): { algorithm: number; length: number } | undefined {
  const kind = kindOf(objectType);
  if (!kind || child(block, Tag.KeyWrappingData)) return undefined;
  // A format we cannot read (Transparent DSA/DH, say) is stored as given, to be used by no operation here.
  const format = opt.enumeration(block, Tag.KeyFormatType);
  if (format === undefined || formatsFor(kind)[format] === undefined) return undefined;
  const { key } = readBlockMaterial(block, kind);
  if (!key) return undefined;
  checkKeyLimits(key, limits);
  try {
    return describeKey(key);
  } catch {
    return undefined;
  }
}
