/**
 * Post-quantum algorithms: FIPS 203 ML-KEM, FIPS 204 ML-DSA, FIPS 205 SLH-DSA, and the hybrid
 * X25519 + ML-KEM-768 KEM. Node 20's OpenSSL has none of them, so the arithmetic is
 * @noble/post-quantum's (audited, pure TypeScript, kept by the noble maintainers); this file is
 * the one place that names it. One table row per parameter set, keyed by the generated
 * Cryptographic Algorithm value (spec-extensions/ records where each value comes from).
 *
 * Secrets: key bytes returned here belong to the caller, who wipes them with the request's other
 * secrets. noble's internal copies are not reachable from here.
 */
import { createHash, randomBytes } from 'node:crypto';
import { ml_kem512, ml_kem768, ml_kem1024 } from '@noble/post-quantum/ml-kem.js';
import { ml_dsa44, ml_dsa65, ml_dsa87 } from '@noble/post-quantum/ml-dsa.js';
import * as slh from '@noble/post-quantum/slh-dsa.js';
import { x25519 } from '@noble/curves/ed25519.js';
import { CryptographicAlgorithm, HashingAlgorithm } from '../spec/generated/enums';
import { enumValueInfo } from '../spec/registry';
import { KmipError, Reason } from '../kmip/errors';

export type PqcFamily = 'ml-kem' | 'ml-dsa' | 'slh-dsa' | 'hybrid-kem';

interface KemImpl {
  keygen(seed?: Uint8Array): { secretKey: Uint8Array; publicKey: Uint8Array };
  /** `msg`: the FIPS 203 randomness m, given only by known-answer tests. */
  encapsulate(publicKey: Uint8Array, msg?: Uint8Array): { cipherText: Uint8Array; sharedSecret: Uint8Array };
  decapsulate(cipherText: Uint8Array, secretKey: Uint8Array): Uint8Array;
}

interface SignerImpl {
  keygen(seed?: Uint8Array): { secretKey: Uint8Array; publicKey: Uint8Array };
  getPublicKey(secretKey: Uint8Array): Uint8Array;
  sign(msg: Uint8Array, secretKey: Uint8Array): Uint8Array;
  verify(sig: Uint8Array, msg: Uint8Array, publicKey: Uint8Array): boolean;
  /** Sign_internal / Verify_internal over a formatted message M' (FIPS 204 alg. 2-5, FIPS 205 alg. 22-25). */
  readonly internal: {
    sign(msg: Uint8Array, secretKey: Uint8Array): Uint8Array;
    verify(sig: Uint8Array, msg: Uint8Array, publicKey: Uint8Array): boolean;
  };
}

export interface PqcAlgorithm {
  /** Cryptographic Algorithm enumeration value. */
  readonly kmip: number;
  readonly name: string;
  readonly family: PqcFamily;
  /** NIST OID of SubjectPublicKeyInfo and PKCS#8 (none for the hybrid: Raw only). */
  readonly oid?: string;
  readonly publicKeyBytes: number;
  readonly secretKeyBytes: number;
  /** Seed length of the key generation (ML-KEM d||z, ML-DSA xi), kept in PKCS#8 beside the expanded key. */
  readonly seedBytes?: number;
  /** Ciphertext length (KEMs). */
  readonly cipherTextBytes?: number;
  readonly kem?: KemImpl;
  readonly signer?: SignerImpl;
}

const NIST_SIG = '2.16.840.1.101.3.4.3';
const NIST_KEM = '2.16.840.1.101.3.4.4';

function kemRow(kmip: number, name: string, oid: string, impl: typeof ml_kem512): PqcAlgorithm {
  return {
    kmip,
    name,
    family: 'ml-kem',
    oid,
    publicKeyBytes: impl.lengths.publicKey ?? 0,
    secretKeyBytes: impl.lengths.secretKey ?? 0,
    seedBytes: 64,
    cipherTextBytes: impl.lengths.cipherText ?? 0,
    kem: impl,
  };
}

function dsaRow(kmip: number, name: string, oid: string, impl: typeof ml_dsa44): PqcAlgorithm {
  return { kmip, name, family: 'ml-dsa', oid, publicKeyBytes: impl.lengths.publicKey ?? 0, secretKeyBytes: impl.lengths.secretKey ?? 0, seedBytes: 32, signer: impl };
}

function slhRow(kmip: number, name: string, arc: number, impl: typeof slh.slh_dsa_sha2_128f): PqcAlgorithm {
  return { kmip, name, family: 'slh-dsa', oid: `${NIST_SIG}.${arc}`, publicKeyBytes: impl.lengths.publicKey ?? 0, secretKeyBytes: impl.lengths.secretKey ?? 0, signer: impl };
}

/**
 * X25519 + ML-KEM-768 as OpenSSL's X25519MLKEM768 (the TLS hybrid group), which Cosmian KMS uses
 * under the same Cryptographic Algorithm value: public key and ciphertext are the ML-KEM part then
 * the X25519 part, the shared secret is the ML-KEM secret then the X25519 secret (64 bytes).
 * The private key is the expanded ML-KEM key then the X25519 scalar.
 */
const HYBRID_KEM: KemImpl = {
  keygen(seed) {
    const m = ml_kem768.keygen(seed?.subarray(0, 64));
    const xs = seed ? Uint8Array.from(seed.subarray(64, 96)) : x25519.utils.randomSecretKey();
    const out = { secretKey: concat(m.secretKey, xs), publicKey: concat(m.publicKey, x25519.getPublicKey(xs)) };
    m.secretKey.fill(0);
    xs.fill(0);
    return out;
  },
  encapsulate(publicKey) {
    const kemPk = publicKey.subarray(0, 1184);
    const peer = publicKey.subarray(1184);
    const m = ml_kem768.encapsulate(kemPk);
    const eph = x25519.utils.randomSecretKey();
    const dh = x25519.getSharedSecret(eph, peer);
    const out = { cipherText: concat(m.cipherText, x25519.getPublicKey(eph)), sharedSecret: concat(m.sharedSecret, dh) };
    eph.fill(0);
    dh.fill(0);
    m.sharedSecret.fill(0);
    return out;
  },
  decapsulate(cipherText, secretKey) {
    const ss = ml_kem768.decapsulate(cipherText.subarray(0, 1088), secretKey.subarray(0, 2400));
    const dh = x25519.getSharedSecret(secretKey.subarray(2400), cipherText.subarray(1088));
    const out = concat(ss, dh);
    ss.fill(0);
    dh.fill(0);
    return out;
  },
};

const A = CryptographicAlgorithm;

export const PQC_ALGORITHMS: readonly PqcAlgorithm[] = [
  kemRow(A.ML_KEM_512, 'ML-KEM-512', `${NIST_KEM}.1`, ml_kem512),
  kemRow(A.ML_KEM_768, 'ML-KEM-768', `${NIST_KEM}.2`, ml_kem768),
  kemRow(A.ML_KEM_1024, 'ML-KEM-1024', `${NIST_KEM}.3`, ml_kem1024),
  dsaRow(A.ML_DSA_44, 'ML-DSA-44', `${NIST_SIG}.17`, ml_dsa44),
  dsaRow(A.ML_DSA_65, 'ML-DSA-65', `${NIST_SIG}.18`, ml_dsa65),
  dsaRow(A.ML_DSA_87, 'ML-DSA-87', `${NIST_SIG}.19`, ml_dsa87),
  slhRow(A.SLH_DSA_SHA2_128s, 'SLH-DSA-SHA2-128s', 20, slh.slh_dsa_sha2_128s),
  slhRow(A.SLH_DSA_SHA2_128f, 'SLH-DSA-SHA2-128f', 21, slh.slh_dsa_sha2_128f),
  slhRow(A.SLH_DSA_SHA2_192s, 'SLH-DSA-SHA2-192s', 22, slh.slh_dsa_sha2_192s),
  slhRow(A.SLH_DSA_SHA2_192f, 'SLH-DSA-SHA2-192f', 23, slh.slh_dsa_sha2_192f),
  slhRow(A.SLH_DSA_SHA2_256s, 'SLH-DSA-SHA2-256s', 24, slh.slh_dsa_sha2_256s),
  slhRow(A.SLH_DSA_SHA2_256f, 'SLH-DSA-SHA2-256f', 25, slh.slh_dsa_sha2_256f),
  slhRow(A.SLH_DSA_SHAKE_128s, 'SLH-DSA-SHAKE-128s', 26, slh.slh_dsa_shake_128s),
  slhRow(A.SLH_DSA_SHAKE_128f, 'SLH-DSA-SHAKE-128f', 27, slh.slh_dsa_shake_128f),
  slhRow(A.SLH_DSA_SHAKE_192s, 'SLH-DSA-SHAKE-192s', 28, slh.slh_dsa_shake_192s),
  slhRow(A.SLH_DSA_SHAKE_192f, 'SLH-DSA-SHAKE-192f', 29, slh.slh_dsa_shake_192f),
  slhRow(A.SLH_DSA_SHAKE_256s, 'SLH-DSA-SHAKE-256s', 30, slh.slh_dsa_shake_256s),
  slhRow(A.SLH_DSA_SHAKE_256f, 'SLH-DSA-SHAKE-256f', 31, slh.slh_dsa_shake_256f),
  {
    kmip: A.X25519_ML_KEM_768,
    name: 'X25519+ML-KEM-768',
    family: 'hybrid-kem',
    publicKeyBytes: 1184 + 32,
    secretKeyBytes: 2400 + 32,
    seedBytes: 96,
    cipherTextBytes: 1088 + 32,
    kem: HYBRID_KEM,
  },
];

const BY_KMIP = new Map(PQC_ALGORITHMS.map((a) => [a.kmip, a] as const));
const BY_OID = new Map(PQC_ALGORITHMS.filter((a) => a.oid).map((a) => [a.oid as string, a] as const));

export function pqcAlgorithm(kmip: number | undefined): PqcAlgorithm | undefined {
  return kmip === undefined ? undefined : BY_KMIP.get(kmip);
}

export function pqcByOid(oid: string): PqcAlgorithm | undefined {
  return BY_OID.get(oid);
}

/** Cryptographic Length of a PQC key: the public key's size in bits (the sets have no other single size). */
export function pqcLength(alg: PqcAlgorithm): number {
  return alg.publicKeyBytes * 8;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

// -------------------------------------------------------------------------------------------------
// Key generation

export interface PqcKeyPair {
  readonly publicKey: Uint8Array;
  readonly secretKey: Uint8Array;
  /** The generation seed where the set has one (kept in PKCS#8 so OpenSSL and others can read it). */
  readonly seed?: Uint8Array;
}

export function generatePqcKeyPair(alg: PqcAlgorithm): PqcKeyPair {
  const impl = alg.kem ?? alg.signer;
  if (!impl) throw new KmipError(Reason.CryptographicFailure, `${alg.name} has no implementation`);
  if (alg.seedBytes === undefined) {
    const k = impl.keygen();
    return { publicKey: k.publicKey, secretKey: k.secretKey };
  }
  const seed = new Uint8Array(randomBytes(alg.seedBytes));
  const k = impl.keygen(seed);
  return { publicKey: k.publicKey, secretKey: k.secretKey, seed };
}

/** The key pair a seed determines (PKCS#8 seed form; FIPS 203 ML-KEM.KeyGen_internal, FIPS 204 ML-DSA.KeyGen_internal). */
export function pqcKeyPairFromSeed(alg: PqcAlgorithm, seed: Uint8Array): PqcKeyPair {
  const impl = alg.kem ?? alg.signer;
  if (!impl || alg.seedBytes === undefined || seed.length !== alg.seedBytes) {
    throw new KmipError(Reason.InvalidField, `a ${alg.name} seed is ${alg.seedBytes ?? 0} bytes`);
  }
  const k = impl.keygen(seed);
  return { publicKey: k.publicKey, secretKey: k.secretKey, seed: Uint8Array.from(seed) };
}

// -------------------------------------------------------------------------------------------------
// Checks of key material (malformed keys answer Invalid Field before anything uses them)

/** ML-KEM decapsulation key check (FIPS 203 7.3): H(ek) inside dk must be the hash of the ek inside it. */
function mlKemSecretKeyConsistent(alg: PqcAlgorithm, sk: Uint8Array): boolean {
  const ekBytes = alg.publicKeyBytes;
  const dkPke = sk.length - ekBytes - 64;
  const ek = sk.subarray(dkPke, dkPke + ekBytes);
  const h = sk.subarray(dkPke + ekBytes, dkPke + ekBytes + 32);
  return createHash('sha3-256').update(ek).digest().equals(Buffer.from(h));
}

/** The public key a secret key holds or determines; Invalid Field when the bytes are no such key. */
export function pqcPublicFromSecret(alg: PqcAlgorithm, sk: Uint8Array): Uint8Array {
  if (sk.length !== alg.secretKeyBytes) throw new KmipError(Reason.InvalidField, `a ${alg.name} private key is ${alg.secretKeyBytes} bytes, not ${sk.length}`);
  if (alg.family === 'ml-kem') {
    if (!mlKemSecretKeyConsistent(alg, sk)) throw new KmipError(Reason.InvalidField, `the ${alg.name} private key fails its hash check (FIPS 203 7.3)`);
    const dkPke = sk.length - alg.publicKeyBytes - 64;
    return Uint8Array.from(sk.subarray(dkPke, dkPke + alg.publicKeyBytes));
  }
  if (alg.family === 'hybrid-kem') {
    const kem = PQC_ALGORITHMS.find((a) => a.kmip === A.ML_KEM_768) as PqcAlgorithm;
    return concat(pqcPublicFromSecret(kem, sk.subarray(0, 2400)), x25519.getPublicKey(sk.subarray(2400)));
  }
  try {
    return (alg.signer as SignerImpl).getPublicKey(sk);
  } catch {
    throw new KmipError(Reason.InvalidField, `the Key Material is not a valid ${alg.name} private key`);
  }
}

export function checkPqcPublicKey(alg: PqcAlgorithm, pk: Uint8Array): void {
  if (pk.length !== alg.publicKeyBytes) throw new KmipError(Reason.InvalidField, `a ${alg.name} public key is ${alg.publicKeyBytes} bytes, not ${pk.length}`);
  if (alg.family === 'ml-kem' || alg.family === 'hybrid-kem') {
    // FIPS 203 7.2 modulus check: every coefficient below q. noble makes it on encapsulation.
    try {
      (alg.kem as KemImpl).encapsulate(pk).sharedSecret.fill(0);
    } catch {
      throw new KmipError(Reason.InvalidField, `the Key Material is not a valid ${alg.name} public key (FIPS 203 modulus check)`);
    }
  }
}

// -------------------------------------------------------------------------------------------------
// KEM

export function pqcEncapsulate(alg: PqcAlgorithm, publicKey: Uint8Array): { sharedSecret: Uint8Array; cipherText: Uint8Array } {
  if (!alg.kem) throw new KmipError(Reason.InvalidField, `${alg.name} keys do not encapsulate; ML-KEM keys do`);
  try {
    return alg.kem.encapsulate(publicKey);
  } catch {
    throw new KmipError(Reason.CryptographicFailure, `${alg.name} encapsulation failed: the public key is malformed`);
  }
}

/**
 * ML-KEM decapsulation. A well-sized ciphertext always yields a secret (implicit rejection, FIPS
 * 203): a tampered one gives a different secret, not an error, by design.
 */
export function pqcDecapsulate(alg: PqcAlgorithm, secretKey: Uint8Array, cipherText: Uint8Array): Uint8Array {
  if (!alg.kem) throw new KmipError(Reason.InvalidField, `${alg.name} keys do not decapsulate; ML-KEM keys do`);
  if (cipherText.length !== alg.cipherTextBytes) {
    throw new KmipError(Reason.InvalidField, `a ${alg.name} ciphertext is ${alg.cipherTextBytes ?? 0} bytes, not ${cipherText.length}`);
  }
  try {
    return alg.kem.decapsulate(cipherText, secretKey);
  } catch {
    throw new KmipError(Reason.CryptographicFailure, `${alg.name} decapsulation failed`);
  }
}

// -------------------------------------------------------------------------------------------------
// Signatures: pure, or pre-hash (HashML-DSA, HashSLH-DSA) when a Hashing Algorithm is named

interface PreHash {
  /** DER of the hash function's OID, as FIPS 204/205 put it in M'. */
  readonly oidDer: Buffer;
  readonly node: string;
  readonly bytes: number;
}

function hashOid(arc: number): Buffer {
  return Buffer.from([0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, arc]);
}

/** The hash functions FIPS 204 5.4 and FIPS 205 10.2 name for pre-hashing, by Hashing Algorithm value. */
const PRE_HASHES: Readonly<Partial<Record<number, PreHash>>> = {
  [HashingAlgorithm.SHA_224]: { oidDer: hashOid(4), node: 'sha224', bytes: 28 },
  [HashingAlgorithm.SHA_256]: { oidDer: hashOid(1), node: 'sha256', bytes: 32 },
  [HashingAlgorithm.SHA_384]: { oidDer: hashOid(2), node: 'sha384', bytes: 48 },
  [HashingAlgorithm.SHA_512]: { oidDer: hashOid(3), node: 'sha512', bytes: 64 },
  [HashingAlgorithm.SHA_512_224]: { oidDer: hashOid(5), node: 'sha512-224', bytes: 28 },
  [HashingAlgorithm.SHA_512_256]: { oidDer: hashOid(6), node: 'sha512-256', bytes: 32 },
  [HashingAlgorithm.SHA3_224]: { oidDer: hashOid(7), node: 'sha3-224', bytes: 28 },
  [HashingAlgorithm.SHA3_256]: { oidDer: hashOid(8), node: 'sha3-256', bytes: 32 },
  [HashingAlgorithm.SHA3_384]: { oidDer: hashOid(9), node: 'sha3-384', bytes: 48 },
  [HashingAlgorithm.SHA3_512]: { oidDer: hashOid(10), node: 'sha3-512', bytes: 64 },
};

function preHash(alg: PqcAlgorithm, hashing: number): PreHash {
  const p = PRE_HASHES[hashing];
  if (!p) {
    const n = enumValueInfo('HashingAlgorithm', hashing)?.name ?? String(hashing);
    throw new KmipError(Reason.InvalidField, `${n} is not a pre-hash function for ${alg.name} (SHA-2 or SHA-3 only)`);
  }
  return p;
}

/** M' of FIPS 204 alg. 2/4 and FIPS 205 alg. 22/23. */
function formatted(digestOrMessage: Uint8Array, pre: PreHash | undefined, context: Uint8Array): Uint8Array {
  if (context.length > 255) throw new KmipError(Reason.InvalidField, 'the signature context is at most 255 bytes');
  const head = Buffer.from([pre ? 1 : 0, context.length]);
  return Buffer.concat(pre ? [head, context, pre.oidDer, digestOrMessage] : [head, context, digestOrMessage]);
}

export interface PqcSignInput {
  /** Hashing Algorithm of the request's Cryptographic Parameters: the pre-hash variant. */
  readonly hashing?: number;
  /** Digested Data: the client's digest under `hashing` (pre-hash variant only). */
  readonly digested?: boolean;
  /** The context string; KMIP has no field for one, so requests sign with the empty context (known-answer tests give one). */
  readonly context?: Uint8Array;
}

function signerOf(alg: PqcAlgorithm): SignerImpl {
  if (!alg.signer) throw new KmipError(Reason.InvalidField, `${alg.name} keys do not sign; ML-DSA and SLH-DSA keys do`);
  return alg.signer;
}

function messageFor(alg: PqcAlgorithm, data: Uint8Array, o: PqcSignInput): Uint8Array {
  const context = o.context ?? new Uint8Array(0);
  if (o.hashing === undefined) {
    if (o.digested) throw new KmipError(Reason.MissingData, `Digested Data for ${alg.name} needs the Hashing Algorithm that made it (HashML-DSA / HashSLH-DSA)`);
    return formatted(data, undefined, context);
  }
  const pre = preHash(alg, o.hashing);
  if (o.digested) {
    if (data.length !== pre.bytes) throw new KmipError(Reason.InvalidField, `Digested Data must be ${pre.bytes} bytes for ${pre.node}`);
    return formatted(data, pre, context);
  }
  return formatted(createHash(pre.node).update(data).digest(), pre, context);
}

export function pqcSign(alg: PqcAlgorithm, secretKey: Uint8Array, data: Uint8Array, o: PqcSignInput = {}): Uint8Array {
  const signer = signerOf(alg);
  const m = messageFor(alg, data, o);
  try {
    return signer.internal.sign(m, secretKey);
  } catch {
    throw new KmipError(Reason.CryptographicFailure, `${alg.name} signing failed: the private key is malformed`);
  }
}

export function pqcVerify(alg: PqcAlgorithm, publicKey: Uint8Array, data: Uint8Array, signature: Uint8Array, o: PqcSignInput = {}): boolean {
  const signer = signerOf(alg);
  const m = messageFor(alg, data, o);
  try {
    return signer.internal.verify(signature, m, publicKey);
  } catch {
    // A malformed signature is an invalid one, as for every other algorithm.
    return false;
  }
}
