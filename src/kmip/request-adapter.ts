/**
 * The request half of the version adapters: a client's Request Payload, in its version's form,
 * becomes the canonical form handlers read (2.x vocabulary), from a table of the fields whose form
 * or presence varies by version. Reading stays lazy: the adapter moves and renames items and
 * never parses an attribute, so a handler meets a malformed one where it always did (its errors
 * keep their order).
 */
import { ItemType, type TtlvItem, type TtlvStructure } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { Operation } from '../spec/generated/enums';
import { enumValueInVersion } from '../spec/registry';
import type { ProtocolVersion } from '../spec/versions';

/** How one field of a request payload reaches the handler. */
type RequestField =
  /** An enumeration value the version lacks was not asked for (Query Functions). */
  { readonly kind: 'enumInVersion' };

const REQUEST_FIELDS: ReadonlyMap<number, ReadonlyMap<number, RequestField>> = new Map([
  [Operation.Query, new Map([[Tag.QueryFunction, { kind: 'enumInVersion' } as const]])],
]);

/** The payload in the canonical form (the same object when nothing in it varies by version). */
export function requestForVersion(operation: number, payload: TtlvStructure, v: ProtocolVersion): TtlvStructure {
  const fields = REQUEST_FIELDS.get(operation);
  if (fields === undefined) return payload;
  const out: TtlvItem[] = [];
  let changed = false;
  for (const item of payload.value) {
    const field = fields.get(item.tag);
    if (field === undefined || fieldFits(field, item, v)) out.push(item);
    else changed = true;
  }
  return changed ? { ...payload, value: out } : payload;
}

function fieldFits(field: RequestField, item: TtlvItem, v: ProtocolVersion): boolean {
  switch (field.kind) {
    case 'enumInVersion':
      return item.type !== ItemType.Enumeration || enumValueInVersion(item.tag, item.value, v);
  }
}
