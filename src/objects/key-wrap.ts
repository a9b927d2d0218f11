/**
 * Key wrapping on Get (and Export): the Key Value of the returned object is encrypted under
 * another managed AES key with AES Key Wrap, RFC 3394 (Block Cipher Mode NIST Key Wrap) or RFC 5649
 * (AES Key Wrap with Padding), and the Key Block says how in its Key Wrapping Data.
 *
 * What is wrapped follows the Encoding Option. TTLV Encoding (the default): the TTLV encoding of
 * the whole Key Value structure (with any attributes the client asked to bind to it), and the Key
 * Value becomes that Byte String (Key Block table: "Byte String: for wrapped Key Value"). No
 * Encoding: only the Key Material bytes are wrapped, and the Key Value stays a Structure whose Key
 * Material is the wrapped bytes, with no attributes (Key Wrapping Data, Encoding Option: "the
 * encoding of the Key Material within the Key Value structure"; "If No Encoding is specified, then
 * the Key Value structure SHALL NOT contain any attributes"). Clients parse it that way: PyKMIP
 * reads a Key Value as a Structure whenever it asked for No Encoding.
 */
import { checkCrypto } from '../crypto/policy';
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { decodeTtlv } from '../../ttlv/decode';
import { encodeTtlv } from '../../ttlv/encode';
import { ItemType, ttlv, type TtlvItem, type TtlvStructure } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import {
  BlockCipherMode,
  CryptographicAlgorithm,
  CryptographicUsageMask,
  EncodingOption,
  ObjectType,
  WrappingMethod,
} from '../spec/generated/enums';
import { encodeAttributeList, type KmipAttribute } from '../kmip/attributes';
import { asText, child, children, opt, req } from '../kmip/tree';
import { isAllowed, type StateValue } from '../lifecycle/state-machine';
import type { ManagedObjectRecord } from '../store/object-store';
import type { OpContext } from './context';
import { KmipError, Reason } from '../kmip/errors';
import { rawKeyMaterial } from './key-block';
import { asKmipAttributes, getAttribute, getAttributes, isArchived, isDestroyed, mayReach, readBody } from './managed-object';

/** RFC 3394 and RFC 5649 initial values (Node's ciphers take them as the IV). */
const KW_IV = Buffer.from('a6a6a6a6a6a6a6a6', 'hex');
const KWP_IV = Buffer.from('a65959a6', 'hex');

function kwCipher(kek: Uint8Array, padded: boolean): string {
  const bits = kek.length * 8;
  if (bits !== 128 && bits !== 192 && bits !== 256) {
    throw new KmipError(Reason.CryptographicFailure, 'the wrapping key is not an AES-128, -192 or -256 key');
  }
  return `id-aes${bits}-wrap${padded ? '-pad' : ''}`;
}

/** AES Key Wrap: RFC 3394 (`padded` false; input a multiple of 8 bytes, at least 16) or RFC 5649. */
export function aesKeyWrap(kek: Uint8Array, plain: Uint8Array, padded: boolean): Uint8Array {
  if (!padded && (plain.length < 16 || plain.length % 8 !== 0)) {
    throw new KmipError(Reason.BadCryptographicParameters, 'NIST Key Wrap needs a multiple of 8 bytes (at least 16): use AES Key Wrap Padding');
  }
  const c = createCipheriv(kwCipher(kek, padded), kek, padded ? KWP_IV : KW_IV);
  return Buffer.concat([c.update(plain), c.final()]);
}

/** The inverse of aesKeyWrap; a wrong key or damaged input fails the integrity check. */
export function aesKeyUnwrap(kek: Uint8Array, wrapped: Uint8Array, padded: boolean): Uint8Array {
  try {
    const d = createDecipheriv(kwCipher(kek, padded), kek, padded ? KWP_IV : KW_IV);
    return Buffer.concat([d.update(wrapped), d.final()]);
  } catch {
    throw new KmipError(Reason.CryptographicFailure, 'key unwrap failed its integrity check');
  }
}

/** Block cipher modes we wrap with, and whether each pads. */
const WRAP_MODES: ReadonlyMap<number, boolean> = new Map([
  [BlockCipherMode.NISTKeyWrap, false],
  [BlockCipherMode.AESKeyWrapPadding, true],
]);

/**
 * The wrapping key the client named, checked as the spec requires before it may wrap (or, for
 * `unwrap`, before it may unwrap a key registered wrapped under it).
 */
async function wrappingKey(ctx: OpContext, uid: string, use: 'wrap' | 'unwrap' = 'wrap'): Promise<ManagedObjectRecord> {
  const rec = await ctx.store.get(uid);
  if (rec === undefined || !mayReach(ctx, rec)) {
    throw new KmipError(Reason.WrappingObjectNotFound, `wrapping key ${uid} not found`);
  }
  ctx.touched.push(uid);
  if (isDestroyed(rec.state)) {
    throw new KmipError(Reason.WrappingObjectDestroyed, `wrapping key ${uid} is destroyed`);
  }
  if (isArchived(rec)) {
    throw new KmipError(Reason.WrappingObjectArchived, `wrapping key ${uid} is archived`);
  }
  if (rec.objectType !== ObjectType.SymmetricKey) {
    throw new KmipError(Reason.IllegalObjectType, 'the wrapping key must be a symmetric key');
  }
  const alg = getAttribute(rec.attributes, 'Cryptographic Algorithm');
  if (alg?.type !== ItemType.Enumeration || alg.value !== CryptographicAlgorithm.AES) {
    throw new KmipError(Reason.UnsupportedCryptographicParameters, 'keys are wrapped with AES keys only');
  }
  if (!isAllowed(rec.state as StateValue, use === 'wrap' ? 'protect' : 'process')) {
    throw new KmipError(Reason.WrongKeyLifecycleState, `wrapping key ${uid} cannot ${use} in its state`);
  }
  const bit = use === 'wrap' ? CryptographicUsageMask.WrapKey : CryptographicUsageMask.UnwrapKey;
  const mask = getAttribute(rec.attributes, 'Cryptographic Usage Mask');
  if (mask?.type !== ItemType.Integer || (mask.value & bit) === 0) {
    throw new KmipError(Reason.IncompatibleCryptographicUsageMask, `wrapping key ${uid} does not allow ${use === 'wrap' ? 'Wrap Key' : 'Unwrap Key'}`);
  }
  return rec;
}

async function kekBytes(ctx: OpContext, key: ManagedObjectRecord): Promise<Uint8Array> {
  const kekBody = await readBody(ctx, key);
  const kekBlock = opt.structure(kekBody, Tag.KeyBlock);
  const kek = kekBlock ? rawKeyMaterial(kekBlock) : undefined;
  if (!kek) throw new KmipError(Reason.CryptographicFailure, 'the wrapping key has no usable key material');
  return kek;
}

/**
 * Key Wrap Type Not Wrapped for a key registered wrapped: unwrapped here when the Key Wrapping
 * Data names a wrapping key of the caller on this server that may unwrap (AES Key Wrap, RFC 3394
 * or 5649, by encryption only); anything else is Key Wrap Type Not Supported, never the wrapped
 * form in its place.
 */
export async function unwrapKeyBlock(ctx: OpContext, block: TtlvStructure): Promise<TtlvStructure> {
  const kwd = opt.structure(block, Tag.KeyWrappingData);
  if (!kwd) return block;
  const notSupported = (why: string) => new KmipError(Reason.KeyWrapTypeNotSupported, `the key was registered wrapped and cannot be returned unwrapped: ${why}`);
  if (opt.enumeration(kwd, Tag.WrappingMethod) !== WrappingMethod.Encrypt || child(kwd, Tag.MACSignatureKeyInformation)) {
    throw notSupported('only keys wrapped by encryption alone are unwrapped');
  }
  const eki = opt.structure(kwd, Tag.EncryptionKeyInformation);
  const kekUid = eki ? opt.text(eki, Tag.UniqueIdentifier) : undefined;
  const known = kekUid === undefined ? undefined : await ctx.store.get(kekUid);
  if (kekUid === undefined || known === undefined || !mayReach(ctx, known)) {
    throw notSupported('its wrapping key is not one of yours on this server');
  }
  const key = await wrappingKey(ctx, kekUid, 'unwrap');
  const padded = wrapMode(eki ? opt.structure(eki, Tag.CryptographicParameters) : undefined, key);
  const kek = await kekBytes(ctx, key);
  const keyValue = child(block, Tag.KeyValue);
  let plainValue: TtlvItem;
  if (opt.enumeration(kwd, Tag.EncodingOption) === EncodingOption.NoEncoding) {
    const wrapped = keyValue?.type === ItemType.Structure ? child(keyValue, Tag.KeyMaterial) : undefined;
    if (wrapped?.type !== ItemType.ByteString) throw notSupported('its wrapped Key Material is not a byte string');
    const material = aesKeyUnwrap(kek, wrapped.value, padded);
    ctx.secrets.push(material);
    plainValue = ttlv.structure(Tag.KeyValue, [ttlv.byteString(Tag.KeyMaterial, material)]);
  } else {
    if (keyValue?.type !== ItemType.ByteString) throw notSupported('its wrapped Key Value is not a byte string');
    const encoded = aesKeyUnwrap(kek, keyValue.value, padded);
    ctx.secrets.push(encoded);
    let decoded: TtlvItem;
    try {
      decoded = decodeTtlv(encoded);
    } catch {
      throw new KmipError(Reason.CryptographicFailure, 'the unwrapped Key Value is not TTLV');
    }
    if (decoded.tag !== Tag.KeyValue || decoded.type !== ItemType.Structure) throw new KmipError(Reason.CryptographicFailure, 'the unwrapped bytes are not a Key Value');
    // The decoded key material is zeroed with the request's other secrets.
    const material = child(decoded, Tag.KeyMaterial);
    if (material?.type === ItemType.ByteString) ctx.secrets.push(material.value);
    else if (material?.type === ItemType.Structure) for (const c of material.value) if (c.type === ItemType.ByteString) ctx.secrets.push(c.value);
    plainValue = decoded;
  }
  return ttlv.structure(
    Tag.KeyBlock,
    block.value.filter((c) => c.tag !== Tag.KeyWrappingData).map((c) => (c.tag === Tag.KeyValue ? plainValue : c)),
  );
}

/** The mode the client asked for, else the one the wrapping key's Cryptographic Parameters name, else RFC 3394. */
function wrapMode(requested: TtlvStructure | undefined, key: ManagedObjectRecord): boolean {
  let mode = requested ? opt.enumeration(requested, Tag.BlockCipherMode) : undefined;
  if (mode === undefined) {
    for (const p of getAttributes(key.attributes, 'Cryptographic Parameters')) {
      if (p.type === ItemType.Structure) mode ??= opt.enumeration(p, Tag.BlockCipherMode);
    }
  }
  const padded = WRAP_MODES.get(mode ?? BlockCipherMode.NISTKeyWrap);
  if (padded === undefined) {
    throw new KmipError(Reason.UnsupportedCryptographicParameters, 'keys are wrapped with NIST Key Wrap or AES Key Wrap Padding only');
  }
  return padded;
}

/**
 * The Key Block wrapped as the Key Wrapping Specification asks. `attributes`: the object's, for
 * the Attribute Names the client wants bound into the wrapped Key Value.
 */
export async function wrapKeyBlock(
  ctx: OpContext,
  block: TtlvStructure,
  kws: TtlvStructure,
  attributes: ManagedObjectRecord['attributes'],
): Promise<TtlvStructure> {
  const method = req.enumeration(kws, Tag.WrappingMethod);
  if (method !== WrappingMethod.Encrypt) {
    throw new KmipError(Reason.FeatureNotSupported, 'only the Encrypt wrapping method is supported');
  }
  if (child(kws, Tag.MACSignatureKeyInformation)) {
    throw new KmipError(Reason.FeatureNotSupported, 'MAC/signature key information is not supported');
  }
  if (child(block, Tag.KeyWrappingData)) {
    throw new KmipError(Reason.FeatureNotSupported, 'the object is already wrapped');
  }
  const eki = opt.structure(kws, Tag.EncryptionKeyInformation);
  if (!eki) throw new KmipError(Reason.MissingData, 'Encryption Key Information is required to wrap');
  const kekUid = req.text(eki, Tag.UniqueIdentifier);
  const params = opt.structure(eki, Tag.CryptographicParameters);
  const key = await wrappingKey(ctx, kekUid);
  const padded = wrapMode(params, key);
  const encoding = opt.enumeration(kws, Tag.EncodingOption);
  const keyValue = child(block, Tag.KeyValue);
  if (keyValue?.type !== ItemType.Structure) throw new KmipError(Reason.KeyValueNotPresent, 'the object has no key value to wrap');
  if (encoding !== undefined && encoding !== EncodingOption.NoEncoding && encoding !== EncodingOption.TTLVEncoding) {
    throw new KmipError(Reason.EncodingOptionError, 'Encoding Option must be No Encoding or TTLV Encoding');
  }
  const names = children(kws, Tag.AttributeName).map(asText);
  const noEncoding = encoding === EncodingOption.NoEncoding;
  let plain: Uint8Array;
  if (noEncoding) {
    const material = child(keyValue, Tag.KeyMaterial);
    if (material?.type !== ItemType.ByteString) {
      throw new KmipError(Reason.EncodingOptionError, 'No Encoding needs key material that is a byte string');
    }
    if (names.length > 0) {
      throw new KmipError(Reason.EncodingOptionError, 'No Encoding wraps the Key Material alone: attributes can be bound to it only with TTLV Encoding');
    }
    plain = material.value;
  } else {
    const bound: KmipAttribute[] = asKmipAttributes(attributes).filter((a) => names.includes(a.name));
    // No attributes asked for: none, not an empty 2.x Attributes structure (clients reading the
    // Key Value expect nothing after the Key Material then).
    // Not data: the bound attributes are encoded into the key bytes before they are encrypted, in
    // the form the client will decode after unwrapping; no adapter sees them in the clear.
    const attrs = bound.length > 0 ? encodeAttributeList(bound, ctx.version) : [];
    const value = ttlv.structure(Tag.KeyValue, [...keyValue.value.filter((c) => c.tag === Tag.KeyMaterial), ...attrs]);
    plain = encodeTtlv(value);
    ctx.secrets.push(plain);
  }
  const kek = await kekBytes(ctx, key);
  checkCrypto(ctx.crypto, 'Wrap', { algorithm: CryptographicAlgorithm.AES, bits: kek.length * 8, mode: padded ? BlockCipherMode.AESKeyWrapPadding : BlockCipherMode.NISTKeyWrap });
  const wrapped = aesKeyWrap(kek, plain, padded);
  const ekiOut: TtlvItem[] = [ttlv.textString(Tag.UniqueIdentifier, kekUid)];
  if (params) ekiOut.push(params);
  const wrapping: TtlvItem[] = [
    ttlv.enumeration(Tag.WrappingMethod, method),
    ttlv.structure(Tag.EncryptionKeyInformation, ekiOut),
  ];
  if (encoding !== undefined) wrapping.push(ttlv.enumeration(Tag.EncodingOption, encoding));
  const wrappedValue = noEncoding
    ? ttlv.structure(Tag.KeyValue, [ttlv.byteString(Tag.KeyMaterial, wrapped)])
    : ttlv.byteString(Tag.KeyValue, wrapped);
  return ttlv.structure(Tag.KeyBlock, [
    ...block.value.map((c) => (c.tag === Tag.KeyValue ? wrappedValue : c)),
    ttlv.structure(Tag.KeyWrappingData, wrapping),
  ]);
}
