/**
 * The KMIP JSON encoding (KMIP Additional Message Encodings 1.0 section 4):
 * `{"tag":"RequestMessage","value":[ {"tag":"BatchCount","type":"Integer","value":1} ]}`.
 *
 * Reading text uses our own JSON reader, which keeps number literals as text: a Long Integer
 * written as a JSON number above 2^53 is read exactly instead of being rounded by JSON.parse.
 * Rendering writes Long Integers outside the safe-integer range, and every Big Integer, as hex
 * strings, so the output never depends on a reader's number precision either.
 */
import { TtlvError, TtlvErrorCode } from './errors';
import { ItemType, ttlv } from './types';
import type { ItemTypeCode, TtlvDictionary, TtlvItem, TtlvNameContext } from './types';
import {
  ITEM_TYPE_NAME,
  SiblingContext,
  TEXT_MAX_DEPTH,
  bigIntegerToHex,
  collapseWhitespace,
  formatTagHex,
  hex64,
  itemFromText,
  itemTypeByName,
  itemValueText,
  resolveTagName,
  substitutePlaceholder,
} from './text-values';
import type { KmipTextParseOptions } from './text-values';

// =============================================================================================
// JSON reader

/** A JSON number as written, so integer literals of any size stay exact. */
export class JsonNumber {
  constructor(readonly raw: string) {}
}

export type JsonValue = null | boolean | string | number | JsonNumber | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

const JSON_NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const ESCAPES: Readonly<Record<string, string>> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

class JsonReader {
  private pos = 0;
  /** Where each object and array started, for error offsets in the KMIP conversion. */
  readonly offsets = new WeakMap<object, number>();

  constructor(
    private readonly s: string,
    private readonly maxDepth: number,
  ) {}

  private fail(message: string, at: number = this.pos): never {
    throw new TtlvError(TtlvErrorCode.BadSyntax, at, message);
  }

  document(): JsonValue {
    const v = this.value(0);
    this.ws();
    if (this.pos < this.s.length) this.fail('content after the JSON value');
    return v;
  }

  private ws(): void {
    const s = this.s;
    for (;;) {
      const c = s.charCodeAt(this.pos);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) this.pos++;
      else return;
    }
  }

  private value(depth: number): JsonValue {
    this.ws();
    const s = this.s;
    const start = this.pos;
    const c = s.charAt(start);
    if (c === '{' || c === '[') {
      if (depth >= this.maxDepth) throw new TtlvError(TtlvErrorCode.TooDeep, start, `JSON nested deeper than ${this.maxDepth}`);
      const v = c === '{' ? this.object(depth) : this.array(depth);
      this.offsets.set(v, start);
      return v;
    }
    if (c === '"') return this.string();
    if (s.startsWith('true', start)) return this.literal(4, true);
    if (s.startsWith('false', start)) return this.literal(5, false);
    if (s.startsWith('null', start)) return this.literal(4, null);
    JSON_NUMBER.lastIndex = start;
    const m = JSON_NUMBER.exec(s);
    if (m) {
      this.pos = start + m[0].length;
      return new JsonNumber(m[0]);
    }
    if (start >= s.length) this.fail('unexpected end of JSON');
    return this.fail(`unexpected character ${JSON.stringify(c)}`);
  }

  private literal<T extends boolean | null>(length: number, v: T): T {
    this.pos += length;
    return v;
  }

  private object(depth: number): JsonObject {
    const s = this.s;
    // Null prototype: keys such as "__proto__" are plain data.
    const obj = Object.create(null) as JsonObject;
    this.pos++;
    this.ws();
    if (s.charAt(this.pos) === '}') {
      this.pos++;
      return obj;
    }
    for (;;) {
      this.ws();
      const keyAt = this.pos;
      if (s.charAt(this.pos) !== '"') this.fail('expected a quoted key');
      const key = this.string();
      if (Object.prototype.hasOwnProperty.call(obj, key)) this.fail(`duplicate key "${key}"`, keyAt);
      this.ws();
      if (s.charAt(this.pos) !== ':') this.fail('expected ":"');
      this.pos++;
      obj[key] = this.value(depth + 1);
      this.ws();
      const c = s.charAt(this.pos);
      this.pos++;
      if (c === '}') return obj;
      if (c !== ',') this.fail('expected "," or "}"', this.pos - 1);
    }
  }

  private array(depth: number): JsonValue[] {
    const s = this.s;
    const arr: JsonValue[] = [];
    this.pos++;
    this.ws();
    if (s.charAt(this.pos) === ']') {
      this.pos++;
      return arr;
    }
    for (;;) {
      arr.push(this.value(depth + 1));
      this.ws();
      const c = s.charAt(this.pos);
      this.pos++;
      if (c === ']') return arr;
      if (c !== ',') this.fail('expected "," or "]"', this.pos - 1);
    }
  }

  private string(): string {
    const s = this.s;
    const start = this.pos;
    let out = '';
    let run = start + 1;
    for (let i = start + 1; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c === 0x22 /* " */) {
        this.pos = i + 1;
        return out + s.slice(run, i);
      }
      if (c < 0x20) this.fail('control character inside a string', i);
      if (c === 0x5c /* \ */) {
        out += s.slice(run, i);
        const e = s.charAt(i + 1);
        if (e === 'u') {
          const hex = s.slice(i + 2, i + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail('bad \\u escape', i);
          out += String.fromCharCode(parseInt(hex, 16));
          i += 5;
        } else {
          const r = ESCAPES[e];
          if (r === undefined) this.fail(`bad escape \\${e}`, i);
          out += r;
          i += 1;
        }
        run = i + 1;
      }
    }
    return this.fail('unterminated string', start);
  }
}

/** Reads JSON text, keeping numbers as `JsonNumber`. Errors are TtlvError BadSyntax/TooDeep. */
export function readJson(text: string, opts: { maxDepth?: number } = {}): JsonValue {
  return new JsonReader(text, opts.maxDepth ?? TEXT_MAX_DEPTH).document();
}

// =============================================================================================
// KMIP JSON -> TTLV

export type KmipJsonParseOptions = KmipTextParseOptions;

const INT32 = { min: -0x80000000n, max: 0x7fffffffn };
const UINT32 = { min: 0n, max: 0xffffffffn };
const INT64 = { min: -(1n << 63n), max: (1n << 63n) - 1n };

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof JsonNumber);
}

class JsonToTtlv {
  constructor(
    private readonly dict: TtlvDictionary,
    private readonly opts: KmipJsonParseOptions,
    private readonly offsets: WeakMap<object, number> | undefined,
    private readonly maxDepth: number,
  ) {}

  private offsetOf(v: unknown): number {
    return typeof v === 'object' && v !== null ? (this.offsets?.get(v) ?? -1) : -1;
  }

  item(node: unknown, context: TtlvNameContext, depth: number): TtlvItem {
    const at = this.offsetOf(node);
    if (!isObject(node)) throw new TtlvError(TtlvErrorCode.BadSyntax, at, 'expected an object {"tag", "type", "value"}');
    if (depth >= this.maxDepth) throw new TtlvError(TtlvErrorCode.TooDeep, at, `items nested deeper than ${this.maxDepth}`);
    for (const key of Object.keys(node)) {
      if (key !== 'tag' && key !== 'type' && key !== 'value') {
        throw new TtlvError(TtlvErrorCode.BadSyntax, at, `unexpected key "${key}" in an item`);
      }
    }
    const has = (k: string): boolean => Object.prototype.hasOwnProperty.call(node, k);
    const tagText = node['tag'];
    if (typeof tagText !== 'string') throw new TtlvError(TtlvErrorCode.BadSyntax, at, 'item "tag" must be a string');
    const tag = resolveTagName(tagText, this.dict, at);

    let type: ItemTypeCode = ItemType.Structure;
    if (has('type')) {
      const typeText = node['type'];
      if (typeof typeText !== 'string') throw new TtlvError(TtlvErrorCode.BadSyntax, at, `"type" of ${tagText} must be a string`);
      const t = itemTypeByName(typeText);
      if (t === undefined) throw new TtlvError(TtlvErrorCode.UnknownName, at, `unknown item type "${typeText}"`);
      type = t;
    }
    if (!has('value')) throw new TtlvError(TtlvErrorCode.BadSyntax, at, `${tagText} has no "value"`);
    const value = node['value'];

    if (type === ItemType.Structure) {
      if (!Array.isArray(value)) throw new TtlvError(TtlvErrorCode.BadSyntax, at, `structure ${tagText} needs an array "value"`);
      const siblings = new SiblingContext(this.dict.attributeNameTag);
      const items: TtlvItem[] = [];
      for (const child of value as unknown[]) {
        const item = this.item(child, siblings.context, depth + 1);
        siblings.saw(item);
        items.push(item);
      }
      return ttlv.structure(tag, items);
    }
    return this.primitive(tag, tagText, type, value, context, at);
  }

  private primitive(
    tag: number,
    tagText: string,
    type: Exclude<ItemTypeCode, typeof ItemType.Structure>,
    value: unknown,
    context: TtlvNameContext,
    at: number,
  ): TtlvItem {
    const typeName = ITEM_TYPE_NAME[type];
    if (typeof value === 'string') {
      const raw = substitutePlaceholder(value, tagText, type, at, this.opts);
      const item = itemFromText(tag, type, raw, this.dict, context, at);
      if (item.type === ItemType.TextString && tag === this.dict.attributeNameTag && this.opts.collapseAttributeNames !== false) {
        return ttlv.textString(tag, collapseWhitespace(item.value));
      }
      return item;
    }
    if (typeof value === 'boolean') {
      if (type !== ItemType.Boolean) throw new TtlvError(TtlvErrorCode.BadValue, at, `${tagText}: a ${typeName} cannot be true/false`);
      return ttlv.boolean(tag, value);
    }
    if (typeof value === 'number' || value instanceof JsonNumber) {
      const n = this.integer(value, tagText, at);
      switch (type) {
        case ItemType.Integer:
          return ttlv.integer(tag, Number(this.inRange(n, INT32, tagText, at)));
        case ItemType.LongInteger:
          return ttlv.longInteger(tag, this.inRange(n, INT64, tagText, at));
        case ItemType.BigInteger:
          return ttlv.bigInteger(tag, n);
        case ItemType.Interval:
          return ttlv.interval(tag, Number(this.inRange(n, UINT32, tagText, at)));
        default:
          // Enumerations, dates and strings have text forms only (name/hex, ISO 8601, hex).
          throw new TtlvError(TtlvErrorCode.BadValue, at, `${tagText}: a ${typeName} cannot be a JSON number`);
      }
    }
    throw new TtlvError(TtlvErrorCode.BadValue, at, `${tagText}: unsupported JSON value for a ${typeName}`);
  }

  private integer(value: number | JsonNumber, tagText: string, at: number): bigint {
    if (value instanceof JsonNumber) {
      if (!/^-?\d+$/.test(value.raw)) throw new TtlvError(TtlvErrorCode.BadValue, at, `${tagText}: ${value.raw} is not an integer`);
      return BigInt(value.raw);
    }
    // An already-parsed number above 2^53 may have been rounded: refuse rather than guess.
    if (!Number.isSafeInteger(value)) {
      throw new TtlvError(TtlvErrorCode.BadValue, at, `${tagText}: ${value} is not a safe integer; write it as a hex string`);
    }
    return BigInt(value);
  }

  private inRange(n: bigint, range: { min: bigint; max: bigint }, tagText: string, at: number): bigint {
    if (n < range.min || n > range.max) throw new TtlvError(TtlvErrorCode.BadValue, at, `${tagText}: ${n} is out of range`);
    return n;
  }
}

/**
 * Parses the KMIP JSON encoding of one item (usually a message). Accepts JSON text as a string
 * (numbers read exactly) or an already-parsed value (then integers must be safe integers, or hex
 * strings).
 */
export function parseKmipJson(input: unknown, dict: TtlvDictionary, opts: KmipJsonParseOptions = {}): TtlvItem {
  const maxDepth = opts.maxDepth ?? TEXT_MAX_DEPTH;
  if (typeof input === 'string') {
    const reader = new JsonReader(input, maxDepth + 2);
    const value = reader.document();
    return new JsonToTtlv(dict, opts, reader.offsets, maxDepth).item(value, {}, 0);
  }
  return new JsonToTtlv(dict, opts, undefined, maxDepth).item(input, {}, 0);
}

// =============================================================================================
// TTLV -> KMIP JSON

export interface KmipJsonItem {
  tag: string;
  type?: string;
  value: string | number | boolean | KmipJsonItem[];
}

export interface KmipJsonRenderOptions {
  /** Passed to JSON.stringify; default none (one line). */
  readonly indent?: string | number;
}

function jsonItem(item: TtlvItem, dict: TtlvDictionary, context: TtlvNameContext): KmipJsonItem {
  const tag = dict.tagName(item.tag) ?? formatTagHex(item.tag);
  switch (item.type) {
    case ItemType.Structure: {
      const siblings = new SiblingContext(dict.attributeNameTag);
      const value = item.value.map((child) => {
        const j = jsonItem(child, dict, siblings.context);
        siblings.saw(child);
        return j;
      });
      return { tag, value };
    }
    case ItemType.Integer: {
      const text = itemValueText(item, dict, context, '|');
      // Mask names stay text; plain numbers are JSON numbers.
      return { tag, type: 'Integer', value: /^-?\d+$/.test(text) ? item.value : text };
    }
    case ItemType.LongInteger: {
      const safe = item.value >= BigInt(Number.MIN_SAFE_INTEGER) && item.value <= BigInt(Number.MAX_SAFE_INTEGER);
      return { tag, type: 'LongInteger', value: safe ? Number(item.value) : hex64(item.value) };
    }
    case ItemType.BigInteger:
      return { tag, type: 'BigInteger', value: '0x' + bigIntegerToHex(item.value).toUpperCase() };
    case ItemType.Boolean:
      return { tag, type: 'Boolean', value: item.value };
    case ItemType.Interval:
      return { tag, type: 'Interval', value: item.value };
    default:
      return { tag, type: ITEM_TYPE_NAME[item.type], value: itemValueText(item, dict, context, '|') };
  }
}

/** The KMIP JSON form of an item as plain data (every number in it is a safe integer). */
export function kmipJsonObject(item: TtlvItem, dict: TtlvDictionary): KmipJsonItem {
  return jsonItem(item, dict, {});
}

export function renderKmipJson(item: TtlvItem, dict: TtlvDictionary, opts: KmipJsonRenderOptions = {}): string {
  return JSON.stringify(kmipJsonObject(item, dict), null, opts.indent);
}
