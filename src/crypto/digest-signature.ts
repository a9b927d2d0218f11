/**
 * Sign and Signature Verify with Digested Data (KMIP 1.4 on): the client hashed the message and
 * sends the digest, which is signed as it is, never hashed again.
 *
 * - RSA PKCS#1 v1.5: the DigestInfo (RFC 8017 §9.2: the hash's AlgorithmIdentifier and the digest)
 *   under type-1 padding, which is what Node's privateEncrypt / publicDecrypt do with
 *   RSA_PKCS1_PADDING: OpenSSL's own code, no padding of ours.
 * - RSA PSS and ECDSA: Node (OpenSSL's EVP_DigestSign) has no way to sign a digest it did not make,
 *   so the HSM does it (KeyProtector.signDigest / verifyDigest: CKM_RSA_PKCS_PSS, CKM_ECDSA).
 *   ECDSA signatures go out, and are read, DER-encoded like the rest of Sign's.
 * - EdDSA signs the message itself (Ed25519ph is not a KMIP algorithm) and DSA is not offered here:
 *   both are refused with a message saying to send Data.
 *
 * The digest must be exactly as long as the named hash's output (the hash is the Cryptographic
 * Parameters', or the scheme's default, as for Data).
 */
import { constants, privateEncrypt, publicDecrypt, timingSafeEqual, type KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';
import { KmipError, Reason } from '../kmip/errors';
import { KeyProtectorError, type DigestHash, type DigestSignatureRequest, type DigestSigningKey, type KeyProtector } from '../keys/key-protector';
import { bigToBytes, bytesToBig } from './asymmetric-keys';
import type { SignatureSetup } from './signature';
import { HASHES, curveByNode } from './tables';

/** Hash AlgorithmIdentifier OIDs for the DigestInfo (RFC 8017 appendix B.1; NIST CSOR for SHA-3). */
const HASH_OIDS: Readonly<Record<string, string>> = {
  md5: '1.2.840.113549.2.5',
  sha1: '1.3.14.3.2.26',
  sha224: '2.16.840.1.101.3.4.2.4',
  sha256: '2.16.840.1.101.3.4.2.1',
  sha384: '2.16.840.1.101.3.4.2.2',
  sha512: '2.16.840.1.101.3.4.2.3',
  'sha512-224': '2.16.840.1.101.3.4.2.5',
  'sha512-256': '2.16.840.1.101.3.4.2.6',
  'sha3-224': '2.16.840.1.101.3.4.2.7',
  'sha3-256': '2.16.840.1.101.3.4.2.8',
  'sha3-384': '2.16.840.1.101.3.4.2.9',
  'sha3-512': '2.16.840.1.101.3.4.2.10',
};

/** Hashes the HSM's PSS mechanism takes (PKCS#11 CKM_SHA_1 ... CKM_SHA512 with MGF1 of the same). */
const PSS_HASHES: readonly string[] = ['sha1', 'sha224', 'sha256', 'sha384', 'sha512'];

function isPssHash(h: string): h is DigestHash {
  return PSS_HASHES.includes(h);
}

function label(hash: string): string {
  return hash.toUpperCase().replace(/^SHA(\d)/, 'SHA-$1').replace(/^SHA-3-/, 'SHA3-');
}

/**
 * Checks the scheme can sign a digest and the digest's length; `refuse` makes the error for a
 * wrong length (Bad Cryptographic Parameters where the version has it, else Invalid Field).
 */
export function checkDigest(key: KeyObject, s: SignatureSetup, digest: Uint8Array, refuse: (message: string) => KmipError): string {
  const type = key.asymmetricKeyType;
  if (type === 'ed25519' || type === 'ed448') {
    throw new KmipError(Reason.InvalidField, 'EdDSA signs the message itself, not a digest: send Data instead of Digested Data');
  }
  if (type !== 'rsa' && type !== 'ec') {
    throw new KmipError(Reason.InvalidField, `Digested Data is signed with RSA and ECDSA keys only, not ${type ?? 'this'} keys: send Data`);
  }
  const hash = s.hash;
  if (hash === null) throw new KmipError(Reason.InvalidField, 'this scheme has no digest form: send Data');
  const info = Object.values(HASHES).find((h) => h?.node === hash);
  if (!info) throw new KmipError(Reason.InvalidField, `Hashing Algorithm ${hash} is not supported for Digested Data`);
  if (digest.length !== info.bytes) {
    throw refuse(`Digested Data is ${digest.length} bytes; a ${label(hash)} digest is ${info.bytes} (name the Hashing Algorithm in the Cryptographic Parameters)`);
  }
  if (s.padding === constants.RSA_PKCS1_PSS_PADDING && !isPssHash(hash)) {
    throw new KmipError(Reason.InvalidField, `PSS over Digested Data supports SHA-1 and SHA-224/256/384/512, not ${label(hash)}`);
  }
  return hash;
}

function digestInfo(hash: string, digest: Uint8Array): Buffer {
  const oid = HASH_OIDS[hash];
  if (oid === undefined) throw new KmipError(Reason.InvalidField, `Hashing Algorithm ${label(hash)} has no DigestInfo`);
  const seq = new asn1js.Sequence({
    value: [
      new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: oid }), new asn1js.Null()] }),
      new asn1js.OctetString({ valueHex: new Uint8Array(digest).buffer }),
    ],
  });
  return Buffer.from(seq.toBER(false));
}

function jwkPart(value: string | undefined): Buffer {
  if (value === undefined) throw new KmipError(Reason.CryptographicFailure, 'the key lacks a component');
  return Buffer.from(value, 'base64url');
}

/** The key as PKCS#11 attribute values; the caller wipes them (`wipeKey`). */
function hsmKey(key: KeyObject, withPrivate: boolean): DigestSigningKey {
  const j = key.export({ format: 'jwk' });
  if (key.asymmetricKeyType === 'rsa') {
    return {
      type: 'rsa',
      modulus: jwkPart(j.n),
      publicExponent: jwkPart(j.e),
      ...(withPrivate
        ? { private: { d: jwkPart(j.d), p: jwkPart(j.p), q: jwkPart(j.q), dp: jwkPart(j.dp), dq: jwkPart(j.dq), qi: jwkPart(j.qi) } }
        : {}),
    };
  }
  const curve = curveByNode(key.asymmetricKeyDetails?.namedCurve ?? '');
  if (!curve) throw new KmipError(Reason.InvalidField, `curve ${key.asymmetricKeyDetails?.namedCurve ?? '?'} is not supported`);
  const params = Buffer.from(new asn1js.ObjectIdentifier({ value: curve.oid }).toBER(false));
  if (withPrivate) return { type: 'ec', params, d: jwkPart(j.d) };
  return { type: 'ec', params, point: Buffer.concat([Buffer.from([4]), jwkPart(j.x), jwkPart(j.y)]) };
}

function wipeKey(k: DigestSigningKey): void {
  if (k.type === 'rsa' && k.private) for (const b of Object.values(k.private)) b.fill(0);
  if (k.type === 'ec') k.d?.fill(0);
}

function fieldBytes(key: KeyObject): number {
  const curve = curveByNode(key.asymmetricKeyDetails?.namedCurve ?? '');
  return Math.ceil((curve?.bits ?? 0) / 8);
}

function rawToDer(raw: Buffer): Buffer {
  const half = raw.length / 2;
  const seq = new asn1js.Sequence({
    value: [asn1js.Integer.fromBigInt(bytesToBig(raw.subarray(0, half))), asn1js.Integer.fromBigInt(bytesToBig(raw.subarray(half)))],
  });
  return Buffer.from(seq.toBER(false));
}

/** An ECDSA signature is a SEQUENCE of two INTEGERs: anything deeper or larger is not one. */
const SIGNATURE_PARSE_LIMITS = { maxDepth: 4, maxNodes: 8, maxContentLength: 1024 };

/** r || s from a DER ECDSA signature, or undefined when it is not one for this curve (exported for the property tests). */
export function derToRaw(der: Uint8Array, size: number): Buffer | undefined {
  let parsed: ReturnType<typeof asn1js.fromBER>;
  try {
    parsed = asn1js.fromBER(der, SIGNATURE_PARSE_LIMITS);
  } catch {
    // asn1js throws on some malformed content (a UniversalString of odd length, found by the property test).
    return undefined;
  }
  if (parsed.offset !== der.length || !(parsed.result instanceof asn1js.Sequence)) return undefined;
  const parts = parsed.result.valueBlock.value;
  if (parts.length !== 2 || !parts.every((p) => p instanceof asn1js.Integer)) return undefined;
  const [r, s] = (parts as asn1js.Integer[]).map((p) => p.toBigInt());
  if (r === undefined || s === undefined || r <= 0n || s <= 0n) return undefined;
  const rb = bigToBytes(r, size);
  const sb = bigToBytes(s, size);
  if (rb.length !== size || sb.length !== size) return undefined;
  return Buffer.concat([rb, sb]);
}

function pssSalt(s: SignatureSetup, hash: string): number {
  const saltLength = s.saltLength;
  // Digest-length salt is RFC 8017's usual choice, and the one to expect when the client names none.
  if (saltLength === undefined || saltLength < 0) return hashBytes(hash);
  return saltLength;
}

function hashBytes(hash: string): number {
  return Object.values(HASHES).find((h) => h?.node === hash)?.bytes ?? 0;
}

function mechanismFor(s: SignatureSetup, hash: string): DigestSignatureRequest['mechanism'] {
  if (s.padding === constants.RSA_PKCS1_PSS_PADDING && isPssHash(hash)) return { kind: 'rsa-pss', hash, saltLength: pssSalt(s, hash) };
  return { kind: 'ecdsa' };
}

/**
 * An HSM without the mechanism is a missing feature, said so; any other HSM failure goes on as it
 * is, to be answered like every key-protection failure (errors.ts: the client gets a correlation
 * id, the log the CKR name).
 */
function hsmRefused(e: unknown, scheme: string): unknown {
  if (e instanceof KeyProtectorError && (e.ckr === 'CKR_MECHANISM_INVALID' || e.ckr === 'CKR_MECHANISM_PARAM_INVALID')) {
    return new KmipError(Reason.FeatureNotSupported, `the HSM does not offer ${scheme} over a digest`);
  }
  return e;
}

function schemeName(s: SignatureSetup): string {
  return s.padding === constants.RSA_PKCS1_PSS_PADDING ? 'RSA PSS' : 'ECDSA';
}

function needHsm<K extends 'signDigest' | 'verifyDigest'>(keys: KeyProtector, method: K): NonNullable<KeyProtector[K]> {
  const f = keys[method];
  if (!f) throw new KmipError(Reason.FeatureNotSupported, 'this key protector cannot sign a digest with PSS or ECDSA');
  return f.bind(keys) as NonNullable<KeyProtector[K]>;
}

/** The signature over `digest` (checked by `checkDigest` first, which gives `hash`). */
export async function signDigest(keys: KeyProtector, key: KeyObject, s: SignatureSetup, hash: string, digest: Uint8Array): Promise<Buffer> {
  if (key.asymmetricKeyType === 'rsa' && s.padding !== constants.RSA_PKCS1_PSS_PADDING) {
    const info = digestInfo(hash, digest);
    try {
      return privateEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, info);
    } catch {
      throw new KmipError(Reason.CryptographicFailure, 'the signature could not be computed with these parameters');
    }
  }
  const sign = needHsm(keys, 'signDigest');
  const hk = hsmKey(key, true);
  try {
    const raw = await sign({ key: hk, mechanism: mechanismFor(s, hash), digest });
    return key.asymmetricKeyType === 'ec' ? rawToDer(raw) : raw;
  } catch (e) {
    throw hsmRefused(e, schemeName(s));
  } finally {
    wipeKey(hk);
  }
}

/** Valid or not; a malformed signature is simply not valid. */
export async function verifyDigest(keys: KeyProtector, key: KeyObject, s: SignatureSetup, hash: string, digest: Uint8Array, signature: Uint8Array): Promise<boolean> {
  if (key.asymmetricKeyType === 'rsa' && s.padding !== constants.RSA_PKCS1_PSS_PADDING) {
    const expected = digestInfo(hash, digest);
    let recovered: Buffer;
    try {
      recovered = publicDecrypt({ key, padding: constants.RSA_PKCS1_PADDING }, signature);
    } catch {
      return false;
    }
    return recovered.length === expected.length && timingSafeEqual(recovered, expected);
  }
  let sig: Buffer | undefined = Buffer.from(signature);
  if (key.asymmetricKeyType === 'ec') sig = derToRaw(signature, fieldBytes(key));
  if (sig === undefined) return false;
  const verify = needHsm(keys, 'verifyDigest');
  try {
    return await verify({ key: hsmKey(key, false), mechanism: mechanismFor(s, hash), digest }, sig);
  } catch (e) {
    throw hsmRefused(e, schemeName(s));
  }
}
