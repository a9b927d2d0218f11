/**
 * Recover: an archived object comes back on-line; the server deletes its Archive Date (spec:
 * Archive Date). Recovering an on-line object changes nothing.
 */
import { ttlv } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { Operation } from '../spec/generated/enums';
import type { OperationHandler } from '../objects/context';
import { isArchived, loadObject, requestedUid, touchLastChange } from '../objects/managed-object';

export const recoverHandler: OperationHandler = {
  operation: Operation.Recover,
  async handle(payload, ctx) {
    const uid = requestedUid(payload, ctx);
    const rec = await loadObject(ctx, uid);
    if (isArchived(rec)) {
      const attributes = touchLastChange(ctx, rec.attributes.filter((a) => a.name !== 'Archive Date'));
      await ctx.store.update(uid, { attributes, expectedRevision: rec.revision });
    }
    return [ttlv.textString(Tag.UniqueIdentifier, uid)];
  },
};
