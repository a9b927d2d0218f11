/**
 * Derive Key: a new Symmetric Key or Secret Data derived from keys or Secret Data the server holds
 * (src/crypto/kdf.ts has the methods: PBKDF2, HASH, HMAC, ENCRYPT, SP 800-108 counter mode, HKDF), or
 * agreed by ECDH / X25519 / X448 from a managed private key and the other party's public key
 * (Derivation Method Asymmetric Key, 1.4 on: src/crypto/key-agreement.ts).
 *
 * The request names at least one object (the ID Placeholder is never used here, per the spec).
 * The first is the derivation key; a Secret Data object named after it supplies the derivation
 * data instead of the Derivation Data field, and giving both is ambiguous (Invalid Message, the 1.x
 * table's reason). Every object named must have the Derive Key bit in its Cryptographic Usage Mask,
 * be in a state the lifecycle table allows derivation from (Pre-Active or Active) and have its
 * material on the server. The new object's length (and for a key its algorithm) come from the request's attributes.
 *
 * Links (spec): the new object gets a Derivation Base Object Link to each object it was derived
 * from, and each of those a Derived Key Link to it; all writes are stored together. The ID
 * Placeholder names the new object. Key material is read from the HSM-wrapped store for this call
 * and every derived or intermediate buffer is zeroed before the response.
 */
import { checkCrypto } from '../crypto/policy';
import { asymmetricKeyFacts } from '../crypto/policy-facts';
import { ItemType, ttlv, type TtlvStructure } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { CryptographicUsageMask, DerivationMethod, KeyFormatType, LinkType, ObjectType, Operation, SecretDataType } from '../spec/generated/enums';
import { asText, children, opt, req } from '../kmip/tree';
import { isAllowed, stateName, type StateValue } from '../lifecycle/state-machine';
import type { OpContext } from '../objects/context';
import { KmipError, Reason } from '../kmip/errors';
import type { OperationHandler } from '../objects/context';
import type { ManagedObjectRecord } from '../store/object-store';
import type { KeyObject } from 'node:crypto';
import { deriveKeyMaterial } from '../crypto/kdf';
import { keyObjectFromBlock } from '../crypto/asymmetric-keys';
import { agree, checkAgreementKey, peerKeyFromBytes } from '../crypto/key-agreement';
import { readCryptoParams, type CryptoParams } from '../crypto/params';
import { wipe } from '../objects/key-block';
import { derivedKeyBytes, digestAttribute, keyBlock, keyBlockOf, rawKeyMaterial, requireKeyValue } from '../objects/key-block';
import { addAttributeInstance, getAttribute, isDestroyed, loadObject, readBody, requireOnline, touchLastChange } from '../objects/managed-object';
import { checkClientAttributes, chooseProtectionStorage, prepareNewObject } from '../objects/new-object';
import { resolveRequestAttributes } from '../objects/templates';

import { integerAttribute, linkStructure } from '../kmip/attributes';
/** What Derive Key makes, and what it derives from. */
const DERIVABLE: readonly number[] = [ObjectType.SymmetricKey, ObjectType.SecretData];
const SOURCE_TYPES: readonly number[] = [ObjectType.SymmetricKey, ObjectType.SecretData];

interface Source {
  readonly rec: ManagedObjectRecord;
  readonly material: Uint8Array;
  readonly algorithm: number | undefined;
}

/**
 * The gate every object named for derivation passes: visible, on-line, of a type `types` allows,
 * in a state that allows it (the lifecycle table), Derive Key allowed.
 */
async function gateSource(ctx: OpContext, uid: string, types: readonly number[], typeRefusal: string): Promise<ManagedObjectRecord> {
  const rec = await loadObject(ctx, uid);
  if (isDestroyed(rec.state)) throw new KmipError(Reason.ObjectDestroyed, `object ${uid} is destroyed`);
  requireOnline(rec);
  if (!types.includes(rec.objectType)) {
    throw new KmipError(Reason.InvalidObjectType, `object ${uid} ${typeRefusal}`);
  }
  if (!isAllowed(rec.state as StateValue, 'derive')) {
    throw new KmipError(Reason.WrongKeyLifecycleState, `object ${uid} is in state ${stateName(rec.state)}: only Pre-Active and Active objects can be used to derive keys`);
  }
  const mask = getAttribute(rec.attributes, 'Cryptographic Usage Mask');
  if (mask?.type !== ItemType.Integer || (mask.value & CryptographicUsageMask.DeriveKey) === 0) {
    throw new KmipError(Reason.IncompatibleCryptographicUsageMask, `object ${uid} does not have Derive Key in its Cryptographic Usage Mask`, undefined, Reason.InvalidField);
  }
  return rec;
}

async function blockOfSource(ctx: OpContext, rec: ManagedObjectRecord): Promise<TtlvStructure> {
  const block = keyBlockOf(await readBody(ctx, rec));
  if (!block) throw new KmipError(Reason.KeyValueNotPresent, `object ${rec.uid} has no key material`);
  requireKeyValue(block, rec.uid);
  return block;
}

/** An object named for a symmetric derivation method: a symmetric key or Secret Data, its material as bytes. */
async function loadSource(ctx: OpContext, uid: string): Promise<Source> {
  const rec = await gateSource(ctx, uid, SOURCE_TYPES, 'is not a symmetric key or secret data, so it cannot be used to derive a key');
  const block = await blockOfSource(ctx, rec);
  const material = rawKeyMaterial(block);
  if (!material) throw new KmipError(Reason.KeyFormatTypeNotSupported, `the material of object ${uid} is not held as bytes`);
  const algAttr = getAttribute(rec.attributes, 'Cryptographic Algorithm');
  const algorithm = opt.enumeration(block, Tag.CryptographicAlgorithm) ?? (algAttr?.type === ItemType.Enumeration ? algAttr.value : undefined);
  return { rec, material, algorithm };
}

/**
 * Derivation Method Asymmetric Key: the first object is the private key; the other party's public
 * key is either a second object (a Public Key) or the Derivation Data (its bytes), not both.
 * The derived material is the leftmost bytes of the shared secret (src/crypto/key-agreement.ts).
 */
async function agreeFromRequest(ctx: OpContext, uids: readonly string[], dp: TtlvStructure, bytes: number): Promise<Derivation> {
  const privateRec = await gateSource(ctx, uids[0] as string, [ObjectType.PrivateKey], 'is not a private key, which Asymmetric Key derivation starts from');
  const privateKey = keyObjectFromBlock(await blockOfSource(ctx, privateRec), 'private');
  checkAgreementKey(privateKey);
  const peerData = opt.bytes(dp, Tag.DerivationData);
  const recs = [privateRec];
  let peer: KeyObject;
  if (uids[1] !== undefined) {
    if (peerData !== undefined) throw new KmipError(Reason.InvalidMessage, 'the public key is given twice: in Derivation Data and as a Public Key object');
    const publicRec = await gateSource(ctx, uids[1], [ObjectType.PublicKey], 'is not a public key, which Asymmetric Key derivation agrees with');
    peer = keyObjectFromBlock(await blockOfSource(ctx, publicRec), 'public');
    recs.push(publicRec);
  } else {
    if (peerData === undefined) throw new KmipError(Reason.MissingData, 'Asymmetric Key derivation needs the other party\'s public key: in Derivation Data or as a second Unique Identifier');
    peer = peerKeyFromBytes(peerData, privateKey);
  }
  checkCrypto(ctx.crypto, 'Derive', asymmetricKeyFacts(privateKey));
  const shared = agree(privateKey, peer);
  if (shared.length < bytes) {
    shared.fill(0);
    throw new KmipError(Reason.CryptographicFailure, `the key agreement gives ${shared.length * 8} bits; ${bytes * 8} were asked for`);
  }
  const derived = Buffer.from(shared.subarray(0, bytes));
  shared.fill(0);
  return { recs, derived };
}

/** The objects derived from (each gets a Derived Key Link) and the new material. */
interface Derivation {
  readonly recs: ManagedObjectRecord[];
  readonly derived: Buffer;
}

/** Cryptographic Parameters: the Derivation Parameters', else the derivation key's own attribute. */
function paramsFor(dp: TtlvStructure, key: ManagedObjectRecord): CryptoParams {
  const given = opt.structure(dp, Tag.CryptographicParameters);
  if (given) return readCryptoParams(given);
  const own = key.attributes.filter((a) => a.name === 'Cryptographic Parameters').sort((a, b) => a.index - b.index)[0];
  return own?.value.type === ItemType.Structure ? readCryptoParams(own.value) : {};
}

/** The symmetric methods: a key or Secret Data, and derivation data given inline or as a second object. */
async function deriveFromSources(ctx: OpContext, method: number, uids: readonly string[], dp: TtlvStructure, bytes: number): Promise<Derivation> {
  const sources: Source[] = [];
  for (const uid of uids) sources.push(await loadSource(ctx, uid));
  const key = sources[0] as Source;
  const dataObject = sources[1];
  if (dataObject && dataObject.rec.objectType !== ObjectType.SecretData) {
    throw new KmipError(Reason.InvalidObjectType, 'the derivation data comes from a Secret Data object');
  }
  const dataField = opt.bytes(dp, Tag.DerivationData);
  if (dataField !== undefined && dataObject) {
    throw new KmipError(Reason.InvalidMessage, 'derivation data is given twice: in Derivation Data and as a Secret Data object');
  }
  const data = dataField ?? dataObject?.material;
  const iterations = opt.integer(dp, Tag.IterationCount);
  const salt = opt.bytes(dp, Tag.Salt);
  const iv = opt.bytes(dp, Tag.InitializationVector);
  const params = paramsFor(dp, key.rec);
  // A Secret Data source (a password, a seed) has no algorithm to rule on; its hash and mode still count.
  checkCrypto(ctx.crypto, 'Derive', {
    algorithm: key.algorithm,
    bits: key.algorithm === undefined ? undefined : key.material.length * 8,
    hash: params.hashingAlgorithm,
    mode: params.blockCipherMode,
  });
  const derived = await deriveKeyMaterial({
    // A compatibility profile may read HMAC as HKDF (pykmip-server's derivation).
    method: method === DerivationMethod.HMAC && ctx.compat.hmacDerivation === 'hkdf' ? DerivationMethod.HKDF : method,
    key: key.material,
    ...(key.algorithm !== undefined ? { keyAlgorithm: key.algorithm } : {}),
    ...(data !== undefined ? { data } : {}),
    params,
    ...(iv !== undefined ? { iv } : {}),
    ...(salt !== undefined ? { salt } : {}),
    ...(iterations !== undefined ? { iterations } : {}),
    bytes,
    counterMode: ctx.compat.counterKdf,
  });
  return { recs: sources.map((s) => s.rec), derived };
}

export const deriveKeyHandler: OperationHandler = {
  operation: Operation.DeriveKey,
  async handle(payload, ctx) {
    const objectType = req.enumeration(payload, Tag.ObjectType);
    if (!DERIVABLE.includes(objectType)) {
      throw new KmipError(Reason.InvalidObjectType, 'Derive Key makes symmetric keys and secret data only');
    }
    const uids = children(payload, Tag.UniqueIdentifier).map(asText);
    if (uids.length === 0) throw new KmipError(Reason.MissingData, 'Derive Key needs the Unique Identifier of the object to derive from');
    if (uids.length > 2) throw new KmipError(Reason.InvalidField, 'Derive Key takes a derivation key and at most one Secret Data object with the derivation data');
    if (new Set(uids).size !== uids.length) throw new KmipError(Reason.InvalidField, 'the same object is named twice');
    const method = req.enumeration(payload, Tag.DerivationMethod);
    // A Derivation Method the client's version lacks: refused by the request adapter.
    const dp = req.structure(payload, Tag.DerivationParameters);
    const attrs = await resolveRequestAttributes(payload, ctx);
    checkClientAttributes(attrs, objectType);
    const protectionStorage = chooseProtectionStorage(payload);

    const bits = integerAttribute(attrs, 'Cryptographic Length');
    if (bits === undefined) throw new KmipError(Reason.MissingData, 'Derive Key needs the Cryptographic Length of the object to derive');
    const algorithm = integerAttribute(attrs, 'Cryptographic Algorithm');
    let bytes: number;
    if (objectType === ObjectType.SymmetricKey) {
      if (algorithm === undefined) throw new KmipError(Reason.MissingData, 'a derived symmetric key needs its Cryptographic Algorithm');
      bytes = derivedKeyBytes(algorithm, bits);
    } else {
      if (bits <= 0 || bits % 8 !== 0) throw new KmipError(Reason.InvalidField, 'derived secret data must be a whole number of bytes');
      bytes = bits / 8;
    }

    const { recs, derived } =
      method === DerivationMethod.AsymmetricKey ? await agreeFromRequest(ctx, uids, dp, bytes) : await deriveFromSources(ctx, method, uids, dp, bytes);

    const body =
      objectType === ObjectType.SymmetricKey
        ? ttlv.structure(Tag.SymmetricKey, [keyBlock(KeyFormatType.Raw, derived, algorithm, bits)])
        : ttlv.structure(Tag.SecretData, [ttlv.enumeration(Tag.SecretDataType, SecretDataType.Seed), keyBlock(KeyFormatType.Opaque, derived)]);
    try {
      const format = objectType === ObjectType.SymmetricKey ? KeyFormatType.Raw : KeyFormatType.Opaque;
      const record = await prepareNewObject(ctx, {
        objectType,
        body,
        clientAttributes: [...attrs, ...uids.map((u) => ({ name: 'Link', value: linkStructure(LinkType.DerivationBaseObjectLink, u) }))],
        derived: [{ name: 'Digest', value: digestAttribute(derived, format) }],
        originalCreation: true,
        protectionStorage,
      });
      const updates = recs.map((rec) => ({
        uid: rec.uid,
        update: {
          attributes: touchLastChange(ctx, addAttributeInstance(rec.attributes, 'Link', linkStructure(LinkType.DerivedKeyLink, record.uid))),
          expectedRevision: rec.revision,
        },
      }));
      await ctx.store.writeBatch([{ insert: record }, ...updates]);
      ctx.idPlaceholder = record.uid;
      ctx.touched.push(record.uid);
      return [ttlv.textString(Tag.UniqueIdentifier, record.uid)];
    } finally {
      derived.fill(0);
      wipe(body);
    }
  },
};
