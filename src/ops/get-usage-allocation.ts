/**
 * Get Usage Allocation: the client takes an amount from an object's Usage Limits before it applies
 * protection with the key itself. The amount is taken at once (the spec: the server assumes it is
 * all consumed), Usage Limits Count goes down by it and Last Change Date moves.
 *
 * Allowed for objects that can apply protection (symmetric keys, private keys for signing, public
 * keys for encryption) that have Usage Limits, while protection is enabled (Active, before the
 * Protect Stop Date). Reasons per version: 1.x Illegal Operation for an object without Usage Limits
 * or one that cannot protect and Permission Denied when the amount is not available; 2.x Attribute
 * Not Found, Invalid Object Type and Usage Limit Exceeded.
 */
import { ItemType, ttlv } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { ObjectType, Operation } from '../spec/generated/enums';
import { child } from '../kmip/tree';
import { isAllowed, stateName, type StateValue } from '../lifecycle/state-machine';
import { KmipError, Reason } from '../kmip/errors';
import type { OperationHandler } from '../objects/context';
import type { ManagedObjectRecord } from '../store/object-store';
import { getAttribute, isDestroyed, loadObject, nowSeconds, requestedUid, requireOnline, setAttribute, touchLastChange } from '../objects/managed-object';

/** Object types that apply cryptographic protection (encrypt, sign, MAC, wrap). */
const PROTECTING_TYPES: readonly number[] = [ObjectType.SymmetricKey, ObjectType.PrivateKey, ObjectType.PublicKey];

function longValue(item: ReturnType<typeof child>, what: string): bigint | undefined {
  if (item === undefined) return undefined;
  if (item.type === ItemType.LongInteger) return item.value;
  if (item.type === ItemType.Integer) return BigInt(item.value);
  throw new KmipError(Reason.InvalidField, `${what} must be a Long Integer`);
}

function checkProtectPeriod(rec: ManagedObjectRecord, now: bigint): void {
  if (!isAllowed(rec.state as StateValue, 'protect')) {
    throw new KmipError(Reason.PermissionDenied, `object ${rec.uid} is in state ${stateName(rec.state)}: protection is not enabled`);
  }
  const stop = getAttribute(rec.attributes, 'Protect Stop Date');
  if (stop?.type === ItemType.DateTime && stop.value <= now) {
    throw new KmipError(Reason.PermissionDenied, `object ${rec.uid} is past its Protect Stop Date`);
  }
}

export const getUsageAllocationHandler: OperationHandler = {
  operation: Operation.GetUsageAllocation,
  async handle(payload, ctx) {
    const requested = longValue(child(payload, Tag.UsageLimitsCount), 'Usage Limits Count');
    if (requested === undefined) throw new KmipError(Reason.InvalidMessage, 'Get Usage Allocation needs the Usage Limits Count to allocate');
    if (requested <= 0n) throw new KmipError(Reason.InvalidField, 'the Usage Limits Count to allocate must be positive');
    const uid = requestedUid(payload, ctx);
    const rec = await loadObject(ctx, uid);
    if (isDestroyed(rec.state)) throw new KmipError(Reason.ObjectDestroyed, `object ${uid} is destroyed`);
    requireOnline(rec);
    if (!PROTECTING_TYPES.includes(rec.objectType)) {
      throw new KmipError(Reason.InvalidObjectType, 'only objects that apply cryptographic protection have usage to allocate', undefined, Reason.IllegalOperation);
    }
    // Re-read right before the write (no other await in between), so concurrent allocations see
    // each other; one that commits in between moves the revision on and this write is refused (CONFLICT).
    const current = (await ctx.store.get(uid)) ?? rec;
    const limits = getAttribute(current.attributes, 'Usage Limits');
    if (limits?.type !== ItemType.Structure) {
      throw new KmipError(Reason.AttributeNotFound, `object ${uid} has no Usage Limits`, undefined, Reason.IllegalOperation);
    }
    checkProtectPeriod(current, nowSeconds(ctx));
    const total = longValue(child(limits, Tag.UsageLimitsTotal), 'Usage Limits Total');
    const count = longValue(child(limits, Tag.UsageLimitsCount), 'Usage Limits Count') ?? total;
    if (count === undefined || requested > count) {
      throw new KmipError(Reason.UsageLimitExceeded, 'unable to allocate the requested amount: not that much usage is left');
    }
    // Fields in the spec's order: Total, Count, Unit.
    const updated = ttlv.structure(Tag.UsageLimits, [
      ...limits.value.filter((c) => c.tag === Tag.UsageLimitsTotal),
      ttlv.longInteger(Tag.UsageLimitsCount, count - requested),
      ...limits.value.filter((c) => c.tag !== Tag.UsageLimitsTotal && c.tag !== Tag.UsageLimitsCount),
    ]);
    await ctx.store.update(uid, {
      attributes: touchLastChange(ctx, setAttribute(current.attributes, 'Usage Limits', updated)),
      expectedRevision: current.revision,
    });
    return [ttlv.textString(Tag.UniqueIdentifier, uid)];
  },
};
