/**
 * Obtain Lease: how long a client may use (and cache) an object before it asks again, and the
 * object's Last Change Date so the client can tell whether its cached attributes are stale.
 *
 * Leases are granted for Active objects only: an object that may not be used for protection now
 * (Pre-Active, Deactivated, Compromised) gets no new lease (Permission Denied, as the spec lists
 * for "a new lease is not permitted"), destroyed objects are not found and archived ones answer
 * Object Archived. The lease is the object's Lease Time attribute (the server's policy, set on
 * every new object; zero means no limit), shortened so it never runs past the object's
 * Deactivation Date or Protect Stop Date. Obtain Lease changes nothing, so Last Change Date stays.
 */
import { ItemType, ttlv } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { Operation, State } from '../spec/generated/enums';
import { stateName } from '../lifecycle/state-machine';
import { KmipError, Reason } from '../kmip/errors';
import type { OperationHandler } from '../objects/context';
import type { ManagedObjectRecord } from '../store/object-store';
import { getAttribute, isDestroyed, loadObject, nowSeconds, requestedUid, requireOnline } from '../objects/managed-object';
import { LEASE_TIME_SECONDS } from '../objects/new-object';
import { dateAttribute } from '../kmip/attributes';

/** Interval values are 32-bit unsigned seconds. */
const MAX_INTERVAL = 0xffffffff;

/** When the object stops being usable for protection: its earliest Deactivation / Protect Stop Date. */
function protectEnd(rec: ManagedObjectRecord): bigint | undefined {
  const ends = ['Deactivation Date', 'Protect Stop Date'].map((n) => dateAttribute(rec.attributes, n)).filter((d): d is bigint => d !== undefined);
  return ends.length === 0 ? undefined : ends.reduce((m, d) => (d < m ? d : m));
}

/**
 * Seconds of lease for `rec` at `now` (before its protect period ends): its Lease Time (0: no
 * limit), capped by the time left in its protect period.
 */
function leaseSeconds(rec: ManagedObjectRecord, now: bigint): number {
  const attr = getAttribute(rec.attributes, 'Lease Time');
  const policy = BigInt(attr?.type === ItemType.Interval ? attr.value : LEASE_TIME_SECONDS);
  const end = protectEnd(rec);
  const left = end === undefined ? undefined : end - now;
  const lease = left === undefined ? policy : policy === 0n || left < policy ? left : policy;
  return Number(lease > BigInt(MAX_INTERVAL) ? BigInt(MAX_INTERVAL) : lease);
}

export const obtainLeaseHandler: OperationHandler = {
  operation: Operation.ObtainLease,
  async handle(payload, ctx) {
    const uid = requestedUid(payload, ctx);
    const rec = await loadObject(ctx, uid);
    if (isDestroyed(rec.state)) throw new KmipError(Reason.ObjectDestroyed, `object ${uid} is destroyed`);
    requireOnline(rec);
    if (rec.state !== State.Active) {
      throw new KmipError(Reason.PermissionDenied, `object ${uid} is in state ${stateName(rec.state)}: no lease is given`);
    }
    const now = nowSeconds(ctx);
    const end = protectEnd(rec);
    // A lease of zero would mean "no limit": an object whose protect period is over gets none.
    if (end !== undefined && end <= now) {
      throw new KmipError(Reason.PermissionDenied, `object ${uid} may no longer be used for protection: no lease is given`);
    }
    const lease = leaseSeconds(rec, now);
    const lastChange = getAttribute(rec.attributes, 'Last Change Date');
    return [
      ttlv.textString(Tag.UniqueIdentifier, uid),
      ttlv.interval(Tag.LeaseTime, lease),
      ttlv.dateTime(Tag.LastChangeDate, lastChange?.type === ItemType.DateTime ? lastChange.value : now),
    ];
  },
};
