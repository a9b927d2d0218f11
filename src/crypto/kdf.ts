/**
 * Key derivation for Derive Key: the KMIP Derivation Methods as functions of the derivation key's
 * material, the derivation data and the Derivation Parameters. Each returns exactly `bytes` bytes
 * (the leftmost ones of the method's output), or Cryptographic Failure when the method cannot
 * produce that many (spec: "If the specified length exceeds the output of the derivation method,
 * then the server SHALL return an error").
 *
 * - PBKDF2 (RFC 8018): password = the derivation key's material; PRF HMAC with the Cryptographic
 *   Parameters' Hashing Algorithm (or HMAC algorithm), HMAC-SHA-1 when none is given (PKCS #5's
 *   default PRF). Runs on the thread pool; the iteration count is bounded.
 * - HASH: the digest of the derivation data, or of the key's material when there is no data.
 * - HMAC: HMAC over the derivation data keyed by the derivation key; the hash is the key's own HMAC
 *   algorithm, else the parameters' (a Secret Data key has no algorithm).
 * - ENCRYPT: the derivation data encrypted under the derivation key with the parameters' mode and
 *   padding and the Derivation Parameters' Initialization Vector (all zero when none is given: the
 *   derivation must be repeatable, so the IV is never random).
 * - NIST SP 800-108 counter mode: K(i) = PRF(K, [i]32 || Derivation Data || [L]32), PRF HMAC or
 *   CMAC as the key and parameters say; Derivation Data is Label || 0x00 || Context (spec).
 * - HKDF (RFC 5869, KMIP 2.0 on): IKM = the key's material, salt = Salt, info = Derivation Data,
 *   SHA-256 unless the parameters name another hash.
 */
import { createHash, createHmac, hkdf, pbkdf2 } from 'node:crypto';
import { promisify } from 'node:util';
import { CryptographicAlgorithm, DerivationMethod, HashingAlgorithm } from '../spec/generated/enums';
import { enumValueInfo } from '../spec/registry';
import { KmipError, Reason } from '../kmip/errors';
import { computeMac, resolveMac } from './mac';
import type { CryptoParams } from './params';
import { runOnce, setupCipher, startCipher } from './symmetric';
import { HASHES, HMACS, findCipher, type HashInfo, type MacInfo } from './tables';

const pbkdf2Async = promisify(pbkdf2);
const hkdfAsync = promisify(hkdf);

/**
 * PBKDF2 runs this many iterations at most: each request holds a thread-pool thread for the whole
 * computation, and a few seconds of it is already far above current guidance (OWASP 2023: 600 000
 * for HMAC-SHA-256).
 */
const MAX_PBKDF2_ITERATIONS = 5_000_000;

/** Largest derived object (bytes); Secret Data used to carry several keys and IVs stays well below. */
const MAX_DERIVED_BYTES = 1024;

export interface DeriveInput {
  readonly method: number;
  /** The derivation key's material (a key or Secret Data). */
  readonly key: Uint8Array;
  /** The derivation key's Cryptographic Algorithm, when it has one. */
  readonly keyAlgorithm?: number;
  readonly data?: Uint8Array;
  readonly params: CryptoParams;
  readonly iv?: Uint8Array;
  readonly salt?: Uint8Array;
  readonly iterations?: number;
  /** Bytes wanted. */
  readonly bytes: number;
  /**
   * NIST SP 800-108 counter mode. 'label-context' (default): Derivation Data is Label || 0x00 ||
   * Context, [L]32 is appended, the PRF follows the key (CMAC for a block-cipher key).
   * 'fixed-input-hmac': Derivation Data is the whole fixed input (nothing appended) and the PRF is
   * HMAC with the parameters' Hashing Algorithm: pykmip-server's reading, and NIST's CAVP vectors'
   * (chosen by a compatibility profile, src/compat/profiles.ts).
   */
  readonly counterMode?: 'label-context' | 'fixed-input-hmac';
}

function bad(message: string): KmipError {
  return new KmipError(Reason.InvalidField, message);
}

function tooLong(method: string, available: number, bytes: number): KmipError {
  return new KmipError(Reason.CryptographicFailure, `${method} gives ${available * 8} bits; ${bytes * 8} were asked for`);
}

function hashByEnum(h: number): HashInfo {
  const info = HASHES[h];
  if (!info) throw bad(`Hashing Algorithm ${enumValueInfo('HashingAlgorithm', h)?.name ?? h} is not supported for key derivation`);
  return info;
}

/** The hash an HMAC-based PRF uses: the parameters' Hashing Algorithm, else an HMAC algorithm's. */
function prfHash(params: CryptoParams, fallbackAlgorithm: number | undefined, fallbackHash: number | undefined): HashInfo {
  if (params.hashingAlgorithm !== undefined) return hashByEnum(params.hashingAlgorithm);
  for (const alg of [params.cryptographicAlgorithm, fallbackAlgorithm]) {
    const mac = alg === undefined ? undefined : HMACS[alg];
    if (mac?.kind === 'hmac') {
      const found = Object.values(HASHES).find((h) => h?.node === mac.hash);
      if (found) return found;
    }
  }
  if (fallbackHash !== undefined) return hashByEnum(fallbackHash);
  throw bad('the derivation needs a Hashing Algorithm (or an HMAC algorithm) in the Cryptographic Parameters');
}

function need(value: Uint8Array | undefined, what: string): Uint8Array {
  if (value === undefined) throw bad(`this Derivation Method needs the ${what}`);
  return value;
}

function truncate(out: Buffer, bytes: number, method: string): Buffer {
  if (out.length < bytes) {
    out.fill(0);
    throw tooLong(method, out.length, bytes);
  }
  if (out.length === bytes) return out;
  const head = Buffer.from(out.subarray(0, bytes));
  out.fill(0);
  return head;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
}

async function pbkdf2Derive(input: DeriveInput): Promise<Buffer> {
  const salt = need(input.salt, 'Salt');
  const iterations = input.iterations;
  if (iterations === undefined) throw bad('PBKDF2 needs the Iteration Count');
  if (!Number.isInteger(iterations) || iterations < 1) throw bad('the Iteration Count must be positive');
  if (iterations > MAX_PBKDF2_ITERATIONS) throw new KmipError(Reason.ServerLimitExceeded, `at most ${MAX_PBKDF2_ITERATIONS} PBKDF2 iterations`);
  const hash = prfHash(input.params, undefined, HashingAlgorithm.SHA_1);
  return pbkdf2Async(input.key, salt, iterations, input.bytes, hash.node);
}

function hashDerive(input: DeriveInput): Buffer {
  const hash = prfHash(input.params, undefined, undefined);
  const source = input.data ?? input.key;
  return truncate(createHash(hash.node).update(source).digest(), input.bytes, 'HASH');
}

function hmacDerive(input: DeriveInput): Buffer {
  const data = need(input.data, 'Derivation Data');
  // The derivation key's own HMAC algorithm names the PRF; parameters only where the key has none.
  const keyMac = input.keyAlgorithm === undefined ? undefined : HMACS[input.keyAlgorithm];
  const hash = keyMac?.kind === 'hmac' ? prfHash({}, input.keyAlgorithm, undefined) : prfHash(input.params, undefined, undefined);
  return truncate(createHmac(hash.node, input.key).update(data).digest(), input.bytes, 'HMAC');
}

function encryptDerive(input: DeriveInput): Buffer {
  const data = need(input.data, 'Derivation Data');
  const algorithm = input.params.cryptographicAlgorithm ?? input.keyAlgorithm;
  if (algorithm === undefined) throw bad('ENCRYPT derivation needs the key\'s Cryptographic Algorithm');
  const cipher = findCipher(algorithm, input.params.blockCipherMode);
  const iv = input.iv ?? (cipher?.ivBytes ? Buffer.alloc(cipher.defaultIvBytes) : undefined);
  const setup = setupCipher('encrypt', algorithm, { ...input.params, randomIV: false }, input.key.length, iv, undefined);
  const run = startCipher('encrypt', setup, input.key, undefined, data.length);
  const out = runOnce(run, data);
  if (out.tag) out.tag.fill(0);
  return truncate(out.data, input.bytes, 'ENCRYPT');
}

/** SP 800-108 KDF in counter mode, r = 32, [L]2 as 32 bits, counter before the fixed input. */
function counterDerive(input: DeriveInput): Buffer {
  const whole = input.counterMode === 'fixed-input-hmac';
  const fixed = need(input.data, whole ? 'Derivation Data (the fixed input)' : 'Derivation Data (Label || 0x00 || Context)');
  const mac: MacInfo = whole
    ? { kind: 'hmac', hash: prfHash(input.params, input.keyAlgorithm, undefined).node }
    : resolveMac(input.params, input.keyAlgorithm ?? CryptographicAlgorithm.HMAC_SHA256);
  const bits = input.bytes * 8;
  const suffix = whole ? Buffer.alloc(0) : u32(bits);
  const blocks: Buffer[] = [];
  let have = 0;
  for (let i = 1; have < input.bytes; i++) {
    const block = computeMac(mac, input.key, Buffer.concat([u32(i), fixed, suffix]));
    blocks.push(block);
    have += block.length;
  }
  const all = Buffer.concat(blocks);
  for (const b of blocks) b.fill(0);
  return truncate(all, input.bytes, 'NIST SP 800-108 counter mode');
}

async function hkdfDerive(input: DeriveInput): Promise<Buffer> {
  const hash = prfHash(input.params, undefined, HashingAlgorithm.SHA_256);
  if (input.bytes > 255 * hash.bytes) throw tooLong('HKDF', 255 * hash.bytes, input.bytes);
  const out = await hkdfAsync(hash.node, input.key, input.salt ?? Buffer.alloc(0), input.data ?? Buffer.alloc(0), input.bytes);
  return Buffer.from(out);
}

export async function deriveKeyMaterial(input: DeriveInput): Promise<Buffer> {
  if (!Number.isInteger(input.bytes) || input.bytes < 1) throw bad('the derived object needs a positive Cryptographic Length');
  if (input.bytes > MAX_DERIVED_BYTES) throw new KmipError(Reason.ServerLimitExceeded, `at most ${MAX_DERIVED_BYTES * 8} bits can be derived at once`);
  switch (input.method) {
    case DerivationMethod.PBKDF2:
      return pbkdf2Derive(input);
    case DerivationMethod.HASH:
      return hashDerive(input);
    case DerivationMethod.HMAC:
      return hmacDerive(input);
    case DerivationMethod.ENCRYPT:
      return encryptDerive(input);
    case DerivationMethod.NIST800_108_C:
      return counterDerive(input);
    case DerivationMethod.HKDF:
      return hkdfDerive(input);
    default:
      throw bad(`Derivation Method ${enumValueInfo('DerivationMethod', input.method)?.name ?? input.method} is not supported`);
  }
}
