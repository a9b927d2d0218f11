/**
 * Usage Limits Count is the server's (1.0 3.16, 1.2 3.21): "When the attribute is initially set
 * ... the Usage Limits Count is set to the Usage Limits Total", the server "SHALL ignore the Usage
 * Limits Count value if the attribute is specified in an operation that creates a new object", and
 * the client may not set or modify the Count by Add or Modify Attribute. Uses count it down
 * (crypto-key.ts consumeUsage, Get Usage Allocation).
 */
import { ItemType, ttlv, type TtlvItem } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { child } from '../kmip/tree';
import type { StoredAttribute } from '../store/object-store';

function withCount(value: TtlvItem, count: TtlvItem | undefined): TtlvItem {
  if (value.type !== ItemType.Structure) return value;
  const rest = value.value.filter((c) => c.tag !== Tag.UsageLimitsCount);
  if (count === undefined) return ttlv.structure(value.tag, rest);
  // Total, Count, Unit: the order of the attribute's structure table.
  const at = rest.findIndex((c) => c.tag === Tag.UsageLimitsTotal) + 1;
  return ttlv.structure(value.tag, [...rest.slice(0, at), count, ...rest.slice(at)]);
}

/** A Total or Count as a number; clients may send an Integer where the spec says Long Integer. */
function amount(item: TtlvItem | undefined): bigint | undefined {
  if (item?.type === ItemType.LongInteger) return item.value;
  if (item?.type === ItemType.Integer) return BigInt(item.value);
  return undefined;
}

function countFrom(total: TtlvItem | undefined): TtlvItem | undefined {
  const n = amount(total);
  return n === undefined ? undefined : ttlv.longInteger(Tag.UsageLimitsCount, n);
}

/** Usage Limits as first set: the Count is the Total, whatever the client sent. */
export function initialUsageLimits(value: TtlvItem): TtlvItem {
  if (value.type !== ItemType.Structure) return value;
  return withCount(value, countFrom(child(value, Tag.UsageLimitsTotal)));
}

/**
 * Usage Limits changed by the client (Modify Attribute, 2.x Set Attribute): a correction of the
 * Total. Before any use the Count follows the new Total; after, it stays the server's count.
 */
export function correctedUsageLimits(next: TtlvItem, current: TtlvItem | undefined): TtlvItem {
  if (current?.type !== ItemType.Structure) return initialUsageLimits(next);
  const count = child(current, Tag.UsageLimitsCount);
  const unused = count === undefined || amount(count) === amount(child(current, Tag.UsageLimitsTotal));
  return unused ? initialUsageLimits(next) : withCount(next, count);
}

/** The stored attributes of a new object with its Usage Limits Count set from the Total. */
export function initialUsageLimitsIn(attrs: StoredAttribute[]): StoredAttribute[] {
  return attrs.map((a) => (a.name === 'Usage Limits' ? { ...a, value: initialUsageLimits(a.value) } : a));
}
