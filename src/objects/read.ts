/** Typed readers for the item types src/kmip/tree.ts has no reader for (Long Integer, Interval). */
import { ItemType, type TtlvStructure } from '../../ttlv/types';
import { child, tagLabel } from '../kmip/tree';
import { KmipError, Reason } from '../kmip/errors';

export function optLongInteger(s: TtlvStructure, tag: number): bigint | undefined {
  const item = child(s, tag);
  if (item === undefined) return undefined;
  if (item.type !== ItemType.LongInteger) throw new KmipError(Reason.InvalidField, `${tagLabel(tag)} must be a Long Integer`);
  return item.value;
}

export function optInterval(s: TtlvStructure, tag: number): number | undefined {
  const item = child(s, tag);
  if (item === undefined) return undefined;
  if (item.type !== ItemType.Interval) throw new KmipError(Reason.InvalidField, `${tagLabel(tag)} must be an Interval`);
  return item.value;
}
