/**
 * Post-quantum key material in KMIP key blocks: SubjectPublicKeyInfo (Key Format Type X.509),
 * PKCS#8 and Raw, with the NIST OIDs (RFC 9935 ML-KEM, RFC 9881 ML-DSA, RFC 9909 SLH-DSA).
 *
 * PKCS#8 private keys of ML-KEM and ML-DSA come in three forms (seed [0], expandedKey, both); we
 * read all three and write the seed form when the seed is known (the form the RFCs recommend and
 * the only one pyca/cryptography reads), else expandedKey (a key registered without its seed). SLH-DSA's privateKey is the raw key; a DER OCTET STRING wrapped inside it (the
 * RFC 8410 style some encoders use) is read too. Raw is the FIPS byte string: a public key, or an
 * expanded private key (a seed of the set's seed length is read too). The hybrid X25519+ML-KEM-768
 * has no OID, so it is Raw only.
 *
 * Secrets: every private byte string made here is pushed onto the caller's `secrets` list or
 * returned to a caller that wipes it.
 */
import * as asn1js from 'asn1js';
import { ItemType, ttlv, type TtlvItem, type TtlvStructure } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { KeyFormatType, ObjectType } from '../spec/generated/enums';
import { child, opt } from '../kmip/tree';
import { KmipError, Reason } from '../kmip/errors';
import { checkPqcPublicKey, pqcAlgorithm, pqcByOid, pqcKeyPairFromSeed, pqcLength, pqcPublicFromSecret, type PqcAlgorithm } from './pqc';
import { decodeBer } from './ber';

export type PqcKind = 'private' | 'public';

export interface PqcKey {
  readonly alg: PqcAlgorithm;
  readonly kind: PqcKind;
  /** The public key, or the expanded private key. */
  readonly bytes: Uint8Array;
  readonly seed?: Uint8Array;
}

/** The formats a PQC key is given in; the first is the stored default. */
const FORMATS: Readonly<Record<PqcKind, readonly number[]>> = {
  private: [KeyFormatType.PKCS_8, KeyFormatType.Raw],
  public: [KeyFormatType.X_509, KeyFormatType.Raw],
};

export function defaultPqcFormat(alg: PqcAlgorithm, kind: PqcKind): number {
  return alg.oid ? (FORMATS[kind][0] as number) : KeyFormatType.Raw;
}

// -------------------------------------------------------------------------------------------------
// DER

function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, ...parts: Uint8Array[]): Buffer {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([tag]), derLength(body.length), body]);
}

function oidDer(oid: string): Buffer {
  return Buffer.from(new asn1js.ObjectIdentifier({ value: oid }).toBER(false));
}

function algorithmIdentifier(alg: PqcAlgorithm): Buffer {
  return tlv(0x30, oidDer(alg.oid as string));
}

/** SubjectPublicKeyInfo DER of a PQC public key (parameters absent, as the RFCs say). */
export function pqcSpki(alg: PqcAlgorithm, pk: Uint8Array): Buffer {
  return tlv(0x30, algorithmIdentifier(alg), tlv(0x03, Buffer.from([0]), pk));
}

function pkcs8(alg: PqcAlgorithm, sk: Uint8Array, seed: Uint8Array | undefined): Buffer {
  let inner: Buffer;
  if (alg.family === 'slh-dsa') inner = Buffer.from(sk);
  else if (seed) inner = tlv(0x80, seed);
  else inner = tlv(0x04, sk);
  return tlv(0x30, Buffer.from([0x02, 0x01, 0x00]), algorithmIdentifier(alg), tlv(0x04, inner));
}

function parseDer(bytes: Uint8Array): asn1js.AsnType | undefined {
  const r = decodeBer(bytes);
  // Trailing bytes after the structure are malformed input too.
  if (r === undefined || r.offset !== bytes.length) return undefined;
  return r.result;
}

function items(x: asn1js.AsnType | undefined): asn1js.AsnType[] | undefined {
  return x instanceof asn1js.Sequence ? x.valueBlock.value : undefined;
}

function oidOf(algId: asn1js.AsnType | undefined): string | undefined {
  const first = items(algId)?.[0];
  return first instanceof asn1js.ObjectIdentifier ? first.valueBlock.toString() : undefined;
}

function octets(x: asn1js.AsnType | undefined): Uint8Array | undefined {
  return x instanceof asn1js.OctetString && !x.idBlock.isConstructed ? new Uint8Array(x.valueBlock.valueHexView) : undefined;
}

/** The algorithm OID of a SubjectPublicKeyInfo or PKCS#8 structure, or undefined if it is neither. */
export function derAlgorithmOid(bytes: Uint8Array): string | undefined {
  const top = items(parseDer(bytes));
  if (!top) return undefined;
  // SPKI: [AlgorithmIdentifier, BIT STRING]; PKCS#8: [INTEGER, AlgorithmIdentifier, OCTET STRING, ...].
  return top[0] instanceof asn1js.Integer ? oidOf(top[1]) : oidOf(top[0]);
}

function invalid(what: string): KmipError {
  return new KmipError(Reason.InvalidField, `the Key Material is not a valid ${what}`);
}

function algFromOid(oid: string | undefined, expected: PqcAlgorithm | undefined, what: string): PqcAlgorithm {
  const alg = oid === undefined ? undefined : pqcByOid(oid);
  if (!alg) throw invalid(what);
  if (expected && expected.kmip !== alg.kmip) {
    throw new KmipError(Reason.InvalidField, `the key is ${alg.name} but its Cryptographic Algorithm says ${expected.name}`);
  }
  return alg;
}

/** A PQC SubjectPublicKeyInfo read and checked; Invalid Field when malformed or not `expected`'s. */
export function readPqcSpki(bytes: Uint8Array, expected: PqcAlgorithm | undefined): PqcKey {
  const top = items(parseDer(bytes));
  if (!top || top.length !== 2) throw invalid('SubjectPublicKeyInfo');
  const alg = algFromOid(oidOf(top[0]), expected, 'post-quantum SubjectPublicKeyInfo');
  const bits = top[1];
  if (!(bits instanceof asn1js.BitString) || bits.valueBlock.unusedBits !== 0) throw invalid(`${alg.name} SubjectPublicKeyInfo`);
  const pk = new Uint8Array(bits.valueBlock.valueHexView);
  checkPqcPublicKey(alg, pk);
  return { alg, kind: 'public', bytes: pk };
}

/** The seed, expanded or both forms inside an ML-KEM / ML-DSA PKCS#8 privateKey. */
function readLatticePrivate(alg: PqcAlgorithm, inner: Uint8Array): PqcKey {
  const x = parseDer(inner);
  if (x && x.idBlock.tagClass === 3 && x.idBlock.tagNumber === 0 && !x.idBlock.isConstructed) {
    const seed = new Uint8Array((x as asn1js.Primitive).valueBlock.valueHexView);
    const pair = pqcKeyPairFromSeed(alg, seed);
    return { alg, kind: 'private', bytes: pair.secretKey, seed: pair.seed };
  }
  const expanded = octets(x);
  if (expanded) {
    pqcPublicFromSecret(alg, expanded);
    return { alg, kind: 'private', bytes: expanded };
  }
  const both = items(x);
  const seed = octets(both?.[0]);
  const sk = octets(both?.[1]);
  if (!both || both.length !== 2 || !seed || !sk) throw invalid(`${alg.name} PKCS#8 private key (seed, expandedKey or both)`);
  const pair = pqcKeyPairFromSeed(alg, seed);
  // RFC 9881/9935: a "both" key whose halves disagree is rejected.
  if (!Buffer.from(pair.secretKey).equals(Buffer.from(sk))) {
    pair.secretKey.fill(0);
    throw new KmipError(Reason.InvalidField, `the ${alg.name} PKCS#8 seed and expanded key do not match`);
  }
  return { alg, kind: 'private', bytes: pair.secretKey, seed: pair.seed };
}

function readPkcs8(bytes: Uint8Array, expected: PqcAlgorithm | undefined): PqcKey {
  const top = items(parseDer(bytes));
  if (!top || top.length < 3 || !(top[0] instanceof asn1js.Integer)) throw invalid('PKCS#8 private key');
  const alg = algFromOid(oidOf(top[1]), expected, 'post-quantum PKCS#8 private key');
  const inner = octets(top[2]);
  if (!inner) throw invalid(`${alg.name} PKCS#8 private key`);
  if (alg.family !== 'slh-dsa') return readLatticePrivate(alg, inner);
  // Raw, or (leniently) the raw key wrapped once more in an OCTET STRING.
  const sk = inner.length === alg.secretKeyBytes ? inner : octets(parseDer(inner));
  // (inner is already a copy of the DER's bytes)
  if (!sk) throw invalid(`${alg.name} PKCS#8 private key`);
  pqcPublicFromSecret(alg, sk);
  return { alg, kind: 'private', bytes: sk };
}

function readRaw(bytes: Uint8Array, kind: PqcKind, alg: PqcAlgorithm | undefined): PqcKey {
  if (!alg) throw new KmipError(Reason.MissingData, 'a Raw post-quantum key needs its Cryptographic Algorithm (in the Key Block or the attributes)');
  if (kind === 'public') {
    checkPqcPublicKey(alg, bytes);
    return { alg, kind, bytes: Uint8Array.from(bytes) };
  }
  if (alg.seedBytes !== undefined && bytes.length === alg.seedBytes) {
    const pair = pqcKeyPairFromSeed(alg, bytes);
    return { alg, kind, bytes: pair.secretKey, seed: pair.seed };
  }
  pqcPublicFromSecret(alg, bytes);
  // A copy: the caller wipes what it is given, and the request's material is not its to wipe.
  return { alg, kind, bytes: Uint8Array.from(bytes) };
}

// -------------------------------------------------------------------------------------------------
// Key blocks

function kindOf(objectType: number): PqcKind | undefined {
  if (objectType === ObjectType.PrivateKey) return 'private';
  if (objectType === ObjectType.PublicKey) return 'public';
  return undefined;
}

function materialBytes(block: TtlvStructure): Uint8Array {
  const kv = opt.structure(block, Tag.KeyValue);
  const material = kv ? child(kv, Tag.KeyMaterial) : undefined;
  if (!material) throw new KmipError(Reason.MissingData, 'the key block has no Key Material');
  if (material.type !== ItemType.ByteString) throw new KmipError(Reason.InvalidField, 'post-quantum Key Material must be a Byte String');
  return material.value;
}

/**
 * The PQC algorithm of a key block: its Cryptographic Algorithm, else `hint` (the object's
 * attribute), else the OID of DER material. Undefined for every other key.
 */
export function pqcOfBlock(block: TtlvStructure, hint?: number): PqcAlgorithm | undefined {
  const stated = opt.enumeration(block, Tag.CryptographicAlgorithm) ?? hint;
  if (stated !== undefined) return pqcAlgorithm(stated);
  const format = opt.enumeration(block, Tag.KeyFormatType);
  if (format !== KeyFormatType.PKCS_8 && format !== KeyFormatType.X_509) return undefined;
  const kv = opt.structure(block, Tag.KeyValue);
  const material = kv ? child(kv, Tag.KeyMaterial) : undefined;
  if (material?.type !== ItemType.ByteString) return undefined;
  const oid = derAlgorithmOid(material.value);
  return oid === undefined ? undefined : pqcByOid(oid);
}

/** Reads a PQC key block of `kind` (its label may be PKCS#8 or X.509 for either DER form: read as what it is). */
export function readPqcBlock(block: TtlvStructure, kind: PqcKind, alg: PqcAlgorithm | undefined): PqcKey {
  const format = opt.enumeration(block, Tag.KeyFormatType);
  const bytes = materialBytes(block);
  if (format === KeyFormatType.Raw) return readRaw(bytes, kind, alg);
  if (format === KeyFormatType.PKCS_8 || format === KeyFormatType.X_509) {
    return kind === 'public' ? readPqcSpki(bytes, alg) : readPkcs8(bytes, alg);
  }
  throw new KmipError(Reason.KeyFormatTypeNotSupported, `${alg?.name ?? 'post-quantum'} keys are given as ${kind === 'public' ? 'X.509 (SubjectPublicKeyInfo)' : 'PKCS#8'} or Raw`);
}

function materialIn(key: PqcKey, format: number): Uint8Array {
  if (format === KeyFormatType.Raw) return Uint8Array.from(key.bytes);
  const wanted = key.kind === 'public' ? KeyFormatType.X_509 : KeyFormatType.PKCS_8;
  if (format !== wanted || !key.alg.oid) {
    throw new KmipError(Reason.KeyFormatTypeNotSupported, `a ${key.alg.name} ${key.kind} key is given as ${key.alg.oid ? `${key.kind === 'public' ? 'X.509' : 'PKCS#8'} or ` : ''}Raw`);
  }
  return key.kind === 'public' ? pqcSpki(key.alg, key.bytes) : pkcs8(key.alg, key.bytes, key.seed);
}

/** A key block for `key` in `format`, with its algorithm and length. */
export function pqcKeyBlock(key: PqcKey, format: number): TtlvStructure {
  return ttlv.structure(Tag.KeyBlock, [
    ttlv.enumeration(Tag.KeyFormatType, format),
    ttlv.structure(Tag.KeyValue, [ttlv.byteString(Tag.KeyMaterial, materialIn(key, format))]),
    ttlv.enumeration(Tag.CryptographicAlgorithm, key.alg.kmip),
    ttlv.integer(Tag.CryptographicLength, pqcLength(key.alg)),
  ]);
}

/** Get with Key Format Type: the stored PQC block re-expressed; new bytes join `secrets`. */
export function convertPqcKeyBlock(block: TtlvStructure, objectType: number, to: number, alg: PqcAlgorithm, secrets: Uint8Array[]): TtlvStructure {
  const kind = kindOf(objectType);
  if (!kind) throw new KmipError(Reason.KeyFormatTypeNotSupported, 'only public and private keys are converted here');
  if (opt.enumeration(block, Tag.KeyFormatType) === to) return block;
  const key = readPqcBlock(block, kind, alg);
  secrets.push(key.bytes);
  if (key.seed) secrets.push(key.seed);
  const material = materialIn(key, to);
  secrets.push(material);
  const out: TtlvItem[] = block.value.map((c) => {
    if (c.tag === Tag.KeyFormatType) return ttlv.enumeration(Tag.KeyFormatType, to);
    if (c.tag === Tag.KeyValue && c.type === ItemType.Structure) {
      return ttlv.structure(Tag.KeyValue, c.value.map((k) => (k.tag === Tag.KeyMaterial ? ttlv.byteString(Tag.KeyMaterial, material) : k)));
    }
    return c;
  });
  return ttlv.structure(Tag.KeyBlock, out);
}

/**
 * Register: a PQC key must parse and pass its checks (length, FIPS 203 hash and modulus checks,
 * a private key that yields its public key); states algorithm and length. Undefined for other keys.
 */
export function inspectPqcKeyBlock(block: TtlvStructure, objectType: number, hint: number | undefined): { algorithm: number; length: number } | undefined {
  const kind = kindOf(objectType);
  if (!kind || child(block, Tag.KeyWrappingData)) return undefined;
  const alg = pqcOfBlock(block, hint);
  if (!alg) return undefined;
  const key = readPqcBlock(block, kind, alg);
  if (kind === 'private') {
    key.bytes.fill(0);
    key.seed?.fill(0);
  }
  return { algorithm: alg.kmip, length: pqcLength(alg) };
}
