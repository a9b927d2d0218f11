/**
 * Adjust Attribute (2.x): increments, decrements or negates a numeric attribute in place, so a
 * client can keep a counter without a read-modify-write race.
 */
import { ItemType, ttlv, type TtlvItem } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { AdjustmentType, Operation } from '../spec/generated/enums';
import { child, req } from '../kmip/tree';
import type { OperationHandler } from '../objects/context';
import { KmipError, Reason } from '../kmip/errors';
import type { StoredAttribute } from '../store/object-store';
import { checkClientChange } from '../objects/attribute-policy';
import { attributeNotFound, commitAttributes, instancesOf, loadForChange, readReference, without } from '../objects/attribute-edit';
import { nowSeconds } from '../objects/managed-object';

const INT32 = { min: -(2n ** 31n), max: 2n ** 31n - 1n };
const UINT32 = { min: 0n, max: 2n ** 32n - 1n };
const INT64 = { min: -(2n ** 63n), max: 2n ** 63n - 1n };

function numeric(item: TtlvItem): bigint | undefined {
  switch (item.type) {
    case ItemType.Integer:
    case ItemType.Interval:
      return BigInt(item.value);
    case ItemType.LongInteger:
    case ItemType.BigInteger:
    case ItemType.DateTime:
    case ItemType.DateTimeExtended:
      return item.value;
    default:
      return undefined;
  }
}

function inRange(n: bigint, r: { min: bigint; max: bigint }): bigint {
  if (n < r.min || n > r.max) throw new KmipError(Reason.NumericRange, 'the adjusted value is out of range for its type');
  return n;
}

/** The same item type and tag holding `n`. */
function withNumber(item: TtlvItem, n: bigint): TtlvItem {
  switch (item.type) {
    case ItemType.Integer:
      return ttlv.integer(item.tag, Number(inRange(n, INT32)));
    case ItemType.Interval:
      return ttlv.interval(item.tag, Number(inRange(n, UINT32)));
    case ItemType.LongInteger:
      return ttlv.longInteger(item.tag, inRange(n, INT64));
    case ItemType.DateTime:
      return ttlv.dateTime(item.tag, inRange(n, INT64));
    case ItemType.DateTimeExtended:
      return ttlv.dateTimeExtended(item.tag, inRange(n, INT64));
    default:
      return ttlv.bigInteger(item.tag, n);
  }
}

export const adjustAttributeHandler: OperationHandler = {
  operation: Operation.AdjustAttribute,
  async handle(payload, ctx) {
    const rec = await loadForChange(payload, ctx);
    const name = readReference(payload);
    if (name === undefined) throw new KmipError(Reason.MissingData, 'Attribute Reference is required');
    const type = req.enumeration(payload, Tag.AdjustmentType);
    const all = instancesOf(rec, name);
    if (all.length === 0) throw attributeNotFound(name);
    if (all.length > 1) throw new KmipError(Reason.MultiValuedAttribute, `${name} has several instances`);
    const target = all[0] as StoredAttribute;
    const current = numeric(target.value);
    if (current === undefined) throw new KmipError(Reason.InvalidDataType, `${name} is not numeric`);
    checkClientChange('modify', name, rec, undefined, nowSeconds(ctx));
    const byItem = child(payload, Tag.AdjustmentValue);
    const by = byItem === undefined ? 1n : numeric(byItem);
    if (by === undefined) throw new KmipError(Reason.InvalidDataType, 'Adjustment Value must be numeric');
    let next: bigint;
    if (type === AdjustmentType.Increment) next = current + by;
    else if (type === AdjustmentType.Decrement) next = current - by;
    else if (type === AdjustmentType.Negate) next = -current;
    else throw new KmipError(Reason.InvalidField, 'unknown Adjustment Type');
    const changed: StoredAttribute = { ...target, value: withNumber(target.value, next) };
    await commitAttributes(ctx, rec, [...without(rec.attributes, target), changed]);
    return [ttlv.textString(Tag.UniqueIdentifier, rec.uid)];
  },
};
