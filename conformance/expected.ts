/**
 * Test-case messages as the runner sees them.
 *
 * A request stays an XML element until it is sent, because its placeholders ($UNIQUE_IDENTIFIER_0,
 * $NOW-3600, ...) can only be filled in from the responses that came before it. An expected
 * response becomes an `ExpectedNode` tree: the TTLV item the codec reads (placeholders replaced by
 * dummies of the right type) with the placeholder text kept beside each value that had one.
 */
import { kmipItemFromXmlElement, readXml } from '../ttlv/xml';
import type { PlaceholderInfo, XmlElement } from '../ttlv/xml';
import { itemValueText } from '../ttlv/text-values';
import { ItemType, ttlv } from '../ttlv/types';
import type { ItemTypeName, TtlvItem } from '../ttlv/types';
import { kmipDictionary } from '../src/spec/dictionary';

export interface ExpectedNode {
  /** The item as the codec reads it; a placeholder's value is a dummy of the declared type. */
  readonly item: TtlvItem;
  /** The raw "$..." text, when the value was a placeholder. */
  readonly placeholder?: string;
  /** Structure children in document order (empty for other types). */
  readonly children: readonly ExpectedNode[];
}

const DUMMY_ITEMS: Readonly<Record<Exclude<ItemTypeName, 'Structure'>, TtlvItem>> = {
  Integer: ttlv.integer(0, 0),
  LongInteger: ttlv.longInteger(0, 0n),
  BigInteger: ttlv.bigInteger(0, 0n),
  Enumeration: ttlv.enumeration(0, 0),
  Boolean: ttlv.boolean(0, false),
  TextString: ttlv.textString(0, ''),
  ByteString: ttlv.byteString(0, new Uint8Array(0)),
  DateTime: ttlv.dateTime(0, 0n),
  Interval: ttlv.interval(0, 0),
  DateTimeExtended: ttlv.dateTimeExtended(0, 0n),
};

/**
 * Placeholder hook for reading expected values: any type-valid text will do, since the
 * comparison looks at `ExpectedNode.placeholder`, not at the dummy. Text Strings keep "$..." so a
 * tree dump still shows the placeholder.
 */
export function dummyPlaceholder(info: PlaceholderInfo): string | undefined {
  if (info.type === 'TextString' || info.type === 'Structure') return undefined;
  // Rendered by the codec itself, so the text always reads back (hex enumerations, ISO dates).
  return itemValueText(DUMMY_ITEMS[info.type], kmipDictionary, {}, ' ');
}

function valueAttribute(element: XmlElement): string | undefined {
  for (const a of element.attributes) if (a.name === 'value') return a.value;
  return undefined;
}

/**
 * Pairs each element with the item the codec made of it. The codec maps child elements to
 * structure items one to one and in order, so the two trees can be walked together.
 */
export function annotate(element: XmlElement, item: TtlvItem): ExpectedNode {
  if (item.type === ItemType.Structure) {
    if (element.children.length !== item.value.length) {
      throw new Error(`<${element.name}>: ${element.children.length} child elements but ${item.value.length} items`);
    }
    const children = item.value.map((child, i) => annotate(element.children[i] as XmlElement, child));
    return { item, children };
  }
  const raw = valueAttribute(element);
  return raw !== undefined && raw.startsWith('$') ? { item, placeholder: raw, children: [] } : { item, children: [] };
}

/** Reads an element (a message or any part of one) as an expected tree. */
export function expectedFromElement(element: XmlElement): ExpectedNode {
  const item = kmipItemFromXmlElement(element, kmipDictionary, { placeholder: dummyPlaceholder });
  return annotate(element, item);
}

/** Reads one KMIP XML fragment as an expected tree (tests write small ones by hand). */
export function expectedFromXml(xml: string): ExpectedNode {
  return expectedFromElement(readXml(xml));
}

/** The request as it will be sent, with each placeholder given text by `resolve`. */
export function requestFromElement(element: XmlElement, resolve: (info: PlaceholderInfo) => string | undefined): TtlvItem {
  return kmipItemFromXmlElement(element, kmipDictionary, { placeholder: resolve });
}
