/**
 * Check: would the object allow this use? The client names a Usage Limits Count it wants to
 * consume, a Cryptographic Usage Mask it wants to use the object with, and a Lease Time; each is
 * compared with the object's own. A failed check answers with the reason for the first one that
 * fails (1.x has no specific reasons: Permission Denied); nothing about the object changes.
 *
 * A failure in 1.0-2.0 also answers a Response Payload: the Unique Identifier and the field that
 * failed (the Check Response Payload of 1.x and 2.0 lists each field as "returned if" it was
 * refused; PyKMIP's client reads that payload on every Check failure). 2.1 answers without one:
 * its Basic profile case BL-M-2-21 shows a failed Check with no payload.
 */
import { ItemType, ttlv, type TtlvItem } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { Operation } from '../spec/generated/enums';
import { opt } from '../kmip/tree';
import type { OperationHandler } from '../objects/context';
import { KmipError, Reason } from '../kmip/errors';
import { getAttribute, isDestroyed, loadObject, requestedUid, requireOnline } from '../objects/managed-object';
import { optInterval, optLongInteger } from '../objects/read';

export const checkHandler: OperationHandler = {
  operation: Operation.Check,
  async handle(payload, ctx) {
    const uid = requestedUid(payload, ctx);
    const rec = await loadObject(ctx, uid);
    if (isDestroyed(rec.state)) throw new KmipError(Reason.ObjectDestroyed, `object ${uid} is destroyed`);
    requireOnline(rec);
    // Which versions answer a failure with this payload: kmip/response-adapter.ts.
    const failed = (field: TtlvItem): readonly TtlvItem[] => [ttlv.textString(Tag.UniqueIdentifier, uid), field];
    const count = optLongInteger(payload, Tag.UsageLimitsCount);
    if (count !== undefined) {
      const limits = getAttribute(rec.attributes, 'Usage Limits');
      const left = limits?.type === ItemType.Structure ? optLongInteger(limits, Tag.UsageLimitsCount) : undefined;
      if (left !== undefined && count > left) {
        throw new KmipError(Reason.UsageLimitExceeded, 'Check failed: usage limit exceeded', failed(ttlv.longInteger(Tag.UsageLimitsCount, count)));
      }
    }
    const mask = opt.integer(payload, Tag.CryptographicUsageMask);
    if (mask !== undefined) {
      const own = getAttribute(rec.attributes, 'Cryptographic Usage Mask');
      const ownBits = own?.type === ItemType.Integer ? own.value : 0;
      if ((mask & ~ownBits) !== 0) {
        throw new KmipError(Reason.IncompatibleCryptographicUsageMask, 'Check failed: usage mask not permitted', failed(ttlv.integer(Tag.CryptographicUsageMask, mask)));
      }
    }
    const lease = optInterval(payload, Tag.LeaseTime);
    if (lease !== undefined) {
      const own = getAttribute(rec.attributes, 'Lease Time');
      if (own?.type === ItemType.Interval && lease > own.value) {
        throw new KmipError(Reason.PermissionDenied, 'Check failed: lease longer than the object allows', failed(ttlv.interval(Tag.LeaseTime, lease)));
      }
    }
    return [ttlv.textString(Tag.UniqueIdentifier, uid)];
  },
};
