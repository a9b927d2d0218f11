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
import { TAG_INFO, Tag } from '../spec/generated/tags';
import { attributeByName, attributeByTag, attributeInVersion } from '../spec/registry';
import type { AttributeRule } from '../spec/generated/attributes';
import type { ProtocolVersion } from '../spec/versions';
import { KmipError, Reason } from './errors';
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

/**
 * KMIP 2.x "Certificate Attributes" has no tag of its own: each of its members (Certificate
 * Subject CN ... Certificate Issuer DN Qualifier, tags 0x420108-0x42011F) is an attribute of its
 * own, named like its tag, under the one rule of Certificate Attributes.
 */
const CERTIFICATE_ATTRIBUTE_TAGS = { first: 0x420108, last: 0x42011f } as const;
const CERTIFICATE_ATTRIBUTES = attributeByName('Certificate Attributes');

function certificateMemberName(tag: number): string | undefined {
  if (tag < CERTIFICATE_ATTRIBUTE_TAGS.first || tag > CERTIFICATE_ATTRIBUTE_TAGS.last) return undefined;
  return TAG_INFO.get(tag)?.name;
}

const CERTIFICATE_MEMBER_TAG = new Map<string, number>();
for (let t: number = CERTIFICATE_ATTRIBUTE_TAGS.first; t <= CERTIFICATE_ATTRIBUTE_TAGS.last; t++) {
  const name = certificateMemberName(t);
  if (name !== undefined) CERTIFICATE_MEMBER_TAG.set(name, t);
}

/** The rule for an attribute name, a Certificate Attributes member included. */
export function attributeRule(name: string): AttributeRule | undefined {
  return attributeByName(name) ?? (CERTIFICATE_MEMBER_TAG.has(name) ? CERTIFICATE_ATTRIBUTES : undefined);
}

/** The attribute's own tag (Certificate Attributes members included); undefined for custom ones. */
export function attributeTag(name: string): number | undefined {
  return attributeByName(name)?.tag ?? CERTIFICATE_MEMBER_TAG.get(name);
}

function ruleByTag(tag: number): { rule: AttributeRule; name: string } | undefined {
  const rule = attributeByTag(tag);
  if (rule) return { rule, name: rule.name };
  const member = certificateMemberName(tag);
  return member !== undefined && CERTIFICATE_ATTRIBUTES ? { rule: CERTIFICATE_ATTRIBUTES, name: member } : undefined;
}

export function isCustomName(name: string): boolean {
  return /^[a-z]+-/.test(name) && attributeRule(name) === undefined;
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

/**
 * `zeroIndex`: write Attribute Index 0 too. The spec lets it be left out ("MAY be omitted if the
 * index ... is 0"), but the Add/Modify/Delete Attribute responses carry it, since clients (PyKMIP)
 * read the index of the instance they changed without checking it is there.
 */
export function attributeToV1(a: KmipAttribute, index?: number, zeroIndex = false): TtlvStructure {
  const out: TtlvItem[] = [ttlv.textString(Tag.AttributeName, a.name)];
  if (index !== undefined && (index > 0 || zeroIndex)) out.push(ttlv.integer(Tag.AttributeIndex, index));
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

/**
 * An attribute in a canonical request: a 2.x item, or a 1.x Attribute (Name, Index, Value) that
 * the request adapter moved into a 2.x structure as it was (the only form that names an instance
 * index; it has no Vendor Identification, which a 2.x Vendor Attribute requires).
 */
export function readRequestAttribute(item: TtlvItem): IndexedAttribute {
  if (item.tag === Tag.Attribute && item.type === ItemType.Structure && child(item, Tag.VendorIdentification) === undefined) return attributeFromV1(item);
  return attributeFromV2(item);
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
  const found = ruleByTag(item.tag);
  if (found === undefined) {
    throw new KmipError(Reason.InvalidAttribute, `${tagLabel(item.tag)} is not an attribute`);
  }
  if (found.rule.tag !== null) checkValueType(found.rule, item);
  return { name: found.name, value: item };
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
 * The attributes a canonical request gives a new object: its Attributes structure (or the variant
 * `tag`: Common, Private Key, Public Key Attributes). The request adapter moved a 1.x
 * Template-Attribute's attributes there; templates it names are read by `readTemplateNames`, and
 * merging their attributes needs the store (src/objects/templates.ts).
 */
export function readRequestAttributes(payload: TtlvStructure, tag: number = Tag.Attributes): IndexedAttribute[] {
  const attrs = opt.structure(payload, tag);
  return attrs ? attrs.value.map(readRequestAttribute) : [];
}

/**
 * 1.x: the Names of the Templates a request refers to (removed in 2.0), which the request adapter
 * leaves in the Template-Attribute (or the variant `tag`).
 */
export function readTemplateNames(payload: TtlvStructure, tag: number = Tag.TemplateAttribute): TtlvStructure[] {
  const ta = opt.structure(payload, tag);
  return ta ? children(ta, Tag.Name).map(asStructure) : [];
}

/**
 * The name of the attribute a request item gives or names (an attribute in either form, an
 * Attribute Name, an Attribute Reference), without reading its value; undefined where the item
 * is malformed (its reader refuses it later) or names a vendor's attribute.
 */
export function requestAttributeName(item: TtlvItem): string | undefined {
  if (item.tag === Tag.Attribute) {
    if (item.type !== ItemType.Structure || child(item, Tag.VendorIdentification) !== undefined) return undefined;
    const name = child(item, Tag.AttributeName);
    return name?.type === ItemType.TextString ? name.value.replace(/\s+/g, ' ').trim() : undefined;
  }
  if (item.tag === Tag.AttributeName || item.tag === Tag.AttributeReference) {
    try {
      return readAttributeReference(item);
    } catch {
      return undefined;
    }
  }
  return ruleByTag(item.tag)?.name;
}

/** The spec's tables allow several instances of it (custom attributes always may). */
function mayHaveInstances(name: string): boolean {
  const rule = attributeRule(name);
  return rule === undefined || !rule.hasRules || rule.multipleInstances !== 'no';
}

/**
 * Attributes as a response carries them: 1.x a list of Attribute, 2.x one Attributes structure.
 * A 1.x instance keeps its stored index where it has one (indexes do not move when a sibling
 * instance is deleted); otherwise instances are numbered in order. An attribute that may have
 * several instances carries its index, 0 too (as pykmip-server answers, and PyKMIP's client reads
 * it for a Name); a single-instance one carries none (its index is always 0).
 */
export function encodeAttributeList(attrs: readonly IndexedAttribute[], v: ProtocolVersion, shape: ShapeOptions = {}): TtlvItem[] {
  const visible = attrs.filter((a) => visibleInVersion(a, v)).map((a) => shapeForVersion(a, v, shape));
  if (v.major >= 2) return [ttlv.structure(Tag.Attributes, visible.map(attributeToV2))];
  const counts = new Map<string, number>();
  return visible.map((a) => {
    const i = a.index ?? counts.get(a.name) ?? 0;
    counts.set(a.name, i + 1);
    return attributeToV1(a, i, mayHaveInstances(a.name));
  });
}

/** Deviations a compatibility profile asks of the version shapes (src/compat/profiles.ts). */
export interface ShapeOptions {
  readonly digestKeyFormatTypeIn10?: boolean;
}

/**
 * Attribute values whose structure changed within a major version: KMIP 1.0's Digest has no Key
 * Format Type (added in 1.1), and that tag exists in 1.0, so the tag filter cannot drop it.
 */
export function shapeForVersion<T extends KmipAttribute>(a: T, v: ProtocolVersion, opts: ShapeOptions = {}): T {
  if (a.name === 'Digest' && v.major === 1 && v.minor === 0 && a.value.type === ItemType.Structure && !opts.digestKeyFormatTypeIn10) {
    return { ...a, value: ttlv.structure(a.value.tag, a.value.value.filter((c) => c.tag !== Tag.KeyFormatType)) };
  }
  return a;
}

export function visibleInVersion(a: KmipAttribute, v: ProtocolVersion): boolean {
  const rule = attributeRule(a.name);
  if (rule === undefined) return true; // custom attributes exist in every version
  return attributeInVersion(rule, v);
}

/**
 * An attribute named in a request: 1.x Attribute Name text, 2.x Attribute Reference (an
 * Enumeration holding the tag, or a Vendor Identification + Attribute Name structure; also, from
 * clients that send them, a structure holding the enumeration or an Attribute Name alone).
 */
export function readAttributeReference(item: TtlvItem): string {
  if (item.tag === Tag.AttributeName) return asText(item).replace(/\s+/g, ' ').trim();
  if (item.tag === Tag.AttributeReference) {
    if (item.type === ItemType.Structure) {
      if (child(item, Tag.VendorIdentification) === undefined) {
        // Lenient in, for Percona's libkmip in 2.0 mode: it wraps the Attribute Reference
        // enumeration in an Attribute Reference structure, and names other attributes by an
        // Attribute Name alone, the 1.x way. Both are unambiguous.
        const inner = child(item, Tag.AttributeReference);
        if (inner !== undefined && inner.type !== ItemType.Structure) return attributeNameOfTag(inner);
        const bare = child(item, Tag.AttributeName);
        if (bare !== undefined) return asText(bare).replace(/\s+/g, ' ').trim();
      }
      const vendor = req.text(item, Tag.VendorIdentification);
      const name = req.text(item, Tag.AttributeName);
      // No vendor: a KMIP attribute named in the structure form (PyKMIP's 2.0 client sends it so).
      if (vendor === '' && attributeRule(name) !== undefined) return name;
      return vendorName(vendor, name);
    }
    return attributeNameOfTag(item);
  }
  throw new KmipError(Reason.InvalidField, `${tagLabel(item.tag)} does not name an attribute`);
}

/** The attribute an Attribute Reference enumeration (its value: the attribute's tag) names. */
function attributeNameOfTag(item: TtlvItem): string {
  const tag = item.type === ItemType.Enumeration ? asEnumeration(item) : asInteger(item);
  const found = ruleByTag(tag);
  if (!found) throw new KmipError(Reason.InvalidAttribute, `0x${tag.toString(16)} is not an attribute`);
  return found.name;
}

export function encodeAttributeReference(name: string, v: ProtocolVersion): TtlvItem {
  if (v.major < 2) return ttlv.textString(Tag.AttributeName, name);
  const tag = attributeTag(name);
  if (tag !== undefined && tag !== null) return ttlv.enumeration(Tag.AttributeReference, tag);
  const [vendor, n] = splitVendorName(name);
  return ttlv.structure(Tag.AttributeReference, [
    ttlv.textString(Tag.VendorIdentification, vendor),
    ttlv.textString(Tag.AttributeName, n),
  ]);
}

/**
 * An attribute instance as handlers return it (the response adapter writes each version's form):
 * its name, its instance index where known, and its value under the value's own tag. Only the
 * 1.x forms show the index, but the handler cannot know whether the client reads one.
 */
export function canonicalAttribute(a: IndexedAttribute): TtlvStructure {
  const out: TtlvItem[] = [ttlv.textString(Tag.AttributeName, a.name)];
  if (a.index !== undefined) out.push(ttlv.integer(Tag.AttributeIndex, a.index));
  out.push(a.value);
  return ttlv.structure(Tag.Attribute, out);
}

/** A list of instances as handlers return it: an Attributes structure of `canonicalAttribute`s. */
export function canonicalAttributeList(attrs: readonly IndexedAttribute[]): TtlvStructure {
  return ttlv.structure(Tag.Attributes, attrs.map(canonicalAttribute));
}

export function readCanonicalAttribute(item: TtlvItem): IndexedAttribute {
  const s = asStructure(item);
  const name = req.text(s, Tag.AttributeName);
  const index = opt.integer(s, Tag.AttributeIndex);
  const value = s.value.find((c) => c.tag !== Tag.AttributeName && c.tag !== Tag.AttributeIndex) ?? ttlv.textString(Tag.AttributeValue, '');
  return index === undefined ? { name, value } : { name, index, value };
}

/** One attribute's Integer or Enumeration value, by name (the first instance). */
export function integerAttribute(attrs: readonly KmipAttribute[], name: string): number | undefined {
  const v = attrs.find((a) => a.name === name)?.value;
  return v && (v.type === ItemType.Integer || v.type === ItemType.Enumeration) ? v.value : undefined;
}

/** One attribute's Date-Time value, by name (the first instance). */
export function dateAttribute(attrs: readonly KmipAttribute[], name: string): bigint | undefined {
  const v = attrs.find((a) => a.name === name)?.value;
  return v?.type === ItemType.DateTime ? v.value : undefined;
}

/** A Link value: its type and the object it names. */
export function linkStructure(type: number, uid: string): TtlvStructure {
  return ttlv.structure(Tag.Link, [ttlv.enumeration(Tag.LinkType, type), ttlv.textString(Tag.LinkedObjectIdentifier, uid)]);
}

/** A Link attribute: its type and the object it names. */
export function linkAttribute(type: number, uid: string): KmipAttribute {
  return { name: 'Link', value: linkStructure(type, uid) };
}
