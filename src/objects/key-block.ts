/**
 * Building and reading managed-object bodies (the Symmetric Key / Secret Data / Opaque Object
 * structures) and the attributes derived from them.
 */
import { createHash } from 'node:crypto';
import { encodeTtlv } from '../../ttlv/encode';
import { ItemType, ttlv, type TtlvItem, type TtlvStructure } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { CryptographicAlgorithm, HashingAlgorithm, KeyFormatType, ObjectType } from '../spec/generated/enums';
import { child, opt } from '../kmip/tree';
import { KmipError, Reason } from '../kmip/errors';
import type { KmipAttribute } from '../kmip/attributes';
import { secureRandomBytes } from '../crypto/random-pool';

/** The structure tag that holds each object type's body. */
export const OBJECT_BODY_TAG: Readonly<Partial<Record<number, number>>> = {
  [ObjectType.Certificate]: Tag.Certificate,
  [ObjectType.SymmetricKey]: Tag.SymmetricKey,
  [ObjectType.PublicKey]: Tag.PublicKey,
  [ObjectType.PrivateKey]: Tag.PrivateKey,
  [ObjectType.SplitKey]: Tag.SplitKey,
  [ObjectType.SecretData]: Tag.SecretData,
  [ObjectType.OpaqueObject]: Tag.OpaqueObject,
  [ObjectType.PGPKey]: Tag.PGPKey,
  [ObjectType.Template]: Tag.Template,
  // 2.x's managed object: a Structure of Certificate Request Type and Value (1.x's tag was a Byte String field of Certify).
  [ObjectType.CertificateRequest]: Tag.CertificateRequest,
};

export function keyBlock(formatType: number, material: Uint8Array, algorithm?: number, length?: number): TtlvStructure {
  const items: TtlvItem[] = [
    ttlv.enumeration(Tag.KeyFormatType, formatType),
    ttlv.structure(Tag.KeyValue, [ttlv.byteString(Tag.KeyMaterial, material)]),
  ];
  if (algorithm !== undefined) items.push(ttlv.enumeration(Tag.CryptographicAlgorithm, algorithm));
  if (length !== undefined) items.push(ttlv.integer(Tag.CryptographicLength, length));
  return ttlv.structure(Tag.KeyBlock, items);
}

/** The raw bytes of a key block whose Key Material is a Byte String (Raw, Opaque formats). */
export function rawKeyMaterial(block: TtlvStructure): Uint8Array | undefined {
  const kv = child(block, Tag.KeyValue);
  if (!kv) return undefined;
  const km = kv.type === ItemType.Structure ? child(kv, Tag.KeyMaterial) : undefined;
  if (km?.type === ItemType.ByteString) return km.value;
  // Transparent Symmetric Key: Key Material is a structure holding Key.
  if (km?.type === ItemType.Structure) {
    const key = child(km, Tag.Key);
    if (key?.type === ItemType.ByteString) return key.value;
  }
  return undefined;
}

export function keyBlockOf(body: TtlvStructure): TtlvStructure | undefined {
  return opt.structure(body, Tag.KeyBlock);
}

/**
 * Refuses to serve a metadata-only object (registered without its Key Value, KMIP 1.2 on) as if it
 * held a key: Key Value Not Present, "a meta data only object; the key value is not present on the
 * server" (2.1 Result Reasons; 1.2-1.4 name it for Re-key and Derive Key). 1.0/1.1 clients get
 * Illegal Operation (their Get table: "the server only has attributes for this object").
 */
export function requireKeyValue(block: TtlvStructure | undefined, uid: string): void {
  if (block !== undefined && child(block, Tag.KeyValue) === undefined) {
    throw new KmipError(Reason.KeyValueNotPresent, `object ${uid} was registered without its Key Value: the server holds its attributes only`);
  }
}

/**
 * What a Digest is computed over (1.1 3.17): "If the Key Material is a Byte String, then the
 * Digest Value SHALL be calculated on this Byte String. If the Key Material is a structure, then
 * ... on the TTLV-encoded Key Material structure" (Transparent keys).
 */
export function digestInput(block: TtlvStructure): Uint8Array | undefined {
  const kv = child(block, Tag.KeyValue);
  const km = kv?.type === ItemType.Structure ? child(kv, Tag.KeyMaterial) : undefined;
  if (km?.type === ItemType.ByteString) return km.value;
  if (km?.type === ItemType.Structure) return encodeTtlv(km);
  return undefined;
}

/** Digest attribute (SHA-256 of the key material as held), as servers report it. */
export function digestAttribute(material: Uint8Array, formatType: number): TtlvStructure {
  return ttlv.structure(Tag.Digest, [
    ttlv.enumeration(Tag.HashingAlgorithm, HashingAlgorithm.SHA_256),
    ttlv.byteString(Tag.DigestValue, createHash('sha256').update(material).digest()),
    ttlv.enumeration(Tag.KeyFormatType, formatType),
  ]);
}

/** Whether `bits` is a length the symmetric algorithm has; undefined: not a symmetric algorithm we make. */
function symmetricLengthFits(algorithm: number, bits: number): boolean | undefined {
  switch (algorithm) {
    case CryptographicAlgorithm.AES:
      return bits === 128 || bits === 192 || bits === 256;
    case CryptographicAlgorithm.DES3:
      return bits === 112 || bits === 168 || bits === 128 || bits === 192;
    case CryptographicAlgorithm.DES:
      return bits === 56 || bits === 64;
    case CryptographicAlgorithm.ChaCha20:
    case CryptographicAlgorithm.ChaCha20Poly1305:
      return bits === 256;
    case CryptographicAlgorithm.Camellia:
    case CryptographicAlgorithm.ARIA:
    case CryptographicAlgorithm.Twofish:
      return bits === 128 || bits === 192 || bits === 256;
    case CryptographicAlgorithm.SKIPJACK:
      return bits === 80;
    case CryptographicAlgorithm.IDEA:
    case CryptographicAlgorithm.SEED:
    case CryptographicAlgorithm.SM4:
      return bits === 128;
    case CryptographicAlgorithm.CAST5:
      return bits >= 40 && bits <= 128 && bits % 8 === 0;
    case CryptographicAlgorithm.Blowfish:
      return bits >= 32 && bits <= 448 && bits % 8 === 0;
    case CryptographicAlgorithm.HMAC_SHA3_224:
    case CryptographicAlgorithm.HMAC_SHA3_256:
    case CryptographicAlgorithm.HMAC_SHA3_384:
    case CryptographicAlgorithm.HMAC_SHA3_512:
    case CryptographicAlgorithm.HMAC_SHA1:
    case CryptographicAlgorithm.HMAC_SHA224:
    case CryptographicAlgorithm.HMAC_SHA256:
    case CryptographicAlgorithm.HMAC_SHA384:
    case CryptographicAlgorithm.HMAC_SHA512:
    case CryptographicAlgorithm.HMAC_MD5:
      // RFC 2104: a key of any length (longer than the hash's block is hashed first); the cap
      // bounds what one Create generates (the RNG Retrieve limit).
      return bits >= 8 && bits <= MAX_HMAC_KEY_BITS && bits % 8 === 0;
    default:
      return undefined;
  }
}

/** Key lengths (bits) each symmetric algorithm accepts when we generate a key. */
function checkSymmetricLength(algorithm: number, bits: number): void {
  const ok = symmetricLengthFits(algorithm, bits);
  if (ok === undefined) {
    throw new KmipError(Reason.InvalidField, 'this algorithm cannot be used to create a symmetric key');
  }
  if (!ok) throw new KmipError(Reason.InvalidField, `key length ${bits} is not valid for this algorithm`);
}

/**
 * The largest Secret Data the server generates (Create, Create Split Key): 8192 bits, far above any
 * seed or password a client asks for, so one request cannot make the server draw without bound.
 */
const MAX_SECRET_DATA_BITS = 8192;

/** A length for generated Secret Data: whole bytes, within MAX_SECRET_DATA_BITS. */
export function checkSecretDataLength(bits: number): void {
  if (bits <= 0 || bits % 8 !== 0 || bits > MAX_SECRET_DATA_BITS) {
    throw new KmipError(Reason.InvalidField, 'secret data length must be a positive multiple of 8 bits');
  }
}

/** The largest HMAC key Create makes: 64 KiB, as RNG Retrieve gives at most. */
const MAX_HMAC_KEY_BITS = 64 * 1024 * 8;

/**
 * Bytes to derive for a symmetric key of `bits` (Derive Key). The algorithm's own sizes where the
 * length is one of them (3DES: 168 bits are 24 bytes with parity); any other whole number of bytes
 * is derived as asked, like a registered key of that length (PyKMIP derives a 160-bit "AES" key
 * with PBKDF2-HMAC-SHA1; pykmip-server stores it): a cipher that cannot use the key refuses it when
 * it is used. Re-key repeats such a length.
 */
export function derivedKeyBytes(algorithm: number, bits: number): number {
  const fits = symmetricLengthFits(algorithm, bits);
  if (fits === undefined) throw new KmipError(Reason.InvalidField, 'this algorithm cannot be used to create a symmetric key');
  if (fits) return symmetricKeyBytes(algorithm, bits);
  if (bits > MAX_HMAC_KEY_BITS) throw new KmipError(Reason.InvalidField, `key length ${bits} is above the ${MAX_HMAC_KEY_BITS} bits the server makes`);
  if (bits > 0 && bits % 8 === 0) return bits / 8;
  throw new KmipError(Reason.InvalidField, `key length ${bits} is not valid for this algorithm: not a whole number of bytes`);
}

/** Bytes of key material for a length in bits (3DES keys carry parity bits: 168 -> 24 bytes). */
function symmetricKeyBytes(algorithm: number, bits: number): number {
  if (algorithm === CryptographicAlgorithm.DES3) return bits <= 128 ? 16 : 24;
  if (algorithm === CryptographicAlgorithm.DES) return 8;
  return bits / 8;
}

export interface Generated {
  readonly body: TtlvStructure;
  readonly derived: KmipAttribute[];
}
/** Fresh key material of `algorithm` and `length` bits, as a Raw Symmetric Key. */
/**
 * `replacing` (Re-key): the length repeats an existing key's, which Register or Derive Key may have
 * set outside the algorithm's own sizes (a 160-bit key labelled AES): any whole number of bytes.
 */
export function generateSymmetricKey(algorithm: number, length: number, opts: { replacing?: boolean } = {}): Generated {
  let bytes: number;
  if (opts.replacing) bytes = derivedKeyBytes(algorithm, length);
  else {
    checkSymmetricLength(algorithm, length);
    bytes = symmetricKeyBytes(algorithm, length);
  }
  const material = secureRandomBytes(bytes);
  return {
    body: ttlv.structure(Tag.SymmetricKey, [keyBlock(KeyFormatType.Raw, material, algorithm, length)]),
    derived: [{ name: 'Digest', value: digestAttribute(material, KeyFormatType.Raw) }],
  };
}
/** Zeroes every Byte String of a tree that held fresh key material. */
export function wipe(item: TtlvItem): void {
  if (item.type === ItemType.ByteString) item.value.fill(0);
  else if (item.type === ItemType.Structure) for (const c of item.value) wipe(c);
}
