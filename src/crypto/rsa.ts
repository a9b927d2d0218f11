/**
 * RSA Encrypt / Decrypt: PKCS#1 v1.5 and OAEP (RFC 8017).
 *
 * OpenSSL does the modular arithmetic in every case. Where Node's own padding covers the request
 * (OAEP whose MGF1 hash equals its label hash; v1.5 encryption) Node pads. Two cases are padded
 * here over raw RSA:
 * - OAEP with a different MGF1 hash (OASIS CS-AC-M-OAEP-7..10: SHA-384 with MGF1-SHA-256), which
 *   Node's options cannot express;
 * - v1.5 decryption, which Node refuses since CVE-2023-46809 (the Marvin attack) on OpenSSL 3.0.
 *   It is done here with implicit rejection (draft-irtf-cfrg-rsa-guidance): a malformed padding
 *   yields a deterministic pseudo-random message instead of an error, so the response does not
 *   reveal whether the padding was valid.
 */
import { constants, createHash, createHmac, privateDecrypt, publicEncrypt, timingSafeEqual, type KeyObject } from 'node:crypto';
import { HashingAlgorithm, MaskGenerator, PaddingMethod } from '../spec/generated/enums';
import { enumValueInfo } from '../spec/registry';
import { KmipError, Reason } from '../kmip/errors';
import type { CryptoParams } from './params';
import { secureRandomBytes } from './random-pool';
import { HASHES, type HashInfo } from './tables';

export interface RsaCipherParams {
  readonly padding: 'pkcs1' | 'oaep';
  readonly hash: HashInfo;
  readonly mgfHash: HashInfo;
  readonly label: Buffer;
}

function hashOf(h: number, what: string): HashInfo {
  const info = HASHES[h];
  if (!info) throw new KmipError(Reason.InvalidField, `${what} ${enumValueInfo('HashingAlgorithm', h)?.name ?? h} is not supported`);
  return info;
}

/**
 * Padding defaults to OAEP (v1.5 encryption is legacy); OAEP's hash defaults to SHA-1 and its
 * MGF1 hash to the OAEP hash, as RFC 8017 and PKCS#11 pair them.
 */
export function resolveRsaCipher(params: CryptoParams): RsaCipherParams {
  const pad = params.paddingMethod ?? PaddingMethod.OAEP;
  if (pad === PaddingMethod.PKCS1V1_5) {
    const sha1 = hashOf(HashingAlgorithm.SHA_1, 'Hashing Algorithm');
    return { padding: 'pkcs1', hash: sha1, mgfHash: sha1, label: Buffer.alloc(0) };
  }
  if (pad !== PaddingMethod.OAEP) {
    throw new KmipError(Reason.InvalidField, `RSA encryption supports Padding Methods OAEP and PKCS1 v1.5, not ${enumValueInfo('PaddingMethod', pad)?.name ?? pad}`);
  }
  if (params.maskGenerator !== undefined && params.maskGenerator !== MaskGenerator.MGF1) {
    throw new KmipError(Reason.InvalidField, 'OAEP supports the MGF1 mask generator only');
  }
  const hash = hashOf(params.hashingAlgorithm ?? HashingAlgorithm.SHA_1, 'Hashing Algorithm');
  const mgfHash = params.maskGeneratorHashingAlgorithm === undefined ? hash : hashOf(params.maskGeneratorHashingAlgorithm, 'Mask Generator Hashing Algorithm');
  return { padding: 'oaep', hash, mgfHash, label: Buffer.from(params.pSource ?? new Uint8Array(0)) };
}

function modulusBytes(key: KeyObject): number {
  const bits = key.asymmetricKeyDetails?.modulusLength;
  if (bits === undefined) throw new KmipError(Reason.InvalidField, 'not an RSA key');
  return Math.ceil(bits / 8);
}

function mgf1(seed: Uint8Array, length: number, hash: HashInfo): Buffer {
  const parts: Buffer[] = [];
  const counter = Buffer.alloc(4);
  for (let c = 0, got = 0; got < length; c++, got += hash.bytes) {
    counter.writeUInt32BE(c, 0);
    parts.push(createHash(hash.node).update(seed).update(counter).digest());
  }
  return Buffer.concat(parts).subarray(0, length);
}

function xorInto(target: Buffer, mask: Uint8Array): void {
  for (let i = 0; i < target.length; i++) target[i] = (target[i] ?? 0) ^ (mask[i] ?? 0);
}

function tooLong(): KmipError {
  return new KmipError(Reason.InvalidField, 'the data is too long for this RSA key and padding');
}

export function rsaEncrypt(key: KeyObject, p: RsaCipherParams, data: Uint8Array): Buffer {
  const k = modulusBytes(key);
  if (p.padding === 'pkcs1') {
    if (data.length > k - 11) throw tooLong();
    return publicEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, data);
  }
  const hLen = p.hash.bytes;
  if (data.length > k - 2 * hLen - 2) throw tooLong();
  if (p.hash.node === p.mgfHash.node) {
    return publicEncrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: p.hash.node, oaepLabel: p.label }, data);
  }
  // EME-OAEP encoding (RFC 8017 7.1.1) with distinct label and MGF1 hashes.
  const lHash = createHash(p.hash.node).update(p.label).digest();
  const db = Buffer.concat([lHash, Buffer.alloc(k - data.length - 2 * hLen - 2), Buffer.from([1]), data]);
  const seed = secureRandomBytes(hLen);
  xorInto(db, mgf1(seed, k - hLen - 1, p.mgfHash));
  xorInto(seed, mgf1(db, hLen, p.mgfHash));
  const em = Buffer.concat([Buffer.from([0]), seed, db]);
  try {
    return publicEncrypt({ key, padding: constants.RSA_NO_PADDING }, em);
  } finally {
    em.fill(0);
    db.fill(0);
  }
}

function rawDecrypt(key: KeyObject, data: Uint8Array, k: number): Buffer {
  if (data.length !== k) throw new KmipError(Reason.CryptographicFailure, `RSA ciphertext must be ${k} bytes`);
  try {
    return privateDecrypt({ key, padding: constants.RSA_NO_PADDING }, data);
  } catch {
    throw new KmipError(Reason.CryptographicFailure, 'RSA decryption failed');
  }
}

export function rsaDecrypt(key: KeyObject, p: RsaCipherParams, data: Uint8Array): Buffer {
  const k = modulusBytes(key);
  if (p.padding === 'pkcs1') return pkcs1Decrypt(key, data, k);
  if (p.hash.node === p.mgfHash.node) {
    try {
      return privateDecrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: p.hash.node, oaepLabel: p.label }, data);
    } catch {
      throw new KmipError(Reason.CryptographicFailure, 'RSA-OAEP decryption failed');
    }
  }
  return oaepDecode(rawDecrypt(key, data, k), p, k);
}

/** EME-OAEP decoding (RFC 8017 7.1.2); every failure is the same error, checked without early exit. */
function oaepDecode(em: Buffer, p: RsaCipherParams, k: number): Buffer {
  const hLen = p.hash.bytes;
  try {
    if (k < 2 * hLen + 2) throw new KmipError(Reason.CryptographicFailure, 'RSA-OAEP decryption failed');
    const seed = Buffer.from(em.subarray(1, 1 + hLen));
    const db = Buffer.from(em.subarray(1 + hLen));
    xorInto(seed, mgf1(db, hLen, p.mgfHash));
    xorInto(db, mgf1(seed, k - hLen - 1, p.mgfHash));
    const lHash = createHash(p.hash.node).update(p.label).digest();
    let bad = em[0] === 0 ? 0 : 1;
    bad |= timingSafeEqual(db.subarray(0, hLen), lHash) ? 0 : 1;
    // Find the 0x01 after the zero padding, looking at every byte.
    let found = 0;
    let index = 0;
    for (let i = hLen; i < db.length; i++) {
      const b = db[i] ?? 0;
      const isOne = b === 1 ? 1 : 0;
      const isZero = b === 0 ? 1 : 0;
      const first = isOne & (found ^ 1);
      index = first ? i : index;
      found |= isOne;
      bad |= (found ^ 1) & (isZero ^ 1) & (isOne ^ 1);
    }
    bad |= found ^ 1;
    seed.fill(0);
    if (bad !== 0) {
      db.fill(0);
      throw new KmipError(Reason.CryptographicFailure, 'RSA-OAEP decryption failed');
    }
    const out = Buffer.from(db.subarray(index + 1));
    db.fill(0);
    return out;
  } finally {
    em.fill(0);
  }
}

/** PRF of the implicit-rejection construction: HMAC-SHA256 in counter mode. */
function prf(kdk: Buffer, label: string, bytes: number): Buffer {
  const parts: Buffer[] = [];
  const bits = Buffer.alloc(2);
  bits.writeUInt16BE(bytes * 8, 0);
  for (let i = 0, got = 0; got < bytes; i++, got += 32) {
    const ctr = Buffer.alloc(2);
    ctr.writeUInt16BE(i, 0);
    parts.push(createHmac('sha256', kdk).update(ctr).update(label).update(bits).digest());
  }
  return Buffer.concat(parts).subarray(0, bytes);
}

/** RSAES-PKCS1-v1_5 decryption with implicit rejection: never fails on bad padding. */
function pkcs1Decrypt(key: KeyObject, data: Uint8Array, k: number): Buffer {
  const em = rawDecrypt(key, data, k);
  const der = key.export({ format: 'der', type: 'pkcs1' });
  const kdk = createHmac('sha256', createHash('sha256').update(der).digest()).update(data).digest();
  der.fill(0);
  try {
    // The synthetic message and its length, derived from the key and the ciphertext.
    const maxLen = k - 11;
    const lengths = prf(kdk, 'length', 256);
    let mask = 1;
    while (mask < maxLen) mask = (mask << 1) | 1;
    let synthLen = 0;
    for (let i = lengths.length - 2; i >= 0; i -= 2) {
      const cand = lengths.readUInt16BE(i) & mask;
      synthLen = cand < maxLen ? cand : synthLen;
    }
    const synth = prf(kdk, 'message', k);

    let bad = (em[0] === 0 ? 0 : 1) | (em[1] === 2 ? 0 : 1);
    let found = 0;
    let index = 0;
    for (let i = 2; i < k; i++) {
      const isZero = em[i] === 0 ? 1 : 0;
      const first = isZero & (found ^ 1);
      index = first ? i : index;
      found |= isZero;
    }
    bad |= found ^ 1;
    bad |= index < 10 ? 1 : 0; // at least eight bytes of padding
    const out = bad ? Buffer.from(synth.subarray(k - synthLen)) : Buffer.from(em.subarray(index + 1));
    synth.fill(0);
    return out;
  } finally {
    em.fill(0);
    kdk.fill(0);
  }
}
