/**
 * Key pair generation: which (algorithm, length, curve) requests we honour, as a table, and the
 * stored Key Format Types of the halves. Generation runs on libuv's thread pool (async
 * generateKeyPair), so a 4096-bit RSA key does not stall the event loop.
 */
import { generateKeyPair, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { CryptographicAlgorithm, KeyFormatType } from '../spec/generated/enums';
import { enumValueInfo } from '../spec/registry';
import { KmipError, Reason } from '../kmip/errors';
import { allows, checkCrypto, type CryptoPolicy } from './policy';
import { curveByBits, curveByKmip, curveByNode, type CurveInfo } from './tables';
import type { TtlvStructure } from '../../ttlv/types';
import { pqcAlgorithm, pqcLength, type PqcAlgorithm } from './pqc';
import { defaultPqcFormat, pqcKeyBlock } from './pqc-keys';
import { generatePqcKeyPairOffThread } from './pqc-offload';

const generate = promisify(generateKeyPair);

export interface KeyPairSpec {
  readonly algorithm: number;
  /** Cryptographic Length recorded on both halves. */
  readonly length: number;
  readonly privateFormat: number;
  readonly publicFormat: number;
  readonly run: () => Promise<{ privateKey: KeyObject; publicKey: KeyObject }>;
  /** Keys Node cannot hold (post-quantum): the halves' key blocks, made directly; `run` is then unused. */
  readonly blocks?: () => Promise<{ privateBlock: TtlvStructure; publicBlock: TtlvStructure }>;
}

/** A post-quantum pair (./pqc.ts): stored as PKCS#8 and SubjectPublicKeyInfo (Raw for the hybrid KEM). */
function pqcKeyPairSpec(alg: PqcAlgorithm, length: number | undefined): KeyPairSpec {
  const bits = pqcLength(alg);
  if (length !== undefined && length !== bits) throw new KmipError(Reason.InvalidField, `${alg.name} keys have Cryptographic Length ${bits} (the public key's bits)`);
  const privateFormat = defaultPqcFormat(alg, 'private');
  const publicFormat = defaultPqcFormat(alg, 'public');
  return {
    algorithm: alg.kmip,
    length: bits,
    privateFormat,
    publicFormat,
    run: () => Promise.reject(new KmipError(Reason.CryptographicFailure, `${alg.name} keys are made as key blocks`)),
    async blocks() {
      const pair = await generatePqcKeyPairOffThread(alg);
      try {
        return {
          privateBlock: pqcKeyBlock({ alg, kind: 'private', bytes: pair.secretKey, seed: pair.seed }, privateFormat),
          publicBlock: pqcKeyBlock({ alg, kind: 'public', bytes: pair.publicKey }, publicFormat),
        };
      } finally {
        pair.secretKey.fill(0);
        pair.seed?.fill(0);
      }
    },
  };
}

/**
 * RSA moduli this server can make; above 4096 is slow for no profile's need. Which of them a
 * request gets is the cryptographic policy's (the default refuses below 2048, SP 800-131A; old
 * appliances still ask for 1024 under the legacy profile).
 */
const RSA_BITS: readonly number[] = [1024, 1536, 2048, 3072, 4096];

/** Algorithms whose keys live on a named curve (1.x calls the same keys ECDSA, ECDH or ECMQV). */
const EC_ALGORITHMS: ReadonlySet<number> = new Set([
  CryptographicAlgorithm.EC,
  CryptographicAlgorithm.ECDSA,
  CryptographicAlgorithm.ECDH,
  CryptographicAlgorithm.ECMQV,
]);

function name(algorithm: number): string {
  return enumValueInfo('CryptographicAlgorithm', algorithm)?.name ?? `0x${algorithm.toString(16)}`;
}

/**
 * The pair to make. RSA keys are kept as PKCS#1 (the form the OASIS AKLC cases' Digest names);
 * EC and EdDSA keys as PKCS#8 and X.509 SubjectPublicKeyInfo, which carry the curve.
 */
export function keyPairSpec(algorithm: number, length: number | undefined, curve: number | undefined, policy: CryptoPolicy): KeyPairSpec {
  const pqc = pqcAlgorithm(algorithm);
  if (pqc) {
    checkCrypto(policy, 'CreateKeyPair', { algorithm });
    return pqcKeyPairSpec(pqc, length);
  }
  if (algorithm === CryptographicAlgorithm.RSA) {
    if (length === undefined) throw new KmipError(Reason.MissingData, 'RSA key pairs need a Cryptographic Length');
    if (!RSA_BITS.includes(length)) {
      const offered = RSA_BITS.filter((bits) => allows(policy, 'CreateKeyPair', { algorithm, bits }));
      throw new KmipError(Reason.InvalidField, `RSA key pairs of ${length} bits are not offered (${offered.join(', ')})`);
    }
    checkCrypto(policy, 'CreateKeyPair', { algorithm, bits: length });
    return {
      algorithm,
      length,
      privateFormat: KeyFormatType.PKCS_1,
      publicFormat: KeyFormatType.PKCS_1,
      run: () => generate('rsa', { modulusLength: length, publicExponent: 0x10001 }),
    };
  }
  if (EC_ALGORITHMS.has(algorithm)) {
    let info: CurveInfo | undefined;
    if (curve !== undefined) {
      info = curveByKmip(curve);
      if (!info) throw new KmipError(Reason.InvalidField, `Recommended Curve ${enumValueInfo('RecommendedCurve', curve)?.name ?? curve} is not offered`);
    } else if (length !== undefined) {
      info = curveByBits(length);
      if (!info) throw new KmipError(Reason.InvalidField, `no curve of ${length} bits is offered (256, 384, 521)`);
    } else {
      throw new KmipError(Reason.MissingData, `${name(algorithm)} key pairs need a Recommended Curve or a Cryptographic Length`);
    }
    if (length !== undefined && length !== info.bits) {
      throw new KmipError(Reason.InvalidField, `Cryptographic Length ${length} does not match the ${info.bits}-bit curve`);
    }
    checkCrypto(policy, 'CreateKeyPair', { algorithm, curve: info.kmip });
    const curveName = info.node;
    return {
      algorithm,
      length: info.bits,
      privateFormat: KeyFormatType.PKCS_8,
      publicFormat: KeyFormatType.X_509,
      run: () => generate('ec', { namedCurve: curveName }),
    };
  }
  if (algorithm === CryptographicAlgorithm.Ed25519 || algorithm === CryptographicAlgorithm.Ed448) {
    const bits = algorithm === CryptographicAlgorithm.Ed25519 ? 256 : 448;
    if (length !== undefined && length !== bits) throw new KmipError(Reason.InvalidField, `${name(algorithm)} keys are ${bits} bits`);
    checkCrypto(policy, 'CreateKeyPair', { algorithm, bits });
    return {
      algorithm,
      length: bits,
      privateFormat: KeyFormatType.PKCS_8,
      publicFormat: KeyFormatType.X_509,
      run: () => (algorithm === CryptographicAlgorithm.Ed25519 ? generate('ed25519', {}) : generate('ed448', {})),
    };
  }
  throw new KmipError(Reason.InvalidField, `${name(algorithm)} key pairs are not offered (RSA, EC, Ed25519, Ed448, ML-KEM, ML-DSA, SLH-DSA)`);
}

/** A post-quantum pair like an existing one (Re-key Key Pair): same parameter set. */
export function pqcSpecLike(algorithm: number | undefined): KeyPairSpec | undefined {
  const pqc = pqcAlgorithm(algorithm);
  return pqc ? pqcKeyPairSpec(pqc, undefined) : undefined;
}

/** A pair like an existing private key: same algorithm, size and curve (Re-key Key Pair). */
export function specLike(key: KeyObject, algorithm: number, policy: CryptoPolicy): KeyPairSpec {
  const t = key.asymmetricKeyType;
  if (t === 'rsa') return keyPairSpec(CryptographicAlgorithm.RSA, key.asymmetricKeyDetails?.modulusLength, undefined, policy);
  if (t === 'ec') {
    const curve = curveByNode(key.asymmetricKeyDetails?.namedCurve ?? '');
    if (!curve) throw new KmipError(Reason.InvalidField, 'the existing key is on a curve that is not offered');
    return keyPairSpec(EC_ALGORITHMS.has(algorithm) ? algorithm : CryptographicAlgorithm.EC, curve.bits, curve.kmip, policy);
  }
  if (t === 'ed25519') return keyPairSpec(CryptographicAlgorithm.Ed25519, undefined, undefined, policy);
  if (t === 'ed448') return keyPairSpec(CryptographicAlgorithm.Ed448, undefined, undefined, policy);
  throw new KmipError(Reason.InvalidField, `${t ?? 'this'} key pairs are not offered`);
}
