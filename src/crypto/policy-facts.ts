/**
 * The facts the cryptographic policy rules on, read from what an operation has already resolved
 * (a Node key, a signature set-up, a MAC, an RSA cipher), in KMIP enumeration values. One place
 * turns OpenSSL's names back into the specification's, so every handler asks the policy alike.
 */
import { constants, type KeyObject } from 'node:crypto';
import { BlockCipherMode, CryptographicAlgorithm, PaddingMethod } from '../spec/generated/enums';
import type { CryptoFacts } from './policy';
import type { RsaCipherParams } from './rsa';
import type { SignatureSetup } from './signature';
import { HASHES, curveByNode, type HashInfo, type MacInfo } from './tables';

const KEY_ALGORITHM: Readonly<Record<string, number>> = {
  rsa: CryptographicAlgorithm.RSA,
  'rsa-pss': CryptographicAlgorithm.RSA,
  dsa: CryptographicAlgorithm.DSA,
  ec: CryptographicAlgorithm.EC,
  ed25519: CryptographicAlgorithm.Ed25519,
  ed448: CryptographicAlgorithm.Ed448,
};

/** The KMIP Hashing Algorithm of an OpenSSL digest name. */
export function hashByNode(node: string | null): number | undefined {
  if (node === null) return undefined;
  for (const [value, info] of Object.entries(HASHES)) if (info?.node === node) return Number(value);
  return undefined;
}

function hashOfInfo(info: HashInfo): number | undefined {
  return hashByNode(info.node);
}

/** Algorithm, size and curve of an asymmetric key as Node holds it. */
export function asymmetricKeyFacts(key: KeyObject): CryptoFacts {
  const type = key.asymmetricKeyType ?? '';
  const curve = type === 'ec' ? curveByNode(key.asymmetricKeyDetails?.namedCurve ?? '') : undefined;
  return { algorithm: KEY_ALGORITHM[type], bits: key.asymmetricKeyDetails?.modulusLength, curve: curve?.kmip };
}

export function signatureFacts(key: KeyObject, s: SignatureSetup): CryptoFacts {
  const padding = s.padding === constants.RSA_PKCS1_PSS_PADDING ? PaddingMethod.PSS : PaddingMethod.PKCS1V1_5;
  const isRsa = key.asymmetricKeyType === 'rsa' || key.asymmetricKeyType === 'rsa-pss';
  return { ...asymmetricKeyFacts(key), hash: hashByNode(s.hash), padding: isRsa ? padding : undefined };
}

export function rsaCipherFacts(key: KeyObject, p: RsaCipherParams): CryptoFacts {
  const oaep = p.padding === 'oaep';
  return { ...asymmetricKeyFacts(key), padding: oaep ? PaddingMethod.OAEP : PaddingMethod.PKCS1V1_5, hash: oaep ? hashOfInfo(p.hash) : undefined };
}

/** `algorithm` is the one the MAC was resolved from (the parameters', else the key's). */
export function macFacts(info: MacInfo, algorithm: number | undefined, keyBytes: number): CryptoFacts {
  return { algorithm, bits: keyBytes * 8, mode: info.kind === 'cmac' ? BlockCipherMode.CMAC : undefined };
}
