/**
 * The KMIP XML encoding (KMIP Additional Message Encodings 1.0 section 6, and the OASIS profile
 * test cases): `<TagName type="Integer" value="1"/>`, structures as elements with children,
 * unnamed tags as `<TTLV tag="0x540001" type="..." value="..."/>`.
 *
 * The XML reader is our own, small and strict: no DTDs (so no entity expansion), only the five
 * predefined entities and character references, offsets (UTF-16 code units) in every error.
 */
import { TtlvError, TtlvErrorCode } from './errors';
import { ItemType, ttlv } from './types';
import type { ItemTypeCode, TtlvDictionary, TtlvItem, TtlvNameContext } from './types';
import {
  ITEM_TYPE_NAME,
  SiblingContext,
  TEXT_MAX_DEPTH,
  collapseWhitespace,
  formatTagHex,
  itemFromText,
  itemTypeByName,
  itemValueText,
  parseTagHex,
  substitutePlaceholder,
} from './text-values';
import type { KmipTextParseOptions, PlaceholderInfo } from './text-values';

// =============================================================================================
// Generic XML reader

export interface XmlAttribute {
  readonly name: string;
  /** After XML attribute-value normalisation (literal tabs/newlines become spaces). */
  readonly value: string;
  /** Offset of the first character of the value (inside the quotes). */
  readonly offset: number;
}

export interface XmlText {
  readonly kind: 'text';
  readonly value: string;
  readonly offset: number;
  readonly cdata: boolean;
}

export interface XmlComment {
  readonly kind: 'comment';
  readonly value: string;
  readonly offset: number;
}

export interface XmlElement {
  readonly kind: 'element';
  readonly name: string;
  /** Offset of the '<' that opens the element. */
  readonly offset: number;
  readonly attributes: readonly XmlAttribute[];
  /** Child elements, comments and text in document order; whitespace-only text is dropped. */
  readonly content: readonly XmlNode[];
  /** Child elements only. */
  readonly children: readonly XmlElement[];
}

export type XmlNode = XmlElement | XmlText | XmlComment;

export interface XmlReadOptions {
  /** Element nesting limit; deeper input raises TtlvError TooDeep. */
  readonly maxDepth?: number;
}

/** Characters XML 1.0 forbids, even as character references. */
const INVALID_XML_CHAR = /[\x00-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const ATTR_SPECIAL = /[&<\r\n\t]/;
const TEXT_SPECIAL = /[&\r]/;

interface MutableElement {
  readonly kind: 'element';
  readonly name: string;
  readonly offset: number;
  readonly attributes: XmlAttribute[];
  readonly content: XmlNode[];
  readonly children: XmlElement[];
}

function isNameStart(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x5f || c === 0x3a || c >= 0xc0;
}

function isNameChar(c: number): boolean {
  return isNameStart(c) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2e || c === 0xb7;
}

function isXmlWhitespace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

function isAllWhitespace(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (!isXmlWhitespace(s.charCodeAt(i))) return false;
  return true;
}

class XmlReader {
  private pos = 0;

  constructor(
    private readonly s: string,
    private readonly maxDepth: number,
  ) {}

  private fail(message: string, at: number = this.pos): never {
    throw new TtlvError(TtlvErrorCode.BadSyntax, at, message);
  }

  document(): XmlElement {
    const s = this.s;
    const invalid = INVALID_XML_CHAR.exec(s);
    if (invalid) this.fail('character not allowed in XML 1.0', invalid.index);
    if (s.charCodeAt(0) === 0xfeff) this.pos = 1;
    if (s.startsWith('<?xml', this.pos) && isXmlWhitespace(s.charCodeAt(this.pos + 5))) {
      const end = s.indexOf('?>', this.pos);
      if (end < 0) this.fail('unterminated XML declaration');
      this.pos = end + 2;
    }
    this.misc();
    if (this.pos >= s.length) this.fail('no root element');
    if (s.charCodeAt(this.pos) !== 0x3c) this.fail('text before the root element');
    const root = this.elementTree();
    this.misc();
    if (this.pos < s.length) this.fail('content after the root element');
    return root;
  }

  /** Whitespace, comments and processing instructions outside the root element. */
  private misc(): void {
    const s = this.s;
    for (;;) {
      this.skipWhitespace();
      if (s.startsWith('<!--', this.pos)) this.comment();
      else if (s.startsWith('<?', this.pos)) this.processingInstruction();
      else if (s.startsWith('<!', this.pos)) this.fail('DTDs and markup declarations are not supported');
      else return;
    }
  }

  private skipWhitespace(): boolean {
    const start = this.pos;
    while (this.pos < this.s.length && isXmlWhitespace(this.s.charCodeAt(this.pos))) this.pos++;
    return this.pos > start;
  }

  private comment(): XmlComment {
    const start = this.pos;
    const end = this.s.indexOf('-->', start + 4);
    if (end < 0) this.fail('unterminated comment', start);
    const value = this.s.slice(start + 4, end);
    if (value.includes('--')) this.fail('"--" inside a comment', start);
    this.pos = end + 3;
    return { kind: 'comment', value, offset: start };
  }

  private processingInstruction(): void {
    const start = this.pos;
    this.pos += 2;
    const target = this.name();
    if (target.toLowerCase() === 'xml') this.fail('XML declaration not at the start of the document', start);
    const end = this.s.indexOf('?>', this.pos);
    if (end < 0) this.fail('unterminated processing instruction', start);
    this.pos = end + 2;
  }

  private name(): string {
    const s = this.s;
    const start = this.pos;
    if (!isNameStart(s.charCodeAt(start))) this.fail('expected a name');
    let i = start + 1;
    while (i < s.length && isNameChar(s.charCodeAt(i))) i++;
    this.pos = i;
    return s.slice(start, i);
  }

  /** The root element and everything inside it; iterative, so depth costs no call stack. */
  private elementTree(): XmlElement {
    const s = this.s;
    const first = this.startTag();
    if (first.selfClosing) return first.element;
    const stack: MutableElement[] = [first.element];
    while (stack.length > 0) {
      const current = stack[stack.length - 1] as MutableElement;
      const lt = s.indexOf('<', this.pos);
      if (lt < 0) this.fail(`<${current.name}> is not closed`, current.offset);
      if (lt > this.pos) this.text(current, this.pos, lt);
      this.pos = lt;
      const next = s.charCodeAt(lt + 1);
      if (next === 0x2f /* / */) {
        this.pos = lt + 2;
        const name = this.name();
        this.skipWhitespace();
        if (s.charCodeAt(this.pos) !== 0x3e) this.fail(`expected ">" to end </${name}`);
        if (name !== current.name) this.fail(`</${name}> does not close <${current.name}>`, lt);
        this.pos++;
        stack.pop();
      } else if (s.startsWith('<!--', lt)) {
        current.content.push(this.comment());
      } else if (s.startsWith('<![CDATA[', lt)) {
        const end = s.indexOf(']]>', lt + 9);
        if (end < 0) this.fail('unterminated CDATA section', lt);
        const value = s.slice(lt + 9, end).replace(/\r\n?/g, '\n');
        if (!isAllWhitespace(value)) current.content.push({ kind: 'text', value, offset: lt + 9, cdata: true });
        this.pos = end + 3;
      } else if (next === 0x3f /* ? */) {
        this.processingInstruction();
      } else if (next === 0x21 /* ! */) {
        this.fail('DTDs and markup declarations are not supported');
      } else {
        const { element, selfClosing } = this.startTag();
        current.content.push(element);
        current.children.push(element);
        if (!selfClosing) {
          if (stack.length >= this.maxDepth) {
            throw new TtlvError(TtlvErrorCode.TooDeep, lt, `elements nested deeper than ${this.maxDepth}`);
          }
          stack.push(element);
        }
      }
    }
    return first.element;
  }

  private text(parent: MutableElement, start: number, end: number): void {
    const raw = this.s.slice(start, end);
    if (isAllWhitespace(raw)) return;
    const value = TEXT_SPECIAL.test(raw) ? this.decode(raw, start, false) : raw;
    parent.content.push({ kind: 'text', value, offset: start, cdata: false });
  }

  private startTag(): { element: MutableElement; selfClosing: boolean } {
    const s = this.s;
    const start = this.pos;
    this.pos++; // '<'
    const name = this.name();
    const element: MutableElement = { kind: 'element', name, offset: start, attributes: [], content: [], children: [] };
    for (;;) {
      const hadSpace = this.skipWhitespace();
      const c = s.charCodeAt(this.pos);
      if (c === 0x3e /* > */) {
        this.pos++;
        return { element, selfClosing: false };
      }
      if (c === 0x2f /* / */) {
        if (s.charCodeAt(this.pos + 1) !== 0x3e) this.fail('expected "/>"');
        this.pos += 2;
        return { element, selfClosing: true };
      }
      if (this.pos >= s.length) this.fail(`<${name}> is not finished`, start);
      if (!hadSpace) this.fail(`expected whitespace, ">" or "/>" in <${name}>`);
      const attrStart = this.pos;
      const attrName = this.name();
      this.skipWhitespace();
      if (s.charCodeAt(this.pos) !== 0x3d /* = */) this.fail(`expected "=" after attribute ${attrName}`);
      this.pos++;
      this.skipWhitespace();
      const quote = s.charAt(this.pos);
      if (quote !== '"' && quote !== "'") this.fail(`value of attribute ${attrName} must be quoted`);
      const valueStart = this.pos + 1;
      const valueEnd = s.indexOf(quote, valueStart);
      if (valueEnd < 0) this.fail(`unterminated value of attribute ${attrName}`, valueStart);
      const raw = s.slice(valueStart, valueEnd);
      const value = ATTR_SPECIAL.test(raw) ? this.decode(raw, valueStart, true) : raw;
      if (element.attributes.some((a) => a.name === attrName)) this.fail(`duplicate attribute ${attrName}`, attrStart);
      element.attributes.push({ name: attrName, value, offset: valueStart });
      this.pos = valueEnd + 1;
    }
  }

  /**
   * Entity and character references, line-end normalisation, and (in attribute values) the XML
   * rule that literal tab, CR and LF become spaces; characters given by reference are kept.
   */
  private decode(raw: string, base: number, attribute: boolean): string {
    let out = '';
    let runStart = 0;
    for (let i = 0; i < raw.length; i++) {
      const c = raw.charCodeAt(i);
      if (c === 0x26 /* & */) {
        out += raw.slice(runStart, i);
        const semi = raw.indexOf(';', i);
        if (semi < 0 || semi - i > 10) this.fail('unterminated entity reference', base + i);
        out += this.reference(raw.slice(i + 1, semi), base + i);
        i = semi;
        runStart = i + 1;
      } else if (c === 0x3c /* < */) {
        this.fail('"<" inside an attribute value', base + i);
      } else if (c === 0x0d || (attribute && (c === 0x0a || c === 0x09))) {
        out += raw.slice(runStart, i);
        if (c === 0x0d && raw.charCodeAt(i + 1) === 0x0a) i++;
        out += attribute ? ' ' : '\n';
        runStart = i + 1;
      }
    }
    return out + raw.slice(runStart);
  }

  private reference(name: string, at: number): string {
    switch (name) {
      case 'amp':
        return '&';
      case 'lt':
        return '<';
      case 'gt':
        return '>';
      case 'quot':
        return '"';
      case 'apos':
        return "'";
    }
    let code: number | undefined;
    if (/^#x[0-9a-fA-F]{1,6}$/.test(name)) code = parseInt(name.slice(2), 16);
    else if (/^#[0-9]{1,7}$/.test(name)) code = parseInt(name.slice(1), 10);
    if (code === undefined) this.fail(`unknown entity &${name};`, at);
    if (code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) this.fail(`&${name}; is not a character`, at);
    const ch = String.fromCodePoint(code);
    if (INVALID_XML_CHAR.test(ch)) this.fail(`&${name}; is a character XML 1.0 forbids`, at);
    return ch;
  }
}

/** Reads one XML document into a small element tree. Errors are TtlvError BadSyntax/TooDeep. */
export function readXml(text: string, opts: XmlReadOptions = {}): XmlElement {
  return new XmlReader(text, opts.maxDepth ?? TEXT_MAX_DEPTH).document();
}

/** The text directly inside an element (text and CDATA nodes, joined). */
export function xmlTextOf(element: XmlElement): string {
  let out = '';
  for (const node of element.content) if (node.kind === 'text') out += node.value;
  return out;
}

// =============================================================================================
// KMIP XML -> TTLV

export type { KmipTextParseOptions, PlaceholderInfo };
export type KmipXmlParseOptions = KmipTextParseOptions;

export type XmlMessageKind = 'RequestMessage' | 'ResponseMessage';

export interface XmlMessage {
  readonly kind: XmlMessageKind;
  readonly item: TtlvItem;
  /** Offset of the message element in the document. */
  readonly offset: number;
  /**
   * Comments and "#" notes between the previous message and this one, trimmed
   * (e.g. "# TIME 0"): the test cases mark their time steps this way.
   */
  readonly notes: readonly string[];
}

function findAttribute(element: XmlElement, name: string): XmlAttribute | undefined {
  for (const a of element.attributes) if (a.name === name) return a;
  return undefined;
}

class XmlToTtlv {
  constructor(
    private readonly dict: TtlvDictionary,
    private readonly opts: KmipTextParseOptions,
  ) {}

  item(element: XmlElement, context: TtlvNameContext): TtlvItem {
    for (const a of element.attributes) {
      if (a.name !== 'type' && a.name !== 'value' && a.name !== 'tag') {
        throw new TtlvError(TtlvErrorCode.BadSyntax, a.offset, `unexpected attribute ${a.name} on <${element.name}>`);
      }
    }
    for (const node of element.content) {
      if (node.kind === 'text') {
        throw new TtlvError(TtlvErrorCode.BadSyntax, node.offset, `text inside <${element.name}>: KMIP XML carries values in attributes`);
      }
    }
    const tagAttr = findAttribute(element, 'tag');
    const typeAttr = findAttribute(element, 'type');
    const valueAttr = findAttribute(element, 'value');

    let tag: number;
    let tagName: string;
    if (element.name === 'TTLV') {
      if (!tagAttr) throw new TtlvError(TtlvErrorCode.BadSyntax, element.offset, '<TTLV> needs a tag attribute');
      tag = parseTagHex(tagAttr.value, tagAttr.offset);
      tagName = tagAttr.value;
    } else {
      if (tagAttr) throw new TtlvError(TtlvErrorCode.BadSyntax, tagAttr.offset, `a tag attribute belongs on <TTLV> only, not <${element.name}>`);
      const known = this.dict.tagByName(element.name);
      if (known === undefined) throw new TtlvError(TtlvErrorCode.UnknownName, element.offset, `unknown tag name <${element.name}>`);
      tag = known;
      tagName = element.name;
    }

    let type: ItemTypeCode = ItemType.Structure;
    if (typeAttr) {
      const t = itemTypeByName(typeAttr.value);
      if (t === undefined) throw new TtlvError(TtlvErrorCode.UnknownName, typeAttr.offset, `unknown item type "${typeAttr.value}"`);
      type = t;
    } else if (valueAttr) {
      throw new TtlvError(TtlvErrorCode.BadSyntax, element.offset, `<${element.name}> has a value but no type`);
    }

    if (type === ItemType.Structure) {
      if (valueAttr) throw new TtlvError(TtlvErrorCode.BadSyntax, valueAttr.offset, `structure <${element.name}> cannot have a value`);
      return ttlv.structure(tag, this.children(element));
    }
    if (element.children.length > 0) {
      throw new TtlvError(TtlvErrorCode.BadSyntax, element.offset, `<${element.name}> of type ${ITEM_TYPE_NAME[type]} cannot have child elements`);
    }
    if (!valueAttr) throw new TtlvError(TtlvErrorCode.BadSyntax, element.offset, `<${element.name}> has no value attribute`);
    const raw = substitutePlaceholder(valueAttr.value, tagName, type, valueAttr.offset, this.opts);
    const item = itemFromText(tag, type, raw, this.dict, context, valueAttr.offset);
    if (item.type === ItemType.TextString && tag === this.dict.attributeNameTag && this.opts.collapseAttributeNames !== false) {
      return ttlv.textString(tag, collapseWhitespace(item.value));
    }
    return item;
  }

  children(element: XmlElement): TtlvItem[] {
    const siblings = new SiblingContext(this.dict.attributeNameTag);
    const items: TtlvItem[] = [];
    for (const child of element.children) {
      const item = this.item(child, siblings.context);
      siblings.saw(item);
      items.push(item);
    }
    return items;
  }
}

/** Converts an element already read by `readXml` (e.g. one found inside another document). */
export function kmipItemFromXmlElement(element: XmlElement, dict: TtlvDictionary, opts: KmipXmlParseOptions = {}): TtlvItem {
  return new XmlToTtlv(dict, opts).item(element, {});
}

/** Parses one KMIP XML element (a message, or any item) into a TTLV tree. */
export function parseKmipXml(text: string, dict: TtlvDictionary, opts: KmipXmlParseOptions = {}): TtlvItem {
  return kmipItemFromXmlElement(readXml(text, opts), dict, opts);
}

function isMessageName(name: string): name is XmlMessageKind {
  return name === 'RequestMessage' || name === 'ResponseMessage';
}

/**
 * Parses a test-case file: `<KMIP>` holding `<RequestMessage>`/`<ResponseMessage>` elements in
 * order (a lone message element is read as a one-message document). Comments and text notes
 * starting with "#" (the documents' "# TIME n" lines) are kept as notes, other text is an error.
 */
export function parseKmipXmlDocument(text: string, dict: TtlvDictionary, opts: KmipXmlParseOptions = {}): XmlMessage[] {
  const root = readXml(text, opts);
  const converter = new XmlToTtlv(dict, opts);
  if (isMessageName(root.name)) {
    return [{ kind: root.name, item: converter.item(root, {}), offset: root.offset, notes: [] }];
  }
  if (root.name !== 'KMIP') {
    throw new TtlvError(TtlvErrorCode.BadSyntax, root.offset, `expected <KMIP>, <RequestMessage> or <ResponseMessage>, found <${root.name}>`);
  }
  const messages: XmlMessage[] = [];
  let notes: string[] = [];
  for (const node of root.content) {
    if (node.kind === 'comment') {
      notes.push(node.value.trim());
    } else if (node.kind === 'text') {
      const note = node.value.trim();
      if (!note.startsWith('#')) throw new TtlvError(TtlvErrorCode.BadSyntax, node.offset, 'text inside <KMIP> that is not a "#" note');
      notes.push(note);
    } else {
      if (!isMessageName(node.name)) {
        throw new TtlvError(TtlvErrorCode.BadSyntax, node.offset, `<KMIP> holds <RequestMessage> and <ResponseMessage> only, not <${node.name}>`);
      }
      messages.push({ kind: node.name, item: converter.item(node, {}), offset: node.offset, notes });
      notes = [];
    }
  }
  return messages;
}

// =============================================================================================
// TTLV -> KMIP XML

export interface KmipXmlRenderOptions {
  /** One level of indentation; "" renders everything on one line. Default two spaces. */
  readonly indent?: string;
}

const ATTR_ESCAPE = /[&<>"\t\n\r]/g;
const ATTR_ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  '\t': '&#9;',
  '\n': '&#10;',
  '\r': '&#13;',
};

/** Attribute text that reads back unchanged, whitespace included (hence the character references). */
export function escapeXmlAttribute(value: string): string {
  return value.replace(ATTR_ESCAPE, (c) => ATTR_ESCAPES[c] ?? c);
}

class TtlvToXml {
  private readonly out: string[] = [];

  constructor(
    private readonly dict: TtlvDictionary,
    private readonly indent: string,
  ) {}

  render(item: TtlvItem): string {
    this.item(item, {}, '');
    return this.out.join(this.indent === '' ? '' : '\n');
  }

  private item(item: TtlvItem, context: TtlvNameContext, pad: string): void {
    const name = this.dict.tagName(item.tag);
    const open = name === undefined ? `<TTLV tag="${formatTagHex(item.tag)}"` : `<${name}`;
    if (item.type === ItemType.Structure) {
      if (item.value.length === 0) {
        this.out.push(`${pad}${open}/>`);
        return;
      }
      this.out.push(`${pad}${open}>`);
      const siblings = new SiblingContext(this.dict.attributeNameTag);
      const inner = pad + this.indent;
      for (const child of item.value) {
        this.item(child, siblings.context, inner);
        siblings.saw(child);
      }
      this.out.push(`${pad}</${name ?? 'TTLV'}>`);
      return;
    }
    if (item.type === ItemType.TextString && INVALID_XML_CHAR.test(item.value)) {
      throw new TtlvError(TtlvErrorCode.BadValue, 0, `Text String of ${name ?? formatTagHex(item.tag)} has a character XML 1.0 cannot carry`);
    }
    const value = escapeXmlAttribute(itemValueText(item, this.dict, context, ' '));
    this.out.push(`${pad}${open} type="${ITEM_TYPE_NAME[item.type]}" value="${value}"/>`);
  }
}

/** Renders one item (usually a message) as KMIP XML. */
export function renderKmipXml(item: TtlvItem, dict: TtlvDictionary, opts: KmipXmlRenderOptions = {}): string {
  return new TtlvToXml(dict, opts.indent ?? '  ').render(item);
}

/** Renders messages as a test-case style document: `<KMIP>` around them. */
export function renderKmipXmlDocument(items: readonly TtlvItem[], dict: TtlvDictionary, opts: KmipXmlRenderOptions = {}): string {
  const indent = opts.indent ?? '  ';
  const nl = indent === '' ? '' : '\n';
  const body = items.map((item) =>
    renderKmipXml(item, dict, { indent })
      .split('\n')
      .map((line) => indent + line)
      .join(nl),
  );
  return `<KMIP>${nl}${body.join(nl)}${nl}</KMIP>${nl}`;
}
