/**
 * Steps that two operations over the multi-part flow (./multi-part.ts) share: the signature set-up
 * (Sign, Signature Verify), the MAC set-up (MAC, MAC Verify), the answer of the two Verify
 * operations, and the whole cipher (Encrypt and Decrypt differ only in direction): symmetric
 * ciphers in one request or in parts, RSA in one request.
 */
import type { KeyObject } from 'node:crypto';
import { ttlv, type TtlvItem, type TtlvStructure } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { ObjectType, ValidityIndicator } from '../spec/generated/enums';
import { tagInVersion } from '../spec/registry';
import { opt } from '../kmip/tree';
import { KmipError, Reason } from '../kmip/errors';
import { keyObjectFromBlock } from '../crypto/asymmetric-keys';
import { checkDigest } from '../crypto/digest-signature';
import { resolveMac } from '../crypto/mac';
import { effectiveParams } from '../crypto/params';
import { resolveRsaCipher, rsaDecrypt, rsaEncrypt } from '../crypto/rsa';
import { resolveSignature, type SignatureSetup } from '../crypto/signature';
import { checkDataLength, runOnce, setupCipher, startCipher, type CipherRun, type Direction } from '../crypto/symmetric';
import type { MacInfo } from '../crypto/tables';
import { checkCrypto } from '../crypto/policy';
import { macFacts, rsaCipherFacts, signatureFacts } from '../crypto/policy-facts';
import type { OpContext } from './context';
import { keepSecret, type UsableKey } from './crypto-key';
import { rawKeyMaterial } from './key-block';
import { pqcCipher } from './pqc-steps';
import { badDigest, type MultiPartOperation, type PartRequest } from './multi-part';

type KeyedRequest = PartRequest<UsableKey>;

export interface SignatureKey {
  readonly keyObject: KeyObject;
  readonly setup: SignatureSetup;
}

/** The key as Node holds it and its signature scheme (the request's parameters, else the key's). */
export function signatureSetup(r: KeyedRequest, purpose: 'sign' | 'verify'): SignatureKey {
  const keyObject = keyObjectFromBlock(r.key.block, purpose === 'sign' ? 'private' : 'public');
  const setup = resolveSignature(keyObject, effectiveParams(r.payload, r.key.rec.attributes), purpose);
  checkCrypto(r.ctx.crypto, purpose === 'sign' ? 'Sign' : 'Verify', signatureFacts(keyObject, setup));
  return { keyObject, setup };
}

/** The signature set-up for Digested Data, with the digest checked against its scheme's hash. */
export function digestSetup(r: KeyedRequest, digest: Uint8Array, purpose: 'sign' | 'verify'): SignatureKey & { readonly hash: string } {
  const s = signatureSetup(r, purpose);
  return { ...s, hash: checkDigest(s.keyObject, s.setup, digest, badDigest()) };
}

/** The bytes of a symmetric key, for the uses that hand them to OpenSSL (MAC, ciphers). */
function symmetricMaterial(key: UsableKey): Uint8Array {
  const material = rawKeyMaterial(key.block);
  if (!material) throw new KmipError(Reason.KeyFormatTypeNotSupported, 'the key material is not in a raw or transparent symmetric form');
  return material;
}

export interface MacKey {
  readonly info: MacInfo;
  readonly material: Uint8Array;
}

/**
 * The MAC algorithm and the key bytes. A stream hands them to OpenSSL's MAC context for its life;
 * our copy is wiped with the response, like every decrypted body.
 */
export function macSetup(r: KeyedRequest, purpose: 'mac' | 'verify'): MacKey {
  const material = symmetricMaterial(r.key);
  const params = effectiveParams(r.payload, r.key.rec.attributes);
  const info = resolveMac(params, r.key.algorithm);
  checkCrypto(r.ctx.crypto, purpose === 'mac' ? 'MAC' : 'MACVerify', macFacts(info, params.cryptographicAlgorithm ?? r.key.algorithm, material.length));
  return { material, info };
}

export function validity(valid: boolean): TtlvItem {
  return ttlv.enumeration(Tag.ValidityIndicator, valid ? ValidityIndicator.Valid : ValidityIndicator.Invalid);
}

/** The MAC or signature a first part may carry, kept (copied) for the final part. */
export function firstValue(payload: TtlvStructure, tag: number): Uint8Array | undefined {
  const value = opt.bytes(payload, tag);
  return value ? Buffer.from(value) : undefined;
}

/** The MAC or signature to check at the final part: given then or with the first; Missing Data if neither. */
export function finalValue(value: Uint8Array | undefined, name: string): Uint8Array {
  if (value === undefined) throw new KmipError(Reason.MissingData, `${name} is required, with the first or the final part`);
  return value;
}

// -------------------------------------------------------------------------------------------------
// Encrypt and Decrypt

/** A symmetric cipher set up for a first part or a single call. */
interface SymmetricStart {
  readonly run: CipherRun;
  /** The IV the server made (Random IV), returned to the client. */
  readonly iv?: Uint8Array;
  /** The tag to check (AEAD decryption). */
  readonly tag?: Uint8Array;
}

type CipherSteps = Pick<MultiPartOperation<Direction, SymmetricStart>, 'stream' | 'byKey' | 'prepare' | 'once' | 'start' | 'update' | 'finish'>;

/**
 * Data, the server's IV and the AEAD tag, in the spec's field order. Data is optional in the
 * response (1.3 on, the multi-part versions): a part that produced nothing (a block cipher still
 * holding a partial block, or a final part with nothing left) answers without it rather than with
 * an empty Byte String, which clients reading parts take for output. Plaintext (decrypt) and
 * ciphertext alike leave memory once the response is written.
 */
function cipherFields(ctx: OpContext, data: Uint8Array, o: { readonly part?: boolean; readonly iv?: Uint8Array; readonly tag?: Uint8Array }): TtlvItem[] {
  keepSecret(ctx, data);
  const out: TtlvItem[] = [];
  if (!(o.part && data.length === 0)) out.push(ttlv.byteString(Tag.Data, data));
  if (o.iv) out.push(ttlv.byteString(Tag.IVCounterNonce, o.iv));
  if (o.tag) out.push(ttlv.byteString(Tag.AuthenticatedEncryptionTag, o.tag));
  return out;
}

function rsaCipher(direction: Direction, r: KeyedRequest): TtlvItem[] {
  if (opt.bytes(r.payload, Tag.CorrelationValue) || opt.boolean(r.payload, Tag.InitIndicator)) {
    throw new KmipError(Reason.FeatureNotSupported, 'RSA encryption is not offered in parts');
  }
  const params = effectiveParams(r.payload, r.key.rec.attributes);
  const keyObject = keyObjectFromBlock(r.key.block, r.key.rec.objectType === ObjectType.PrivateKey ? 'private' : 'public');
  if (keyObject.asymmetricKeyType !== 'rsa') {
    throw new KmipError(Reason.InvalidField, `${keyObject.asymmetricKeyType ?? 'this'} keys cannot ${direction}; only RSA keys can`);
  }
  const p = resolveRsaCipher(params);
  checkCrypto(r.ctx.crypto, direction === 'encrypt' ? 'Encrypt' : 'Decrypt', rsaCipherFacts(keyObject, p));
  return cipherFields(r.ctx, direction === 'encrypt' ? rsaEncrypt(keyObject, p, r.data) : rsaDecrypt(keyObject, p, r.data), {});
}

/** Encrypt or Decrypt over the flow: the key gate, its name and Usage Limits are the handler's. */
export function cipherSteps(direction: Direction): CipherSteps {
  const tagOf = (r: KeyedRequest) => (direction === 'decrypt' ? opt.bytes(r.payload, Tag.AuthenticatedEncryptionTag) : undefined);
  return {
    stream: direction,
    byKey(r) {
      if (r.key.rec.objectType !== ObjectType.SymmetricKey) return pqcCipher(direction, r) ?? rsaCipher(direction, r);
      // A symmetric key's form is checked before the part, for every part.
      symmetricMaterial(r.key);
      return undefined;
    },
    prepare(r) {
      const material = symmetricMaterial(r.key);
      const tag = tagOf(r);
      const params = effectiveParams(r.payload, r.key.rec.attributes);
      const algorithm = params.cryptographicAlgorithm ?? r.key.algorithm;
      if (algorithm === undefined) throw new KmipError(Reason.MissingData, 'the key has no Cryptographic Algorithm');
      const setup = setupCipher(direction, algorithm, params, material.length, opt.bytes(r.payload, Tag.IVCounterNonce), tag);
      checkCrypto(r.ctx.crypto, direction === 'encrypt' ? 'Encrypt' : 'Decrypt', {
        algorithm,
        bits: material.length * 8,
        mode: params.blockCipherMode,
        padding: params.paddingMethod,
      });
      // Not data: whether the cipher is AEAD may come from the key's stored Cryptographic
      // Parameters, which the request adapter cannot see, and the refusal must come before the work
      // and the Usage Limits count, so the response adapter is too late.
      if (setup.cipher.aead && !tagInVersion(Tag.AuthenticatedEncryptionTag, r.ctx.version)) {
        // Before 1.4 there is no field to carry the tag, so an AEAD result could not be verified.
        throw new KmipError(Reason.InvalidField, `${setup.cipher.label} needs KMIP 1.4 or later (Authenticated Encryption Tag)`);
      }
      const run = startCipher(direction, setup, material, opt.bytes(r.payload, Tag.AuthenticatedEncryptionAdditionalData), r.data.length);
      return { run, iv: setup.ivGenerated && setup.iv ? setup.iv : undefined, tag };
    },
    once(s, r) {
      const result = runOnce(s.run, r.data, s.tag);
      return cipherFields(r.ctx, result.data, { iv: s.iv, tag: result.tag });
    },
    start: (s) => ({ run: { kind: direction, state: s.run }, fields: s.iv ? [ttlv.byteString(Tag.IVCounterNonce, s.iv)] : [] }),
    // With AEAD decryption the parts' plaintext leaves before the final part's tag is checked: that
    // is what multi-part means, and a client must discard it if the final part fails.
    update: ({ state }, r) => cipherFields(r.ctx, state.update(r.data), { part: true }),
    finish({ state }, r, total) {
      const head = state.update(r.data);
      try {
        checkDataLength(state.setup, direction, total + r.data.length);
        const tail = state.finish(tagOf(r));
        const out = Buffer.concat([head, tail.data]);
        tail.data.fill(0);
        return cipherFields(r.ctx, out, { part: true, tag: tail.tag });
      } finally {
        head.fill(0);
      }
    },
  };
}
