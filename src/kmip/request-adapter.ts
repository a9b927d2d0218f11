/**
 * The request half of the version adapters: a client's Request Payload, in its version's form,
 * becomes the canonical form handlers read (2.x vocabulary), from a table of the fields whose form
 * or presence varies by version. Reading stays lazy: the adapter moves and renames items and
 * never parses an attribute, so a handler meets a malformed one where it always did (its errors
 * keep their order).
 */
import { ItemType, ttlv, type TtlvItem, type TtlvStructure } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { Operation } from '../spec/generated/enums';
import { enumValueInfo, enumValueInVersion } from '../spec/registry';
import { isInVersion, type ProtocolVersion } from '../spec/versions';
import type { EnumName } from '../spec/generated/enums';

/** What becomes of one field of a request payload in one major version's form. */
type FieldAction =
  /** Not a field of this version's form: ignored, as the handler always ignored it. */
  | { readonly kind: 'drop' }
  /** An enumeration value the version lacks was not asked for (Query Functions). */
  | { readonly kind: 'enumInVersion' }
  /** A mask: the bits whose enumeration values the version lacks were not asked for. */
  | { readonly kind: 'maskInVersion'; readonly mask: EnumName }
  /** Every such item, in order, becomes a member of one `into` structure (1.x Locate's Attributes). */
  | { readonly kind: 'gather'; readonly into: number };

interface FieldRule {
  readonly v1?: FieldAction;
  readonly v2?: FieldAction;
}

const DROP: FieldAction = { kind: 'drop' };

const REQUEST_FIELDS: ReadonlyMap<number, ReadonlyMap<number, FieldRule>> = new Map<number, ReadonlyMap<number, FieldRule>>([
  [Operation.Query, new Map([[Tag.QueryFunction, { v1: { kind: 'enumInVersion' }, v2: { kind: 'enumInVersion' } }]])],
  [
    Operation.Locate,
    new Map<number, FieldRule>([
      // 1.x lists the filter's attributes (each an Attribute, 1.x form) in the payload; 2.x holds them in Attributes.
      [Tag.Attribute, { v1: { kind: 'gather', into: Tag.Attributes }, v2: DROP }],
      [Tag.Attributes, { v1: DROP }],
      // Destroyed Storage arrives in 2.0.
      [Tag.StorageStatusMask, { v1: { kind: 'maskInVersion', mask: 'StorageStatusMask' } }],
    ]),
  ],
]);

/** The payload in the canonical form (the same object when nothing in it varies by version). */
export function requestForVersion(operation: number, payload: TtlvStructure, v: ProtocolVersion): TtlvStructure {
  const fields = REQUEST_FIELDS.get(operation);
  if (fields === undefined) return payload;
  const out: TtlvItem[] = [];
  const gathered = new Map<number, TtlvItem[]>();
  let changed = false;
  for (const item of payload.value) {
    const rule = fields.get(item.tag);
    const action = rule === undefined ? undefined : v.major >= 2 ? rule.v2 : rule.v1;
    const adapted = action === undefined ? item : adaptField(action, item, v, gathered, out);
    if (adapted !== item) changed = true;
    if (adapted !== undefined) out.push(adapted);
  }
  return changed ? { ...payload, value: out } : payload;
}

function adaptField(action: FieldAction, item: TtlvItem, v: ProtocolVersion, gathered: Map<number, TtlvItem[]>, out: TtlvItem[]): TtlvItem | undefined {
  switch (action.kind) {
    case 'drop':
      return undefined;
    case 'enumInVersion':
      return item.type !== ItemType.Enumeration || enumValueInVersion(item.tag, item.value, v) ? item : undefined;
    case 'maskInVersion': {
      if (item.type !== ItemType.Integer) return item;
      let bits = item.value;
      for (let bit = 1; bit > 0 && bit <= item.value; bit <<= 1) {
        const info = (bits & bit) !== 0 ? enumValueInfo(action.mask, bit) : undefined;
        if (info !== undefined && !isInVersion(info.firstVersion, info.lastVersion, v)) bits &= ~bit;
      }
      return bits === item.value ? item : { ...item, value: bits };
    }
    case 'gather': {
      let members = gathered.get(action.into);
      if (members === undefined) {
        members = [];
        gathered.set(action.into, members);
        out.push(ttlv.structure(action.into, members));
      }
      members.push(item);
      return undefined;
    }
  }
}
