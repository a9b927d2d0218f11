/**
 * Sign / SignatureVerify schemes: the key's type decides the family (RSA, ECDSA, EdDSA, DSA); the
 * Cryptographic Parameters choose hash and RSA padding, or a Digital Signature Algorithm names
 * both at once. ECDSA and DSA signatures are DER-encoded (X9.62 / RFC 3279), as X.509 and PKCS#11
 * clients expect.
 */
import { constants, createSign, createVerify, sign, verify, type KeyObject } from 'node:crypto';
import { HashingAlgorithm, PaddingMethod } from '../spec/generated/enums';
import { enumValueInfo } from '../spec/registry';
import { KmipError, Reason } from '../kmip/errors';
import type { CryptoParams } from './params';
import { HASHES, RSA_SIGNATURE_PADDINGS, SIGNATURE_ALGORITHMS, curveByNode, type SigningKeyType } from './tables';

export interface SignatureSetup {
  /** Node digest name, or null where the scheme hashes by itself (EdDSA). */
  readonly hash: string | null;
  readonly padding?: number;
  readonly saltLength?: number;
}

const SIGNING_TYPES: readonly string[] = ['rsa', 'rsa-pss', 'ec', 'dsa', 'ed25519', 'ed448'];

function isSigningType(t: string | undefined): t is SigningKeyType {
  return t !== undefined && SIGNING_TYPES.includes(t);
}

function hashName(h: number): string {
  const info = HASHES[h];
  if (!info) throw new KmipError(Reason.InvalidField, `Hashing Algorithm ${enumValueInfo('HashingAlgorithm', h)?.name ?? h} is not supported for signatures`);
  return info.node;
}

/**
 * Resolves the scheme for `key`. A Cryptographic Algorithm or Padding Method in the parameters
 * that belongs to another key family is not an error for ECDSA and EdDSA keys: those schemes have
 * no padding, and the OASIS case CS-AC-M-3-ECC verifies an ECDSA signature with RSA-PSS
 * parameters, expecting only the hash to count.
 */
export function resolveSignature(key: KeyObject, params: CryptoParams, purpose: 'sign' | 'verify'): SignatureSetup {
  const type = key.asymmetricKeyType;
  if (!isSigningType(type)) throw new KmipError(Reason.InvalidField, `${type ?? 'this'} keys cannot sign`);

  if (params.digitalSignatureAlgorithm !== undefined) {
    const scheme = SIGNATURE_ALGORITHMS[params.digitalSignatureAlgorithm];
    const name = enumValueInfo('DigitalSignatureAlgorithm', params.digitalSignatureAlgorithm)?.name ?? String(params.digitalSignatureAlgorithm);
    if (!scheme) throw new KmipError(Reason.InvalidField, `Digital Signature Algorithm ${name} is not supported`);
    if (!scheme.keyTypes.includes(type)) throw new KmipError(Reason.InvalidField, `${name} cannot be used with a ${type} key`);
    const hash = scheme.padding === 'pss' ? (params.hashingAlgorithm ?? scheme.hash) : scheme.hash;
    return withPadding(hash === null ? null : hashName(hash), scheme.padding, params, purpose);
  }

  switch (type) {
    case 'rsa':
    case 'rsa-pss': {
      const pad = RSA_SIGNATURE_PADDINGS[params.paddingMethod ?? (type === 'rsa-pss' ? PaddingMethod.PSS : PaddingMethod.PKCS1V1_5)];
      if (!pad) {
        throw new KmipError(Reason.InvalidField, `RSA signatures support Padding Methods PKCS1 v1.5 and PSS, not ${enumValueInfo('PaddingMethod', params.paddingMethod ?? 0)?.name ?? params.paddingMethod}`);
      }
      return withPadding(hashName(params.hashingAlgorithm ?? HashingAlgorithm.SHA_256), pad, params, purpose);
    }
    case 'ec': {
      const curve = curveByNode(key.asymmetricKeyDetails?.namedCurve ?? '');
      return { hash: hashName(params.hashingAlgorithm ?? curve?.defaultHash ?? HashingAlgorithm.SHA_256) };
    }
    case 'dsa':
      return { hash: hashName(params.hashingAlgorithm ?? HashingAlgorithm.SHA_256) };
    case 'ed25519':
    case 'ed448':
      return { hash: null };
  }
}

/** PSS salt: as given; when signing without one, the hash length (RFC 8017's usual choice); when verifying, whatever the signature used. */
function withPadding(hash: string | null, padding: 'pkcs1' | 'pss' | undefined, params: CryptoParams, purpose: 'sign' | 'verify'): SignatureSetup {
  if (padding === 'pss') {
    const saltLength = params.saltLength ?? (purpose === 'sign' ? constants.RSA_PSS_SALTLEN_DIGEST : constants.RSA_PSS_SALTLEN_AUTO);
    return { hash, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength };
  }
  return { hash, padding: constants.RSA_PKCS1_PADDING };
}

function keyInput(key: KeyObject, s: SignatureSetup) {
  return { key, padding: s.padding, saltLength: s.saltLength, dsaEncoding: 'der' as const };
}

export function signData(key: KeyObject, s: SignatureSetup, data: Uint8Array): Buffer {
  try {
    return sign(s.hash, data, keyInput(key, s));
  } catch {
    // OpenSSL refused: a salt too long for the modulus, a hash too long for the key.
    throw new KmipError(Reason.CryptographicFailure, 'the signature could not be computed with these parameters');
  }
}

/** A malformed signature is simply not valid. */
export function verifyData(key: KeyObject, s: SignatureSetup, data: Uint8Array, signature: Uint8Array): boolean {
  try {
    return verify(s.hash, data, keyInput(key, s), signature);
  } catch {
    return false;
  }
}

/**
 * EdDSA hashes the whole message itself, so a multi-part EdDSA signature or verification buffers
 * the parts; this bounds what one stream may hold (the one-shot message limit is far lower).
 */
const MAX_BUFFERED_SIGN_BYTES = 16 * 1024 * 1024;

/** The parts of an EdDSA message, zeroed when taken or disposed of. */
function bufferedMessage() {
  const parts: Buffer[] = [];
  let size = 0;
  const dispose = () => {
    for (const p of parts) p.fill(0);
    parts.length = 0;
    size = 0;
  };
  return {
    add(data: Uint8Array): void {
      if (size + data.length > MAX_BUFFERED_SIGN_BYTES) {
        dispose();
        throw new KmipError(Reason.ServerLimitExceeded, `an EdDSA message in parts may hold at most ${MAX_BUFFERED_SIGN_BYTES} bytes`);
      }
      parts.push(Buffer.from(data));
      size += data.length;
    },
    /** Runs `use` on the whole message, then zeroes it. */
    withWhole<T>(use: (all: Buffer) => T): T {
      const all = Buffer.concat(parts);
      try {
        return use(all);
      } finally {
        all.fill(0);
        dispose();
      }
    },
    dispose,
  };
}

/** A signature over data given in parts: update() as data comes, finish(key) once. */
export interface SignRun {
  readonly setup: SignatureSetup;
  update(data: Uint8Array): void;
  /** The private key is given only now: the session does not hold it between parts. */
  finish(key: KeyObject): Buffer;
  /** Zeroes any buffered data (EdDSA). */
  dispose(): void;
}

export function startSign(s: SignatureSetup): SignRun {
  if (s.hash !== null) {
    const signer = createSign(s.hash);
    return {
      setup: s,
      update: (data) => void signer.update(data),
      finish(key) {
        try {
          return signer.sign(keyInput(key, s));
        } catch {
          throw new KmipError(Reason.CryptographicFailure, 'the signature could not be computed with these parameters');
        }
      },
      dispose: () => undefined,
    };
  }
  const message = bufferedMessage();
  return {
    setup: s,
    update: (data) => message.add(data),
    finish: (key) => message.withWhole((all) => signData(key, s, all)),
    dispose: message.dispose,
  };
}

/** A signature checked over data given in parts: update() as data comes, finish(key, signature) once. */
export interface VerifyRun {
  update(data: Uint8Array): void;
  finish(key: KeyObject, signature: Uint8Array): boolean;
  dispose(): void;
}

export function startVerify(s: SignatureSetup): VerifyRun {
  if (s.hash !== null) {
    const verifier = createVerify(s.hash);
    return {
      update: (data) => void verifier.update(data),
      finish(key, signature) {
        try {
          return verifier.verify(keyInput(key, s), signature);
        } catch {
          return false; // a malformed signature is simply not valid
        }
      },
      dispose: () => undefined,
    };
  }
  const message = bufferedMessage();
  return {
    update: (data) => message.add(data),
    finish: (key, signature) => message.withWhole((all) => verifyData(key, s, all, signature)),
    dispose: message.dispose,
  };
}
