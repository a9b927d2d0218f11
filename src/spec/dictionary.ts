/**
 * The TTLV name dictionary (ttlv/types.ts `TtlvDictionary`) built from the generated spec tables.
 * It gives the XML/JSON encodings their tag names and the named values of Enumerations and masks.
 */
import type { TtlvDictionary, TtlvNameContext, ValueDomain } from '../../ttlv/types';
import { collapseWhitespace } from '../../ttlv/text-values';
import { ENUM_INFO, ENUM_NAMES, TAG_ENUM } from './generated/enums';
import type { EnumName } from './generated/enums';
import { TAG_INFO, Tag } from './generated/tags';

/**
 * Tags 0x540000-0x54FFFF are reserved for vendor extensions (KMIP spec, Tag Enumeration
 * "Extensions"). The tables carry no names for them, so they stay unnamed (hex in XML/JSON).
 */
export function isExtensionTag(tag: number): boolean {
  return tag >>> 16 === 0x54;
}

class TableDomain implements ValueDomain {
  constructor(
    readonly kind: 'enumeration' | 'mask',
    private readonly names: ReadonlyMap<number, string>,
    private readonly values: ReadonlyMap<string, number>,
  ) {}

  /** For a mask: the name of one bit (a combined value has none; callers split it into bits). */
  nameOf(value: number): string | undefined {
    return this.names.get(value);
  }

  /** For a mask: the value of one bit name. */
  valueOf(name: string): number | undefined {
    return this.values.get(name);
  }
}

function enumDomain(e: EnumName): TableDomain {
  const info = ENUM_INFO[e];
  const names = new Map<number, string>();
  const values = new Map<string, number>();
  for (const v of info.values) {
    names.set(v.value, v.xmlName);
    values.set(v.xmlName, v.value);
  }
  // Older spellings and the spec's own names are read too, but never shadow a current XML name.
  for (const v of info.values) {
    for (const n of [...(v.aliases ?? []), v.name]) if (!values.has(n)) values.set(n, v.value);
  }
  return new TableDomain(info.kind, names, values);
}

/** Attribute Reference (2.x): an Enumeration whose value is the referenced attribute's tag. */
function attributeReferenceDomain(): TableDomain {
  const names = new Map<number, string>();
  const values = new Map<string, number>();
  for (const [tag, info] of TAG_INFO) {
    names.set(tag, info.xmlName);
    values.set(info.xmlName, tag);
  }
  return new TableDomain('enumeration', names, values);
}

class KmipDictionary implements TtlvDictionary {
  readonly attributeNameTag: number = Tag.AttributeName;

  private readonly tagsByName = new Map<string, number>();
  private readonly enumDomains = new Map<EnumName, TableDomain>();
  private readonly tagDomains = new Map<number, TableDomain>();
  /** 1.x Attribute Name text ("Cryptographic Usage Mask") -> the attribute's tag. */
  private readonly attributeTags = new Map<string, number>();

  constructor() {
    for (const [tag, info] of TAG_INFO) {
      this.tagsByName.set(info.xmlName, tag);
      this.attributeTags.set(info.name, tag);
    }
    for (const e of ENUM_NAMES) this.enumDomains.set(e, enumDomain(e));
    for (const [tag, e] of TAG_ENUM) {
      const d = this.enumDomains.get(e);
      if (d) this.tagDomains.set(tag, d);
    }
    this.tagDomains.set(Tag.AttributeReference, attributeReferenceDomain());
  }

  tagName(tag: number): string | undefined {
    if (isExtensionTag(tag)) return undefined;
    return TAG_INFO.get(tag)?.xmlName;
  }

  tagByName(name: string): number | undefined {
    return this.tagsByName.get(name);
  }

  valueDomain(tag: number, context: TtlvNameContext): ValueDomain | undefined {
    if (tag === Tag.AttributeValue) {
      // 1.x: the sibling Attribute Name says which attribute this value belongs to.
      const attributeTag = this.attributeTag(context.attributeName);
      return attributeTag === undefined ? undefined : this.tagDomains.get(attributeTag);
    }
    return this.tagDomains.get(tag);
  }

  /** The domain of an enumeration or mask by its name, e.g. 'CryptographicUsageMask'. */
  enumDomain(name: EnumName): ValueDomain {
    const d = this.enumDomains.get(name);
    if (!d) throw new Error(`no enumeration ${name}`);
    return d;
  }

  /** Tag of the attribute a 1.x Attribute Name names (whitespace runs collapsed); undefined for custom ones. */
  attributeTag(attributeName: string | undefined): number | undefined {
    if (attributeName === undefined) return undefined;
    const tag = this.attributeTags.get(collapseWhitespace(attributeName));
    // Attribute Value never names itself; guard against a loop through a hostile Attribute Name.
    return tag === Tag.AttributeValue ? undefined : tag;
  }
}

export const kmipDictionary: KmipDictionary = new KmipDictionary();
