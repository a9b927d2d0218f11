/**
 * Create Split Key (KMIP 1.2 on): a secret split into Split Key Parts shares, any Split Key
 * Threshold of which rebuild it (XOR: all of them), each stored as its own Split Key object. The
 * secret is either new (a symmetric key or Secret Data of the requested algorithm and length,
 * generated here) or an existing key or Secret Data the request names; the existing key's own
 * algorithm and length take precedence over the request's (spec). Splitting an existing key hands
 * its material out in shares, so a key that is not Extractable cannot be split, and the shares of a
 * Sensitive key are Sensitive too.
 *
 * All shares are written in one store batch; the ID Placeholder names the share whose Key Part
 * Identifier is 1. Every buffer that held the secret or a share is zeroed before the response.
 */
import { ItemType, ttlv, type TtlvItem, type TtlvStructure } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { KeyFormatType, ObjectType, Operation } from '../spec/generated/enums';
import type { KmipAttribute } from '../kmip/attributes';
import { opt, req } from '../kmip/tree';
import { isAllowed, type StateValue } from '../lifecycle/state-machine';
import type { OpContext } from '../objects/context';
import { KmipError, Reason } from '../kmip/errors';
import type { OperationHandler } from '../objects/context';
import type { NewObject } from '../store/object-store';
import { secureRandomBytes } from '../crypto/random-pool';
import { splitSecret } from '../crypto/secret-sharing';
import { checkSecretDataLength, generateSymmetricKey, wipe } from '../objects/key-block';
import { checkCrypto, type CryptoPolicy } from '../crypto/policy';
import { digestAttribute, keyBlockOf, rawKeyMaterial, requireKeyValue } from '../objects/key-block';
import { getAttribute, isDestroyed, loadObject, readBody, requireOnline } from '../objects/managed-object';
import { checkClientAttributes, chooseProtectionStorage, prepareNewObject } from '../objects/new-object';
import { blockShape, readSplitParams, splitKeyBody } from '../objects/split-key-object';
import { resolveRequestAttributes } from '../objects/templates';

import { integerAttribute } from '../kmip/attributes';
/** The types whose material can be split (the secret's type, not Split Key). */
const SPLITTABLE: readonly number[] = [ObjectType.SymmetricKey, ObjectType.SecretData, ObjectType.PrivateKey];

interface Secret {
  readonly material: Uint8Array;
  readonly shape: { format: number; algorithm?: number; length?: number };
  /** Trees that hold the secret and must be wiped. */
  readonly wipeAfter: TtlvItem[];
  /** Sensitive is inherited by the shares. */
  readonly sensitive: boolean;
}

/** A new secret per the request's attributes: a symmetric key, or Secret Data of that many bits. */
function generateSecret(objectType: number, attrs: readonly KmipAttribute[], policy: CryptoPolicy): Secret {
  const length = integerAttribute(attrs, 'Cryptographic Length');
  if (length === undefined) throw new KmipError(Reason.MissingData, 'Cryptographic Length is required to create a split key');
  if (objectType === ObjectType.SecretData) {
    checkSecretDataLength(length);
    const material = secureRandomBytes(length / 8);
    const algorithm = integerAttribute(attrs, 'Cryptographic Algorithm');
    return { material, shape: { format: KeyFormatType.Opaque, ...(algorithm !== undefined ? { algorithm } : {}), length }, wipeAfter: [ttlv.byteString(Tag.KeyMaterial, material)], sensitive: false };
  }
  const algorithm = integerAttribute(attrs, 'Cryptographic Algorithm');
  if (algorithm === undefined) throw new KmipError(Reason.MissingData, 'Cryptographic Algorithm is required to create a split key');
  checkCrypto(policy, 'Create', { algorithm, bits: length });
  const generated = generateSymmetricKey(algorithm, length);
  const block = keyBlockOf(generated.body);
  const material = block ? rawKeyMaterial(block) : undefined;
  if (!material) throw new KmipError(Reason.CryptographicFailure, 'the key could not be generated');
  return { material, shape: { format: KeyFormatType.Raw, algorithm, length }, wipeAfter: [generated.body], sensitive: false };
}

/** The material of an existing key or Secret Data the caller may split. */
async function existingSecret(ctx: OpContext, uid: string, objectType: number): Promise<Secret> {
  const rec = await loadObject(ctx, uid);
  if (isDestroyed(rec.state)) throw new KmipError(Reason.ObjectDestroyed, `object ${uid} is destroyed`);
  requireOnline(rec);
  if (!SPLITTABLE.includes(rec.objectType)) {
    throw new KmipError(Reason.InvalidObjectType, 'only symmetric keys, private keys and secret data can be split');
  }
  if (objectType !== rec.objectType && objectType !== ObjectType.SplitKey) {
    throw new KmipError(Reason.InvalidField, 'the Object Type does not match the object to split');
  }
  if (!isAllowed(rec.state as StateValue, 'get')) throw new KmipError(Reason.WrongKeyLifecycleState, `object ${uid} cannot be split in its state`);
  const flag = (name: string): boolean | undefined => {
    const v = getAttribute(rec.attributes, name);
    return v?.type === ItemType.Boolean ? v.value : undefined;
  };
  if (flag('Extractable') === false) {
    throw new KmipError(Reason.NotExtractable, `object ${uid} is not extractable, so it cannot be handed out in parts`);
  }
  const body = await readBody(ctx, rec);
  const block = keyBlockOf(body);
  if (!block) throw new KmipError(Reason.KeyValueNotPresent, `object ${uid} holds no key block`);
  requireKeyValue(block, uid);
  const material = rawKeyMaterial(block);
  if (!material) throw new KmipError(Reason.KeyFormatTypeNotSupported, 'only key material held as bytes (Raw, Opaque, DER formats) can be split');
  const shape = blockShape(block);
  // A Transparent Symmetric Key's Key is its raw bytes.
  const format = shape.format === KeyFormatType.TransparentSymmetricKey ? KeyFormatType.Raw : shape.format;
  return { material, shape: { ...shape, format }, wipeAfter: [], sensitive: flag('Sensitive') === true };
}

export const createSplitKeyHandler: OperationHandler = {
  operation: Operation.CreateSplitKey,
  async handle(payload: TtlvStructure, ctx) {
    const objectType = req.enumeration(payload, Tag.ObjectType);
    if (!SPLITTABLE.includes(objectType) && objectType !== ObjectType.SplitKey) {
      throw new KmipError(Reason.InvalidObjectType, 'Create Split Key splits symmetric keys, private keys or secret data');
    }
    const params = readSplitParams(payload);
    const attrs = await resolveRequestAttributes(payload, ctx);
    checkClientAttributes(attrs, ObjectType.SplitKey);
    const protectionStorage = chooseProtectionStorage(payload);
    const uid = opt.text(payload, Tag.UniqueIdentifier);
    const secret =
      uid !== undefined
        ? await existingSecret(ctx, uid, objectType)
        : generateSecret(objectType === ObjectType.SplitKey ? ObjectType.SymmetricKey : objectType, attrs, ctx.crypto);
    const shares = splitSecret(secret.material, params);
    const bodies = shares.map((share, i) => splitKeyBody(params, i + 1, secret.shape, share));
    try {
      // The key's own algorithm and length describe every share; the request's give way to them.
      const own = (['Cryptographic Algorithm', 'Cryptographic Length'] as const).filter((n) =>
        n === 'Cryptographic Algorithm' ? secret.shape.algorithm !== undefined : secret.shape.length !== undefined,
      );
      const clientAttributes = attrs.filter((a) => !own.some((n) => n === a.name));
      const records: NewObject[] = [];
      for (const [i, body] of bodies.entries()) {
        const derived: KmipAttribute[] = [{ name: 'Digest', value: digestAttribute(shares[i] as Uint8Array, secret.shape.format) }];
        if (secret.shape.algorithm !== undefined) derived.push({ name: 'Cryptographic Algorithm', value: ttlv.enumeration(Tag.CryptographicAlgorithm, secret.shape.algorithm) });
        if (secret.shape.length !== undefined) derived.push({ name: 'Cryptographic Length', value: ttlv.integer(Tag.CryptographicLength, secret.shape.length) });
        if (secret.sensitive) derived.push({ name: 'Sensitive', value: ttlv.boolean(Tag.Sensitive, true) });
        records.push(
          await prepareNewObject(ctx, {
            objectType: ObjectType.SplitKey,
            body,
            clientAttributes: secret.sensitive ? clientAttributes.filter((a) => a.name !== 'Sensitive') : clientAttributes,
            derived,
            originalCreation: true,
            generated: uid === undefined,
            protectionStorage,
          }),
        );
      }
      await ctx.store.writeBatch(records.map((r) => ({ insert: r })));
      ctx.idPlaceholder = records[0]?.uid;
      ctx.touched.push(...records.map((r) => r.uid));
      return records.map((r) => ttlv.textString(Tag.UniqueIdentifier, r.uid));
    } finally {
      for (const s of shares) s.fill(0);
      for (const b of bodies) wipe(b);
      for (const w of secret.wipeAfter) wipe(w);
      if (uid === undefined) secret.material.fill(0);
    }
  },
};
