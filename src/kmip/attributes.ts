/**
 * The version adapters for attributes: KMIP 1.x (Attribute = Name/Index/Value, Template-Attribute)
 * and 2.x (typed items under Attributes, Attribute Reference, Vendor Attribute) map onto one
 * canonical form that handlers use: { name, value } where `value.tag` is the attribute's own tag.
 *
 * Custom attributes: 1.x "x-Foo"/"y-Foo" are 2.x Vendor Attributes with Vendor Identification
 * "x"/"y" and Attribute Name "Foo"; the canonical name is the 1.x form. Their values keep the
 * Attribute Value tag.
 */
import { ItemType, ttlv, type TtlvItem, type TtlvStructure } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { attributeByName, attributeByTag, attributeInVersion } from '../spec/registry';
import type { AttributeRule } from '../spec/generated/attributes';
import type { ProtocolVersion } from '../spec/versions';
import { KmipError, Reason } from '../server/errors';
import { asEnumeration, asInteger, asStructure, asText, child, children, opt, req, tagLabel, withTag } from './tree';

export interface KmipAttribute {
  readonly name: string;
  readonly value: TtlvItem;
}

/** A request's attribute with the 1.x instance index where one was given. */
export interface IndexedAttribute extends KmipAttribute {
  readonly index?: number;
}

const ITEM_TYPE_BY_NAME = ItemType as Readonly<Record<string, number>>;

export function isCustomName(name: string): boolean {
  return /^[a-z]+-/.test(name) && attributeByName(name) === undefined;
}

function checkValueType(rule: AttributeRule, value: TtlvItem): void {
  if (rule.itemTypes.length === 0) return;
  if (!rule.itemTypes.some((t) => ITEM_TYPE_BY_NAME[t] === value.type)) {
    throw new KmipError(Reason.InvalidAttributeValue, `${rule.name} must be ${rule.itemTypes.join(' or ')}`);
  }
}

/** 1.x Attribute structure to canonical. */
export function attributeFromV1(item: TtlvItem): IndexedAttribute {
  const s = asStructure(item);
  const name = req.text(s, Tag.AttributeName).replace(/\s+/g, ' ').trim();
  const index = opt.integer(s, Tag.AttributeIndex);
  const raw = child(s, Tag.AttributeValue);
  const rule = attributeByName(name);
  if (rule === undefined || rule.tag === null) {
    if (!isCustomName(name)) throw new KmipError(Reason.InvalidField, `unknown attribute "${name}"`);
    if (raw === undefined) return { name, index, value: ttlv.textString(Tag.AttributeValue, '') };
    return { name, index, value: raw };
  }
  if (raw === undefined) {
    // Only requests that name an attribute without a value (1.x Delete Attribute) get here.
    return { name, index, value: ttlv.structure(rule.tag, []) };
  }
  const value = withTag(raw, rule.tag);
  checkValueType(rule, value);
  return index === undefined ? { name, value } : { name, index, value };
}

export function attributeToV1(a: KmipAttribute, index?: number): TtlvStructure {
  const out: TtlvItem[] = [ttlv.textString(Tag.AttributeName, a.name)];
  if (index !== undefined && index > 0) out.push(ttlv.integer(Tag.AttributeIndex, index));
  out.push(withTag(a.value, Tag.AttributeValue));
  return ttlv.structure(Tag.Attribute, out);
}

function vendorName(vendor: string, name: string): string {
  return `${vendor}-${name}`;
}

function splitVendorName(name: string): [string, string] {
  const dash = name.indexOf('-');
  return [name.slice(0, dash), name.slice(dash + 1)];
}

/** 2.x attribute item (typed, or a Vendor Attribute structure) to canonical. */
export function attributeFromV2(item: TtlvItem): KmipAttribute {
  if (item.tag === Tag.Attribute) {
    const s = asStructure(item);
    const vendor = req.text(s, Tag.VendorIdentification);
    const name = req.text(s, Tag.AttributeName);
    const value = child(s, Tag.AttributeValue) ?? ttlv.textString(Tag.AttributeValue, '');
    return { name: vendorName(vendor, name), value };
  }
  const rule = attributeByTag(item.tag);
  if (rule === undefined) {
    throw new KmipError(Reason.InvalidAttribute, `${tagLabel(item.tag)} is not an attribute`);
  }
  checkValueType(rule, item);
  return { name: rule.name, value: item };
}

export function attributeToV2(a: KmipAttribute): TtlvItem {
  if (a.value.tag === Tag.AttributeValue || isCustomName(a.name)) {
    const [vendor, name] = splitVendorName(a.name);
    return ttlv.structure(Tag.Attribute, [
      ttlv.textString(Tag.VendorIdentification, vendor),
      ttlv.textString(Tag.AttributeName, name),
      withTag(a.value, Tag.AttributeValue),
    ]);
  }
  return a.value;
}

/**
 * The attributes a request carries for a new object: 1.x Template-Attribute (or the Common/
 * Private/Public variants, by `tag`), 2.x Attributes. Name-referenced Templates are not
 * supported (removed in 2.0; deprecated in 1.3).
 */
export function readRequestAttributes(
  payload: TtlvStructure,
  v: ProtocolVersion,
  which: { v1: number; v2: number } = { v1: Tag.TemplateAttribute, v2: Tag.Attributes },
): IndexedAttribute[] {
  if (v.major >= 2) {
    const attrs = opt.structure(payload, which.v2);
    return attrs ? attrs.value.map(attributeFromV2) : [];
  }
  const ta = opt.structure(payload, which.v1);
  if (!ta) return [];
  if (child(ta, Tag.Name)) {
    throw new KmipError(Reason.FeatureNotSupported, 'templates referenced by name are not supported');
  }
  return children(ta, Tag.Attribute).map(attributeFromV1);
}

/** Attributes as a response carries them: 1.x a list of Attribute, 2.x one Attributes structure. */
export function encodeAttributeList(attrs: readonly KmipAttribute[], v: ProtocolVersion): TtlvItem[] {
  const visible = attrs.filter((a) => visibleInVersion(a, v));
  if (v.major >= 2) return [ttlv.structure(Tag.Attributes, visible.map(attributeToV2))];
  const counts = new Map<string, number>();
  return visible.map((a) => {
    const i = counts.get(a.name) ?? 0;
    counts.set(a.name, i + 1);
    return attributeToV1(a, i);
  });
}

/** 1.x Template-Attribute for responses that return attributes the server set (Create, Register). */
export function encodeTemplateAttribute(attrs: readonly KmipAttribute[], v: ProtocolVersion): TtlvStructure {
  return ttlv.structure(Tag.TemplateAttribute, encodeAttributeList(attrs, v));
}

export function visibleInVersion(a: KmipAttribute, v: ProtocolVersion): boolean {
  const rule = attributeByName(a.name);
  if (rule === undefined) return true; // custom attributes exist in every version
  return attributeInVersion(rule, v);
}

/**
 * An attribute named in a request: 1.x Attribute Name text, 2.x Attribute Reference (an
 * Enumeration holding the tag, or a Vendor Identification + Attribute Name structure).
 */
export function readAttributeReference(item: TtlvItem): string {
  if (item.tag === Tag.AttributeName) return asText(item).replace(/\s+/g, ' ').trim();
  if (item.tag === Tag.AttributeReference) {
    if (item.type === ItemType.Structure) {
      return vendorName(req.text(item, Tag.VendorIdentification), req.text(item, Tag.AttributeName));
    }
    const tag = item.type === ItemType.Enumeration ? asEnumeration(item) : asInteger(item);
    const rule = attributeByTag(tag);
    if (!rule) throw new KmipError(Reason.InvalidAttribute, `0x${tag.toString(16)} is not an attribute`);
    return rule.name;
  }
  throw new KmipError(Reason.InvalidField, `${tagLabel(item.tag)} does not name an attribute`);
}

export function encodeAttributeReference(name: string, v: ProtocolVersion): TtlvItem {
  if (v.major < 2) return ttlv.textString(Tag.AttributeName, name);
  const rule = attributeByName(name);
  if (rule && rule.tag !== null) return ttlv.enumeration(Tag.AttributeReference, rule.tag);
  const [vendor, n] = splitVendorName(name);
  return ttlv.structure(Tag.AttributeReference, [
    ttlv.textString(Tag.VendorIdentification, vendor),
    ttlv.textString(Tag.AttributeName, n),
  ]);
}
