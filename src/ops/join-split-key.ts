/**
 * Join Split Key (KMIP 1.2 on): the Split Keys the request names (at least their Split Key
 * Threshold; XOR: all parts) are combined into one new object of the requested Object Type
 * (Symmetric Key, Secret Data or Private Key). The parts must belong together: the same method,
 * parts, threshold, prime and key shape, distinct Key Part Identifiers. The rebuilt key carries
 * the format, algorithm and length the parts' Key Blocks record, is checked like a registered key
 * of its type, and gets the request's attributes. The ID Placeholder names it.
 *
 * Fewer parts than the threshold is Cryptographic Failure (1.x table), a method we do not know
 * Invalid Field; the parts' material is read from the HSM-wrapped store for this call only, and
 * the rebuilt secret is zeroed once stored.
 */
import { ItemType, ttlv, type TtlvItem, type TtlvStructure } from '../../ttlv/types';
import type { KmipAttribute } from '../kmip/attributes';
import { Tag } from '../spec/generated/tags';
import { ObjectType, Operation, SecretDataType, SplitKeyMethod } from '../spec/generated/enums';
import { asText, children, opt, req } from '../kmip/tree';
import { isAllowed, type StateValue } from '../lifecycle/state-machine';
import { KmipError, Reason } from '../kmip/errors';
import type { OperationHandler } from '../objects/context';
import { joinSecret, type Share } from '../crypto/secret-sharing';
import { wipe } from '../objects/key-block';
import { keyBlock } from '../objects/key-block';
import { isDestroyed, loadObject, readBody, requireOnline } from '../objects/managed-object';
import { checkClientAttributes, chooseProtectionStorage, storeNewObject } from '../objects/new-object';
import { derivedFromBody } from '../objects/registered-object';
import { inspectRegistered } from '../objects/register-inspect';
import { blockShape, readSplitKey, type SplitKeyPart } from '../objects/split-key-object';
import { resolveRequestAttributes } from '../objects/templates';

const JOINABLE: readonly number[] = [ObjectType.SymmetricKey, ObjectType.SecretData, ObjectType.PrivateKey];

function sameParts(a: SplitKeyPart, b: SplitKeyPart): boolean {
  const sa = blockShape(a.block);
  const sb = blockShape(b.block);
  return (
    a.params.method === b.params.method &&
    a.params.parts === b.params.parts &&
    a.params.threshold === b.params.threshold &&
    a.params.prime === b.params.prime &&
    sa.format === sb.format &&
    sa.algorithm === sb.algorithm &&
    sa.length === sb.length
  );
}

/** Bytes of the joined secret: from the Cryptographic Length (bits) where the shares cannot tell. */
function secretBytes(part: SplitKeyPart): number {
  const { length } = blockShape(part.block);
  // Prime field shares are as long as the prime, GF(2^16) shares round up to an even length.
  if (part.params.prime !== undefined || part.params.method === SplitKeyMethod.PolynomialSharingGF2_16) {
    if (length === undefined) throw new KmipError(Reason.MissingData, 'the split key parts do not record the key length');
    return Math.ceil(length / 8);
  }
  return part.share.length;
}

function requestedNumber(attrs: readonly KmipAttribute[], name: string): number | undefined {
  const v = attrs.find((a) => a.name === name)?.value;
  return v?.type === ItemType.Enumeration || v?.type === ItemType.Integer ? v.value : undefined;
}

export const joinSplitKeyHandler: OperationHandler = {
  operation: Operation.JoinSplitKey,
  async handle(payload: TtlvStructure, ctx) {
    const objectType = req.enumeration(payload, Tag.ObjectType);
    if (!JOINABLE.includes(objectType)) {
      throw new KmipError(Reason.InvalidObjectType, 'Join Split Key forms symmetric keys, private keys or secret data');
    }
    const uids = children(payload, Tag.UniqueIdentifier).map(asText);
    if (uids.length === 0) throw new KmipError(Reason.MissingData, 'Join Split Key needs the Unique Identifiers of the parts');
    if (new Set(uids).size !== uids.length) throw new KmipError(Reason.InvalidField, 'a split key part is named twice');
    const attrs = await resolveRequestAttributes(payload, ctx);
    checkClientAttributes(attrs, objectType);
    const protectionStorage = chooseProtectionStorage(payload);

    const parts: SplitKeyPart[] = [];
    for (const uid of uids) {
      const rec = await loadObject(ctx, uid);
      if (isDestroyed(rec.state)) throw new KmipError(Reason.ObjectDestroyed, `object ${uid} is destroyed`);
      requireOnline(rec);
      if (rec.objectType !== ObjectType.SplitKey) {
        throw new KmipError(Reason.InvalidObjectType, `object ${uid} is not a Split Key`);
      }
      if (!isAllowed(rec.state as StateValue, 'get')) throw new KmipError(Reason.WrongKeyLifecycleState, `split key part ${uid} cannot be used in its state`);
      parts.push(readSplitKey(await readBody(ctx, rec)));
    }
    const first = parts[0] as SplitKeyPart;
    if (!parts.every((p) => sameParts(first, p))) throw new KmipError(Reason.InvalidField, 'the split key parts do not belong to the same split key');
    const shares: Share[] = parts.map((p) => ({ x: p.x, value: p.share }));
    const secret = joinSecret(shares, first.params, secretBytes(first));
    // The key block says what the joined key is: the algorithm and length the request asks for,
    // else what the parts record (a client may split bare bytes and name the algorithm on Join).
    // Secret Data has neither (Key Block table: "Does not apply to Secret Data").
    const shape = blockShape(first.block);
    const isKey = objectType !== ObjectType.SecretData;
    const algorithm = (isKey ? requestedNumber(attrs, 'Cryptographic Algorithm') : undefined) ?? shape.algorithm;
    const length = (isKey ? requestedNumber(attrs, 'Cryptographic Length') : undefined) ?? shape.length;
    const block = keyBlock(shape.format, secret, algorithm, length);
    const bodyItems: TtlvItem[] = [];
    if (objectType === ObjectType.SecretData) {
      bodyItems.push(ttlv.enumeration(Tag.SecretDataType, opt.enumeration(payload, Tag.SecretDataType) ?? SecretDataType.Seed));
    }
    bodyItems.push(block);
    const body = ttlv.structure(objectType === ObjectType.SymmetricKey ? Tag.SymmetricKey : objectType === ObjectType.SecretData ? Tag.SecretData : Tag.PrivateKey, bodyItems);
    try {
      // What the rebuilt key says about itself (algorithm, length, digest; a private key must parse).
      const own = derivedFromBody(body);
      own.push(...inspectRegistered(objectType, body, own, ctx.keyLimits));
      const { uid } = await storeNewObject(ctx, {
        objectType,
        body,
        clientAttributes: attrs,
        derived: own.filter((d) => !attrs.some((a) => a.name === d.name)),
        originalCreation: true,
        protectionStorage,
      });
      return [ttlv.textString(Tag.UniqueIdentifier, uid)];
    } finally {
      secret.fill(0);
      wipe(body);
    }
  },
};
