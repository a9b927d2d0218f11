/**
 * Which DER encoding a public or private key's Key Material really is, whatever its Key Format
 * Type label says: clients send PKCS#1 bytes labelled PKCS#8, SubjectPublicKeyInfo labelled Raw,
 * and so on. The ASN.1 structure decides (asn1js); Node's parser then checks the key itself. The
 * structures are told apart by their outer fields, so one input matches one encoding at most:
 *
 *   PKCS#8 PrivateKeyInfo       SEQUENCE { INTEGER 0|1, AlgorithmIdentifier, OCTET STRING, [0]?, [1]? }
 *   EncryptedPrivateKeyInfo     SEQUENCE { AlgorithmIdentifier, OCTET STRING }
 *   PKCS#1 RSAPrivateKey        SEQUENCE { INTEGER 0|1, 8 INTEGERs, ... }
 *   SEC1 ECPrivateKey           SEQUENCE { INTEGER 1, OCTET STRING, [0]?, [1]? }
 *   SubjectPublicKeyInfo        SEQUENCE { AlgorithmIdentifier, BIT STRING }
 *   PKCS#1 RSAPublicKey         SEQUENCE { INTEGER, INTEGER }
 *
 * Stricter than Node alone, which takes trailing bytes after the key and parses a PKCS#8 key
 * asked for as PKCS#1: bytes past the outer SEQUENCE are refused, and EC keys must name their
 * curve (explicit curve parameters are refused: named curves only).
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';
import { KmipError, Reason } from '../kmip/errors';
import { decodeBer } from './ber';

export type PrivateEncoding = 'pkcs8' | 'encrypted-pkcs8' | 'pkcs1' | 'sec1';
export type PublicEncoding = 'spki' | 'pkcs1';

/** Labels for messages. */
const ENCODING_LABEL = {
  private: {
    pkcs8: 'PKCS#8 PrivateKeyInfo',
    'encrypted-pkcs8': 'PKCS#8 EncryptedPrivateKeyInfo',
    pkcs1: 'PKCS#1 RSAPrivateKey',
    sec1: 'SEC1 ECPrivateKey',
  },
  public: { spki: 'X.509 SubjectPublicKeyInfo', pkcs1: 'PKCS#1 RSAPublicKey' },
} as const;

/** The largest RSA modulus accepted from a client unless configured (limits.maxRsaModulusBits). */
export const DEFAULT_MAX_RSA_MODULUS_BITS = 16_384;

export interface KeyMaterialLimits {
  readonly maxRsaModulusBits: number;
}

export const DEFAULT_KEY_LIMITS: KeyMaterialLimits = { maxRsaModulusBits: DEFAULT_MAX_RSA_MODULUS_BITS };

const EC_PUBLIC_KEY_OID = '1.2.840.10045.2.1';

/** Far above any key's shape (a PBES2 EncryptedPrivateKeyInfo nests 6 deep), far below harm. */
const PARSE_LIMITS = { maxDepth: 16, maxNodes: 256, maxContentLength: 64 * 1024 };

export type PrivateKeyRead = { readonly encoding: 'encrypted-pkcs8' } | { readonly encoding: Exclude<PrivateEncoding, 'encrypted-pkcs8'>; readonly key: KeyObject };
export interface PublicKeyRead {
  readonly encoding: PublicEncoding;
  readonly key: KeyObject;
}

type Block = asn1js.AsnType;

/** The outer SEQUENCE's elements, or undefined when the bytes are not exactly one SEQUENCE. */
function outerSequence(bytes: Uint8Array): Block[] | undefined {
  if (bytes.length === 0 || bytes[0] !== 0x30) return undefined;
  const parsed = decodeBer(bytes, PARSE_LIMITS);
  // A shorter offset leaves trailing bytes.
  if (parsed === undefined || parsed.offset !== bytes.length || parsed.result.error !== '' || !(parsed.result instanceof asn1js.Sequence)) return undefined;
  return parsed.result.valueBlock.value;
}

function isInteger(b: Block | undefined): b is asn1js.Integer {
  return b instanceof asn1js.Integer;
}

/** A small non-negative INTEGER with the value `v` (version fields). */
function isSmallInt(b: Block | undefined, ...values: number[]): boolean {
  if (!isInteger(b)) return false;
  const bytes = b.valueBlock.valueHexView;
  return bytes.length === 1 && values.includes(bytes[0] as number);
}

/** AlgorithmIdentifier: SEQUENCE { OBJECT IDENTIFIER, parameters? }. */
function algorithmId(b: Block | undefined): { oid: string; params: Block | undefined } | undefined {
  if (!(b instanceof asn1js.Sequence)) return undefined;
  const [oid, params, ...rest] = b.valueBlock.value;
  if (!(oid instanceof asn1js.ObjectIdentifier) || rest.length > 0) return undefined;
  return { oid: oid.valueBlock.toString(), params };
}

function isOctetString(b: Block | undefined): boolean {
  return b instanceof asn1js.OctetString && !b.idBlock.isConstructed;
}

function isContextTag(b: Block | undefined, ...numbers: number[]): boolean {
  return b !== undefined && b.idBlock.tagClass === 3 && numbers.includes(b.idBlock.tagNumber);
}

/** An id-ecPublicKey AlgorithmIdentifier must carry a namedCurve OID (not specifiedCurve or implicitCA). */
function namedCurveOnly(alg: { oid: string; params: Block | undefined }): void {
  if (alg.oid === EC_PUBLIC_KEY_OID && !(alg.params instanceof asn1js.ObjectIdentifier)) {
    throw new KmipError(Reason.InvalidField, 'the Key Material is an EC key with explicit curve parameters: only named curves are accepted');
  }
}

function classifyPrivate(s: Block[]): PrivateEncoding | undefined {
  const [a, b, c, ...rest] = s;
  if (isSmallInt(a, 0, 1) && algorithmId(b) && isOctetString(c) && rest.length <= 2 && rest.every((r) => isContextTag(r, 0, 1))) {
    namedCurveOnly(algorithmId(b)!);
    return 'pkcs8';
  }
  if (s.length === 2 && algorithmId(a) && isOctetString(b)) return 'encrypted-pkcs8';
  if (s.length >= 9 && isSmallInt(a, 0, 1) && s.slice(0, 9).every(isInteger)) {
    // Version 0: two primes, exactly nine INTEGERs; version 1: a tenth field lists the other primes.
    if (isSmallInt(a, 0) ? s.length === 9 : s.length === 10 && s[9] instanceof asn1js.Sequence) return 'pkcs1';
    return undefined;
  }
  if (isSmallInt(a, 1) && isOctetString(b) && s.length <= 4 && s.slice(2).every((r) => isContextTag(r, 0, 1))) {
    const params = s.slice(2).find((r) => isContextTag(r, 0));
    if (params) {
      const inner = (params as asn1js.Constructed).valueBlock.value;
      if (!params.idBlock.isConstructed || inner?.length !== 1 || !(inner[0] instanceof asn1js.ObjectIdentifier)) {
        throw new KmipError(Reason.InvalidField, 'the Key Material is an EC key with explicit curve parameters: only named curves are accepted');
      }
    }
    return 'sec1';
  }
  return undefined;
}

function classifyPublic(s: Block[]): PublicEncoding | undefined {
  const [a, b] = s;
  if (s.length !== 2) return undefined;
  const alg = algorithmId(a);
  if (alg && b instanceof asn1js.BitString && !b.idBlock.isConstructed) {
    namedCurveOnly(alg);
    return 'spki';
  }
  if (isInteger(a) && isInteger(b)) return 'pkcs1';
  return undefined;
}

function listOf(labels: readonly string[]): string {
  return labels.length <= 1 ? (labels[0] ?? '') : `${labels.slice(0, -1).join(', ')} or ${labels[labels.length - 1]}`;
}

/** Invalid Field naming the field, what the client said it was and every encoding tried. */
function noneOf(kind: 'private' | 'public', labelled: string, extra: readonly string[] = []): KmipError {
  const tried = [...Object.values(ENCODING_LABEL[kind]), ...extra];
  return new KmipError(Reason.InvalidField, `the Key Material (labelled ${labelled}) is not a ${kind} key: it is none of ${listOf(tried)}`);
}

function structureButNotKey(label: string): KmipError {
  return new KmipError(Reason.InvalidField, `the Key Material has the structure of a ${label} but is not a valid key`);
}

/** Smallest RSA modulus taken as a key at all (no client sends less; PyKMIP's test keys are 1024). */
const MIN_RSA_MODULUS_BITS = 512;

function big(b64u: string | undefined): bigint {
  return b64u === undefined || b64u.length === 0 ? 0n : BigInt(`0x${Buffer.from(b64u, 'base64url').toString('hex')}`);
}

/**
 * OpenSSL parses an RSAPrivateKey without checking that its numbers belong together (nine INTEGERs
 * of 1 load as a key). Cheap arithmetic does: n = pq, d and the CRT values invert e and q.
 */
function rsaPrivateConsistent(key: KeyObject): boolean {
  const j = key.export({ format: 'jwk' });
  if (j.p === undefined || j.q === undefined) return true; // multi-prime keys: left to use
  const [n, e, d, p, q, dp, dq, qi] = [j.n, j.e, j.d, j.p, j.q, j.dp, j.dq, j.qi].map(big) as [bigint, bigint, bigint, bigint, bigint, bigint, bigint, bigint];
  if (p < 3n || q < 3n || p * q !== n) return false;
  return (e * d) % (p - 1n) === 1n && (e * d) % (q - 1n) === 1n && (e * dp) % (p - 1n) === 1n && (e * dq) % (q - 1n) === 1n && (qi * q) % p === 1n;
}

/** The caps a client's key must keep (RSA modulus size, named curves), and an RSA key's own consistency. */
export function checkKeyLimits(key: KeyObject, limits: KeyMaterialLimits): void {
  const t = key.asymmetricKeyType;
  if (t === 'rsa' || t === 'rsa-pss') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits > limits.maxRsaModulusBits) {
      throw new KmipError(Reason.InvalidField, `the RSA modulus of ${bits} bits is above the server's limit of ${limits.maxRsaModulusBits} bits (limits.maxRsaModulusBits)`);
    }
    if (bits < MIN_RSA_MODULUS_BITS) throw new KmipError(Reason.InvalidField, `an RSA modulus of ${bits} bits is not a key`);
    if (key.type === 'private' && !rsaPrivateConsistent(key)) {
      throw new KmipError(Reason.InvalidField, 'the RSA private key is inconsistent: its primes, exponents and coefficient do not belong together');
    }
  }
  if (t === 'ec' && key.asymmetricKeyDetails?.namedCurve === undefined) {
    throw new KmipError(Reason.InvalidField, 'the EC key does not name its curve: only named curves are accepted');
  }
}

/**
 * A private key's DER Key Material in whichever of the four encodings it is. `labelled` names the
 * client's Key Format Type for messages. An EncryptedPrivateKeyInfo is recognised (Node asks for
 * its password) but not opened: the server keeps it as given.
 */
export function readPrivateDer(bytes: Uint8Array, labelled: string, extraTried: readonly string[] = []): PrivateKeyRead {
  const s = outerSequence(bytes);
  const encoding = s ? classifyPrivate(s) : undefined;
  if (!encoding && s && classifyPublic(s) !== undefined) {
    throw new KmipError(Reason.InvalidField, `the Key Material (labelled ${labelled}) is a public key, not a private key`);
  }
  if (!encoding) throw noneOf('private', labelled, extraTried);
  const label = ENCODING_LABEL.private[encoding];
  if (encoding === 'encrypted-pkcs8') {
    try {
      createPrivateKey({ key: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), format: 'der', type: 'pkcs8' });
    } catch (e) {
      if ((e as { code?: unknown }).code === 'ERR_MISSING_PASSPHRASE') return { encoding };
    }
    throw structureButNotKey(label);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), format: 'der', type: encoding });
  } catch {
    throw structureButNotKey(label);
  }
  if (key.type !== 'private' || (encoding === 'pkcs1' && key.asymmetricKeyType !== 'rsa') || (encoding === 'sec1' && key.asymmetricKeyType !== 'ec')) {
    throw structureButNotKey(label);
  }
  return { encoding, key };
}

/** A public key's DER Key Material: SubjectPublicKeyInfo or PKCS#1 RSAPublicKey. */
export function readPublicDer(bytes: Uint8Array, labelled: string, extraTried: readonly string[] = []): PublicKeyRead {
  const s = outerSequence(bytes);
  if (s && classifyPrivate(s) !== undefined) {
    throw new KmipError(Reason.InvalidField, `the Key Material (labelled ${labelled}) is a private key, not a public key`);
  }
  const encoding = s ? classifyPublic(s) : undefined;
  if (!encoding) throw noneOf('public', labelled, extraTried);
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), format: 'der', type: encoding });
  } catch {
    throw structureButNotKey(ENCODING_LABEL.public[encoding]);
  }
  if (key.type !== 'public' || (encoding === 'pkcs1' && key.asymmetricKeyType !== 'rsa')) throw structureButNotKey(ENCODING_LABEL.public[encoding]);
  return { encoding, key };
}

/** A copy of `b` in an ArrayBuffer of its own, the form asn1js and pkijs take (not a view of a pooled Buffer). */
export function toArrayBuffer(b: Uint8Array): ArrayBuffer {
  const out = new ArrayBuffer(b.length);
  new Uint8Array(out).set(b);
  return out;
}
