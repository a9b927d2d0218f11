/**
 * Post-quantum keys in the cryptographic operations, one request each (the schemes have no
 * streaming form here: a first part with a Correlation Value or Init Indicator is refused):
 * - ML-KEM and X25519+ML-KEM-768 through Encrypt and Decrypt, as Cosmian KMS does: Encrypt with
 *   the public key encapsulates and answers the shared secret in Data and the encapsulation
 *   (ciphertext) in IV/Counter/Nonce; Decrypt with the private key takes the ciphertext as Data
 *   and answers the shared secret in Data. KMIP 2.1 has no Encapsulate operation, and these are
 *   the operations whose fields carry exactly a secret and a ciphertext.
 * - ML-DSA and SLH-DSA through Sign and Signature Verify: pure by default; with a Hashing
 *   Algorithm in the Cryptographic Parameters, the pre-hash variant (HashML-DSA, HashSLH-DSA), to
 *   which Digested Data also goes. The context string is empty (KMIP has no field for it).
 */
import { ttlv, type TtlvItem } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { ObjectType, ValidityIndicator } from '../spec/generated/enums';
import { opt, req } from '../kmip/tree';
import { KmipError, Reason } from '../kmip/errors';
import { effectiveParams } from '../crypto/params';
import { checkCrypto } from '../crypto/policy';
import { pqcAlgorithm, pqcDecapsulate, pqcEncapsulate, pqcVerify, type PqcAlgorithm } from '../crypto/pqc';
import { readPqcBlock, type PqcKey } from '../crypto/pqc-keys';
import { pqcSignOffThread } from '../crypto/pqc-offload';
import { keepSecret, type UsableKey } from './crypto-key';
import type { PartRequest } from './multi-part';

type KeyedRequest = PartRequest<UsableKey>;

/** The request's PQC algorithm, or undefined when its key is not a PQC key. */
export function pqcOfRequest(r: KeyedRequest): PqcAlgorithm | undefined {
  return pqcAlgorithm(r.key.algorithm);
}

function singleCall(r: KeyedRequest, alg: PqcAlgorithm, what: string): void {
  if (opt.bytes(r.payload, Tag.CorrelationValue) || opt.boolean(r.payload, Tag.InitIndicator)) {
    throw new KmipError(Reason.FeatureNotSupported, `${alg.name} ${what} is not offered in parts`);
  }
}

function keyOf(r: KeyedRequest, alg: PqcAlgorithm): PqcKey {
  const kind = r.key.rec.objectType === ObjectType.PrivateKey ? 'private' : 'public';
  const key = readPqcBlock(r.key.block, kind, alg);
  if (kind === 'private') keepSecret(r.ctx, key.bytes, ...(key.seed ? [key.seed] : []));
  return key;
}

/** Encrypt (encapsulate) or Decrypt (decapsulate) with a KEM key; undefined for other keys. */
export function pqcCipher(direction: 'encrypt' | 'decrypt', r: KeyedRequest): TtlvItem[] | undefined {
  const alg = pqcOfRequest(r);
  if (!alg) return undefined;
  singleCall(r, alg, direction === 'encrypt' ? 'encapsulation' : 'decapsulation');
  // A signing key is the wrong key (Invalid Field), whatever the policy says about the operation.
  if (!alg.kem) throw new KmipError(Reason.InvalidField, `${alg.name} keys do not ${direction === 'encrypt' ? 'encapsulate' : 'decapsulate'}; ML-KEM keys do`);
  checkCrypto(r.ctx.crypto, direction === 'encrypt' ? 'Encrypt' : 'Decrypt', { algorithm: alg.kmip });
  const key = keyOf(r, alg);
  if (direction === 'encrypt') {
    const { sharedSecret, cipherText } = pqcEncapsulate(alg, key.bytes);
    keepSecret(r.ctx, sharedSecret);
    return [ttlv.byteString(Tag.Data, sharedSecret), ttlv.byteString(Tag.IVCounterNonce, cipherText)];
  }
  if (r.data.length === 0) throw new KmipError(Reason.MissingData, `${alg.name} decapsulation needs the ciphertext as Data`);
  const secret = pqcDecapsulate(alg, key.bytes, r.data);
  keepSecret(r.ctx, secret);
  return [ttlv.byteString(Tag.Data, secret)];
}

function hashingOf(r: KeyedRequest): number | undefined {
  return effectiveParams(r.payload, r.key.rec.attributes).hashingAlgorithm;
}

/** Sign with an ML-DSA or SLH-DSA key (Data, or Digested Data when `digest` is given); undefined for other keys. */
export async function pqcSignStep(r: KeyedRequest, digest?: Uint8Array): Promise<TtlvItem[] | undefined> {
  const alg = pqcOfRequest(r);
  if (!alg) return undefined;
  singleCall(r, alg, 'signing');
  checkCrypto(r.ctx.crypto, 'Sign', { algorithm: alg.kmip, hash: hashingOf(r) });
  const key = keyOf(r, alg);
  const data = digest ?? r.data;
  const signature = await pqcSignOffThread(alg, key.bytes, data, { hashing: hashingOf(r), digested: digest !== undefined });
  return [ttlv.byteString(Tag.SignatureData, signature)];
}

/** Signature Verify with an ML-DSA or SLH-DSA public key; undefined for other keys. */
export function pqcVerifyStep(r: KeyedRequest, digest?: Uint8Array): TtlvItem[] | undefined {
  const alg = pqcOfRequest(r);
  if (!alg) return undefined;
  singleCall(r, alg, 'verification');
  checkCrypto(r.ctx.crypto, 'Verify', { algorithm: alg.kmip, hash: hashingOf(r) });
  const key = keyOf(r, alg);
  const signature = req.bytes(r.payload, Tag.SignatureData);
  const valid = pqcVerify(alg, key.bytes, digest ?? r.data, signature, { hashing: hashingOf(r), digested: digest !== undefined });
  return [ttlv.enumeration(Tag.ValidityIndicator, valid ? ValidityIndicator.Valid : ValidityIndicator.Invalid)];
}
