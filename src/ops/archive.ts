/**
 * Archive: the object moves to archival storage. It keeps its state and attributes; an Archive
 * Date marks it. Operations that use its material answer Object Archived until it is recovered,
 * and Locate finds it only when asked for archival storage. Archiving twice keeps the first date.
 */
import { ttlv } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { Operation } from '../spec/generated/enums';
import type { OperationHandler } from '../objects/context';
import { isArchived, loadObject, nowSeconds, requestedUid, setAttribute, touchLastChange } from '../objects/managed-object';

export const archiveHandler: OperationHandler = {
  operation: Operation.Archive,
  async handle(payload, ctx) {
    const uid = requestedUid(payload, ctx);
    const rec = await loadObject(ctx, uid);
    if (!isArchived(rec)) {
      const attributes = touchLastChange(ctx, setAttribute(rec.attributes, 'Archive Date', ttlv.dateTime(Tag.ArchiveDate, nowSeconds(ctx))));
      await ctx.store.update(uid, { attributes, expectedRevision: rec.revision });
    }
    return [ttlv.textString(Tag.UniqueIdentifier, uid)];
  },
};
