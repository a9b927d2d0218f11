/**
 * Re-key Key Pair: a replacement pair for an existing private key (and the public key it links
 * to), of the same algorithm, size and curve. As with Re-key, the replacements take the existing
 * keys' attributes except those handled specially (dates shifted by Offset, Usage Limits
 * restarted, Names moved); Replacement / Replaced Object Links join old and new, and the new
 * halves link to each other. All four writes are stored together.
 */
import { ItemType, ttlv } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { LinkType, ObjectType, Operation } from '../spec/generated/enums';
import { child, opt } from '../kmip/tree';
import type { KmipAttribute } from '../kmip/attributes';
import type { OperationHandler } from '../objects/context';
import type { ManagedObjectRecord, NewObject, StoredAttribute } from '../store/object-store';
import type { OpContext } from '../objects/context';
import { KmipError, Reason } from '../kmip/errors';
import { keyObjectFromBlock } from '../crypto/asymmetric-keys';
import { pqcSpecLike, specLike } from '../crypto/keygen';
import { isServerManaged } from '../objects/attribute-policy';
import { pairRequestAttributes, pairStorage, prepareKeyPair } from '../objects/key-pair';
import { keyBlockOf, requireKeyValue } from '../objects/key-block';
import {
  addAttributeInstance,
  getAttribute,
  getAttributes,
  isDestroyed,
  loadObject,
  nowSeconds,
  readBody,
  requireOnline,
  touchLastChange,
} from '../objects/managed-object';
import { NOT_COPIED, replacementDates, usageLimits } from '../objects/replacement';
import { optInterval } from '../objects/read';

import { linkStructure } from '../kmip/attributes';
function linkedUid(rec: ManagedObjectRecord, type: number): string | undefined {
  for (const l of getAttributes(rec.attributes, 'Link')) {
    if (l.type === ItemType.Structure && opt.enumeration(l, Tag.LinkType) === type) return opt.text(l, Tag.LinkedObjectIdentifier);
  }
  return undefined;
}

/** What a replacement inherits from the key it replaces (see rekey.ts for the rules). */
function inheritedFrom(old: ManagedObjectRecord, offset: number | undefined, now: bigint): StoredAttribute[] {
  return [
    ...old.attributes.filter((a) => !NOT_COPIED.has(a.name) && !isServerManaged(a.name)),
    ...old.attributes.filter((a) => a.name === 'Name'),
    ...replacementDates(old.attributes, offset, now),
    ...usageLimits(old.attributes),
  ];
}

/** Links are multi-valued: the Replaced Object Link goes with the request's attributes, beside the pair link. */
function replacedLink(old: ManagedObjectRecord): KmipAttribute {
  return { name: 'Link', value: linkStructure(LinkType.ReplacedObjectLink, old.uid) };
}

/** The existing key after replacement: Names gone to the new key, a link to it, state unchanged. */
function replacedUpdate(ctx: OpContext, old: ManagedObjectRecord, replacement: NewObject) {
  const attrs = touchLastChange(ctx, addAttributeInstance(old.attributes.filter((a) => a.name !== 'Name'), 'Link', linkStructure(LinkType.ReplacementObjectLink, replacement.uid)));
  return { uid: old.uid, update: { attributes: attrs, expectedRevision: old.revision } };
}

async function loadLive(ctx: OpContext, uid: string, type: number): Promise<ManagedObjectRecord> {
  const rec = await loadObject(ctx, uid);
  if (rec.objectType !== type) {
    throw new KmipError(Reason.IllegalObjectType, 'Re-key Key Pair names a private key');
  }
  if (isDestroyed(rec.state)) throw new KmipError(Reason.ObjectDestroyed, `object ${uid} is destroyed`);
  requireOnline(rec);
  return rec;
}

export const reKeyKeyPairHandler: OperationHandler = {
  operation: Operation.ReKeyKeyPair,
  async handle(payload, ctx) {
    const named = child(payload, Tag.PrivateKeyUniqueIdentifier);
    const privUid = named?.type === ItemType.TextString ? named.value : ctx.idPlaceholder;
    if (privUid === undefined) throw new KmipError(Reason.MissingData, 'no Private Key Unique Identifier given and no ID Placeholder is set');
    const oldPriv = await loadLive(ctx, privUid, ObjectType.PrivateKey);
    const pubUid = linkedUid(oldPriv, LinkType.PublicKeyLink);
    const oldPub = pubUid === undefined ? undefined : await loadLive(ctx, pubUid, ObjectType.PublicKey);

    const block = keyBlockOf(await readBody(ctx, oldPriv));
    if (!block) throw new KmipError(Reason.InvalidObjectType, `object ${privUid} holds no key`);
    requireKeyValue(block, privUid);
    const alg = getAttribute(oldPriv.attributes, 'Cryptographic Algorithm');
    const algValue = alg?.type === ItemType.Enumeration ? alg.value : 0;
    const spec = pqcSpecLike(opt.enumeration(block, Tag.CryptographicAlgorithm) ?? algValue) ?? specLike(keyObjectFromBlock(block, 'private'), algValue, ctx.crypto);

    const attrs = await pairRequestAttributes(payload, ctx);
    const storage = pairStorage(payload);
    const offset = optInterval(payload, Tag.Offset);
    const now = nowSeconds(ctx);
    // The new halves link to each other; the inherited links to the old pair are not copied.
    const { priv, pub } = await prepareKeyPair(
      ctx,
      spec,
      { attributes: [...attrs.priv, replacedLink(oldPriv)], storage: storage.priv, inherited: inheritedFrom(oldPriv, offset, now), owner: oldPriv.owner },
      {
        attributes: oldPub ? [...attrs.pub, replacedLink(oldPub)] : attrs.pub,
        storage: storage.pub,
        inherited: oldPub ? inheritedFrom(oldPub, offset, now) : [],
        owner: oldPriv.owner,
      },
    );
    const writes = [{ insert: priv }, { insert: pub }, replacedUpdate(ctx, oldPriv, priv)];
    if (oldPub) writes.push(replacedUpdate(ctx, oldPub, pub));
    await ctx.store.writeBatch(writes);
    ctx.idPlaceholder = priv.uid;
    ctx.touched.push(priv.uid, pub.uid);
    return [ttlv.textString(Tag.PrivateKeyUniqueIdentifier, priv.uid), ttlv.textString(Tag.PublicKeyUniqueIdentifier, pub.uid)];
  },
};
