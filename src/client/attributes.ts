/**
 * Attributes for the client's calls, in the canonical form the server's adapters use (name, and
 * the value under the attribute's own tag; custom "x-" attributes under Attribute Value). The item
 * type of a value comes from the spec's attribute table, so callers pass plain values.
 */
import { ItemType, ttlv, type TtlvItem, type TtlvStructure } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { NameType } from '../spec/generated/enums';
import { attributeRule, attributeTag, type KmipAttribute } from '../kmip/attributes';
import { withTag } from '../kmip/tree';

export type { KmipAttribute };

/** A plain attribute value: numbers for Integer, Enumeration and Interval, bigint for Long Integer, Date or bigint seconds for Date-Time. */
export type AttributeInput = number | bigint | string | boolean | Uint8Array | Date | TtlvItem;

function isItem(v: AttributeInput): v is TtlvItem {
  return typeof v === 'object' && v !== null && !(v instanceof Uint8Array) && !(v instanceof Date) && 'tag' in v && 'type' in v;
}

function seconds(v: AttributeInput): bigint {
  if (v instanceof Date) return BigInt(Math.floor(v.getTime() / 1000));
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') return BigInt(Math.floor(v));
  throw new TypeError('a Date-Time attribute takes a Date or seconds since the epoch');
}

/** The item type a custom attribute's plain value takes. */
function inferredType(v: AttributeInput): keyof typeof ItemType {
  if (typeof v === 'string') return 'TextString';
  if (typeof v === 'boolean') return 'Boolean';
  if (typeof v === 'bigint') return 'LongInteger';
  if (v instanceof Uint8Array) return 'ByteString';
  if (v instanceof Date) return 'DateTime';
  return 'Integer';
}

function encodeValue(tag: number, type: keyof typeof ItemType, v: AttributeInput, name: string): TtlvItem {
  switch (type) {
    case 'Integer':
      return ttlv.integer(tag, Number(v));
    case 'Enumeration':
      return ttlv.enumeration(tag, Number(v));
    case 'Interval':
      return ttlv.interval(tag, Number(v));
    case 'LongInteger':
      return ttlv.longInteger(tag, BigInt(v as number | bigint));
    case 'BigInteger':
      return ttlv.bigInteger(tag, BigInt(v as number | bigint));
    case 'TextString':
      return ttlv.textString(tag, String(v));
    case 'Boolean':
      return ttlv.boolean(tag, Boolean(v));
    case 'ByteString':
      if (!(v instanceof Uint8Array)) throw new TypeError(`${name} takes bytes`);
      return ttlv.byteString(tag, v);
    case 'DateTime':
      return ttlv.dateTime(tag, seconds(v));
    case 'DateTimeExtended':
      return ttlv.dateTimeExtended(tag, seconds(v) * 1_000_000n);
    case 'Structure':
      throw new TypeError(`${name} is a structure: pass a TTLV item (or use nameAttribute, linkAttribute)`);
  }
}

/**
 * An attribute by its spec name ("Cryptographic Algorithm") or a custom name ("x-Owner"). A TTLV
 * item is taken as it is, under the attribute's tag.
 */
export function attribute(name: string, value: AttributeInput): KmipAttribute {
  const tag = attributeTag(name) ?? Tag.AttributeValue;
  if (isItem(value)) return { name, value: withTag(value, tag) };
  const rule = attributeRule(name);
  const type = rule?.itemTypes[0] ?? inferredType(value);
  return { name, value: encodeValue(tag, type, value, name) };
}

/** A Name attribute (Uninterpreted Text String, as most clients send it). */
export function nameAttribute(text: string, type: number = NameType.UninterpretedTextString): KmipAttribute {
  return { name: 'Name', value: ttlv.structure(Tag.Name, [ttlv.textString(Tag.NameValue, text), ttlv.enumeration(Tag.NameType, type)]) };
}

/** A plain reading of an attribute's value: a structure's members become an object keyed by tag name. */
export type AttributeValue = number | bigint | string | boolean | Uint8Array | { readonly [field: string]: AttributeValue | AttributeValue[] };

export function plainValue(item: TtlvItem): AttributeValue {
  if (item.type !== ItemType.Structure) return item.value;
  return structureFields(item);
}

function structureFields(s: TtlvStructure): { [field: string]: AttributeValue | AttributeValue[] } {
  const out: { [field: string]: AttributeValue | AttributeValue[] } = {};
  for (const c of s.value) {
    const key = tagKey(c.tag);
    const v = plainValue(c);
    const prev = out[key];
    if (prev === undefined) out[key] = v;
    else out[key] = Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return out;
}

const TAG_KEYS = new Map<number, string>(Object.entries(Tag).map(([k, v]) => [v, k]));

function tagKey(tag: number): string {
  return TAG_KEYS.get(tag) ?? `0x${tag.toString(16).toUpperCase()}`;
}

/** The values of every instance of `name` in a list, in order. */
export function attributeValues(attrs: readonly KmipAttribute[], name: string): AttributeValue[] {
  return attrs.filter((a) => a.name === name).map((a) => plainValue(a.value));
}
