/**
 * Re-key: a replacement for a symmetric key, with a new Unique Identifier and fresh key material
 * of the same algorithm and length. The replacement takes the existing key's attributes except
 * those the spec lists for special handling (below); the two are linked (Replacement Object Link
 * on the existing key, Replaced Object Link on the new one), the Names move to the new key, and
 * the existing key keeps its state. Both writes are stored together.
 */
import { ItemType, ttlv } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { LinkType, ObjectType, Operation } from '../spec/generated/enums';
import type { OperationHandler } from '../objects/context';
import type { StoredAttribute } from '../store/object-store';
import { KmipError, Reason } from '../kmip/errors';
import { generateSymmetricKey, wipe } from '../objects/key-block';
import { checkCrypto } from '../crypto/policy';
import { isServerManaged } from '../objects/attribute-policy';
import {
  addAttributeInstance,
  getAttribute,
  isDestroyed,
  loadObject,
  nowSeconds,
  requestedUid,
  requireOnline,
  touchLastChange,
} from '../objects/managed-object';
import { checkClientAttributes, chooseProtectionStorage, prepareNewObject } from '../objects/new-object';
import { optInterval } from '../objects/read';
import { resolveRequestAttributes } from '../objects/templates';
import { NOT_COPIED, replacementDates, usageLimits } from '../objects/replacement';
import { linkStructure } from '../kmip/attributes';
export const reKeyHandler: OperationHandler = {
  operation: Operation.ReKey,
  async handle(payload, ctx) {
    const uid = requestedUid(payload, ctx);
    const old = await loadObject(ctx, uid);
    if (old.objectType !== ObjectType.SymmetricKey) {
      throw new KmipError(Reason.IllegalObjectType, 'Re-key replaces symmetric keys only');
    }
    if (isDestroyed(old.state)) throw new KmipError(Reason.ObjectDestroyed, `object ${uid} is destroyed`);
    requireOnline(old);
    // Re-key errors (1.2 on): "the Key Value is not present on the server" is Key Value Not Present.
    const present = getAttribute(old.attributes, 'Key Value Present');
    if (present?.type === ItemType.Boolean && !present.value) {
      throw new KmipError(Reason.KeyValueNotPresent, `object ${uid} was registered without its Key Value: the server holds its attributes only`);
    }
    const offset = optInterval(payload, Tag.Offset);
    const requested = await resolveRequestAttributes(payload, ctx);
    checkClientAttributes(requested, ObjectType.SymmetricKey);
    const alg = getAttribute(old.attributes, 'Cryptographic Algorithm');
    const len = getAttribute(old.attributes, 'Cryptographic Length');
    if (alg?.type !== ItemType.Enumeration || len?.type !== ItemType.Integer) {
      throw new KmipError(Reason.MissingData, 'the existing key has no Cryptographic Algorithm and Length to repeat');
    }
    const now = nowSeconds(ctx);
    const inherited: StoredAttribute[] = [
      // Algorithm and length are among the copied ones: the policy counts them as the request's.
      ...old.attributes.filter((a) => !NOT_COPIED.has(a.name) && !isServerManaged(a.name)),
      ...old.attributes.filter((a) => a.name === 'Name'),
      ...replacementDates(old.attributes, offset, now),
      ...usageLimits(old.attributes),
      { name: 'Link', index: 0, value: linkStructure(LinkType.ReplacedObjectLink, uid) },
    ];
    // The replacement is a new key of the policy's Create rule (a 3DES key is not re-made under the
    // default); its length repeats the replaced key's, which the server already holds (a PyKMIP
    // client's 160-bit derived "AES" key), so only the algorithm is ruled on.
    checkCrypto(ctx.crypto, 'Create', { algorithm: alg.value });
    const generated = generateSymmetricKey(alg.value, len.value, { replacing: true });
    try {
      const record = await prepareNewObject(ctx, {
        objectType: ObjectType.SymmetricKey,
        body: generated.body,
        clientAttributes: requested,
        derived: generated.derived,
        inherited,
        originalCreation: true,
        generated: true,
        protectionStorage: chooseProtectionStorage(payload),
        owner: old.owner,
      });
      // The existing key: its Names go to the replacement, a link points to it; its state stays.
      let oldAttrs = old.attributes.filter((a) => a.name !== 'Name');
      oldAttrs = touchLastChange(ctx, addAttributeInstance(oldAttrs, 'Link', linkStructure(LinkType.ReplacementObjectLink, record.uid)));
      await ctx.store.writeBatch([{ insert: record }, { uid, update: { attributes: oldAttrs, expectedRevision: old.revision } }]);
      ctx.idPlaceholder = record.uid;
      ctx.touched.push(record.uid);
      return [ttlv.textString(Tag.UniqueIdentifier, record.uid)];
    } finally {
      wipe(generated.body);
    }
  },
};
