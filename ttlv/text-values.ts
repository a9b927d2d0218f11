/**
 * Value rules shared by the KMIP XML and JSON encodings (KMIP Additional Message Encodings 1.0,
 * "Hex representations", "Tags", "Type", "Value"): item type names, tag names and hex tags,
 * numbers in decimal or hex, enumeration and mask names, hex byte strings, ISO 8601 date-times.
 *
 * Everything here is pure text <-> value; the XML and JSON modules only walk their trees.
 */
import { TtlvError, TtlvErrorCode } from './errors';
import { ItemType, ttlv } from './types';
import type { ItemTypeCode, ItemTypeName, TtlvDictionary, TtlvItem, TtlvNameContext, ValueDomain } from './types';

/** Item type code -> the name the text encodings use ("TextString"). */
export const ITEM_TYPE_NAME: Readonly<Record<ItemTypeCode, ItemTypeName>> = {
  [ItemType.Structure]: 'Structure',
  [ItemType.Integer]: 'Integer',
  [ItemType.LongInteger]: 'LongInteger',
  [ItemType.BigInteger]: 'BigInteger',
  [ItemType.Enumeration]: 'Enumeration',
  [ItemType.Boolean]: 'Boolean',
  [ItemType.TextString]: 'TextString',
  [ItemType.ByteString]: 'ByteString',
  [ItemType.DateTime]: 'DateTime',
  [ItemType.Interval]: 'Interval',
  [ItemType.DateTimeExtended]: 'DateTimeExtended',
};

export function itemTypeByName(name: string): ItemTypeCode | undefined {
  // hasOwn: a name like "toString" must not reach the prototype.
  return Object.prototype.hasOwnProperty.call(ItemType, name) ? ItemType[name as ItemTypeName] : undefined;
}


const TAG_HEX = /^0x[0-9a-fA-F]{6}$/;

/** "0x540001" -> 0x540001. Tags are exactly three bytes on the wire, so exactly six digits here. */
export function parseTagHex(text: string, offset: number): number {
  if (!TAG_HEX.test(text)) {
    throw new TtlvError(TtlvErrorCode.BadSyntax, offset, `tag "${text}" is not of the form 0x42XXXX`);
  }
  const tag = parseInt(text.slice(2), 16);
  // The ranges KMIP defines: 0x42XXXX (standard) and 0x54XXXX (extensions), as the decoder checks.
  const hi = tag >>> 16;
  if (hi !== 0x42 && hi !== 0x54) {
    throw new TtlvError(TtlvErrorCode.BadTag, offset, `tag ${text} is neither 0x42XXXX nor 0x54XXXX`);
  }
  return tag;
}

export function formatTagHex(tag: number): string {
  return '0x' + tag.toString(16).toUpperCase().padStart(6, '0');
}

/** Tag by XML/JSON name, or by hex form. */
export function resolveTagName(name: string, dict: TtlvDictionary, offset: number): number {
  if (name.startsWith('0x')) return parseTagHex(name, offset);
  const tag = dict.tagByName(name);
  if (tag === undefined) throw new TtlvError(TtlvErrorCode.UnknownName, offset, `unknown tag name "${name}"`);
  return tag;
}

/** Display name for messages: the dictionary name, else hex. */
export function tagLabel(tag: number, dict: TtlvDictionary): string {
  return dict.tagName(tag) ?? formatTagHex(tag);
}

/**
 * Collapses whitespace runs to one space and trims. The v1.0-1.2 test-case transcriptions keep
 * runs of spaces and line breaks inside attribute names and mask lists.
 */
export function collapseWhitespace(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Text String values must survive UTF-8 encoding unchanged; a lone surrogate would not. */
function checkTextString(value: string, offset: number): string {
  if (LONE_SURROGATE.test(value)) {
    throw new TtlvError(TtlvErrorCode.BadValue, offset, 'Text String holds a lone UTF-16 surrogate');
  }
  return value;
}

/**
 * Tracks the nearest preceding sibling Attribute Name inside one structure, so a KMIP 1.x
 * Attribute Value can be named by the domain of the attribute it belongs to.
 */
export class SiblingContext {
  private current: TtlvNameContext = {};
  constructor(private readonly attributeNameTag: number | undefined) {}

  get context(): TtlvNameContext {
    return this.current;
  }

  /** Call after each child, in order. */
  saw(item: TtlvItem): void {
    if (item.tag === this.attributeNameTag && item.type === ItemType.TextString) {
      this.current = { attributeName: collapseWhitespace(item.value) };
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Numbers

const DECIMAL = /^-?\d+$/;
const HEX_NUMBER = /^0x([0-9a-fA-F]+)$/;
const HEX_BYTES = /^(?:[0-9a-fA-F]{2})*$/;

const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;
const UINT32_MAX = 0xffffffff;
const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

function bad(offset: number, message: string): TtlvError {
  return new TtlvError(TtlvErrorCode.BadValue, offset, message);
}

/** "0x" + at most `maxDigits` hex digits, as an unsigned value; undefined if not of that form. */
function hexUnsigned(text: string, maxDigits: number, offset: number): bigint | undefined {
  const m = HEX_NUMBER.exec(text);
  if (!m) return undefined;
  const digits = m[1] ?? '';
  if (digits.length > maxDigits) throw bad(offset, `hex value ${text} has more than ${maxDigits} digits`);
  return BigInt('0x' + digits);
}

function decimalInRange(text: string, min: bigint, max: bigint, what: string, offset: number): bigint | undefined {
  if (!DECIMAL.test(text)) return undefined;
  const v = BigInt(text);
  if (v < min || v > max) throw bad(offset, `${text} is outside the range of ${what}`);
  return v;
}

/** One number token of an Integer: decimal (signed 32-bit) or hex (32-bit two's complement). */
function int32Token(token: string, offset: number): number | undefined {
  const hex = hexUnsigned(token, 8, offset);
  if (hex !== undefined) return Number(hex) | 0;
  const dec = decimalInRange(token, BigInt(INT32_MIN), BigInt(INT32_MAX), 'an Integer', offset);
  return dec === undefined ? undefined : Number(dec);
}

/**
 * Integer: decimal, hex, or (for masks) names and numbers separated by spaces or "|", OR-ed.
 * XML uses spaces ("Encrypt Decrypt"), JSON "|"; both are read everywhere.
 */
function parseIntegerText(text: string, domain: ValueDomain | undefined, offset: number): number {
  const trimmed = text.trim();
  const single = int32Token(trimmed, offset);
  if (single !== undefined) return single;
  const tokens = trimmed.split(/[\s|]+/).filter((t) => t.length > 0);
  if (tokens.length === 0) throw bad(offset, 'empty Integer value');
  let value = 0;
  for (const token of tokens) {
    const n = int32Token(token, offset) ?? domain?.valueOf(token);
    if (n === undefined) {
      if (!/^[A-Za-z_]/.test(token)) throw bad(offset, `"${token}" is not an Integer`);
      throw new TtlvError(
        TtlvErrorCode.UnknownName,
        offset,
        domain === undefined ? `"${token}": this Integer has no named values` : `unknown mask name "${token}"`,
      );
    }
    value |= n;
  }
  return value;
}

/** Mask names joined by `separator` when every set bit is named; otherwise undefined. */
function formatMask(value: number, domain: ValueDomain, separator: string): string | undefined {
  const whole = domain.nameOf(value) ?? domain.nameOf(value >>> 0);
  if (whole !== undefined) return whole;
  if (value === 0) return undefined;
  const names: string[] = [];
  const bits = value >>> 0;
  for (let i = 0; i < 32; i++) {
    const bit = 2 ** i;
    if (Math.floor(bits / bit) % 2 === 0) continue;
    const name = domain.nameOf(bit) ?? domain.nameOf(bit | 0);
    if (name === undefined) return undefined;
    names.push(name);
  }
  return names.join(separator);
}

function parseLongIntegerText(text: string, offset: number): bigint {
  const t = text.trim();
  const hex = hexUnsigned(t, 16, offset);
  if (hex !== undefined) return BigInt.asIntN(64, hex);
  const dec = decimalInRange(t, INT64_MIN, INT64_MAX, 'a Long Integer', offset);
  if (dec === undefined) throw bad(offset, `"${text}" is not a Long Integer`);
  return dec;
}

/**
 * Big Integer: two's complement big-endian hex, as the profiles write it (without "0x";
 * "0x" is read too). Never decimal: "0000000000010001" is hex in the test cases.
 */
function parseBigIntegerText(text: string, offset: number): bigint {
  const t = text.trim();
  const digits = t.startsWith('0x') ? t.slice(2) : t;
  if (digits.length === 0 || !/^[0-9a-fA-F]+$/.test(digits)) {
    throw bad(offset, `"${text}" is not a Big Integer (two's complement hex)`);
  }
  if (digits.length % 2 !== 0) throw bad(offset, `Big Integer hex "${text}" has an odd number of digits`);
  return twosComplementFromHex(digits);
}

function twosComplementFromHex(digits: string): bigint {
  const unsigned = BigInt('0x' + digits);
  const first = parseInt(digits.slice(0, 2), 16);
  return first >= 0x80 ? unsigned - (1n << BigInt(digits.length * 4)) : unsigned;
}

/** Minimal two's complement, sign-extended to a multiple of 8 bytes, as TTLV encodes it. */
export function bigIntegerToHex(value: bigint): string {
  let bytes = 8;
  // Grow until the value fits in `bytes` signed bytes.
  while (value < -(1n << BigInt(bytes * 8 - 1)) || value >= 1n << BigInt(bytes * 8 - 1)) bytes += 8;
  return BigInt.asUintN(bytes * 8, value).toString(16).padStart(bytes * 2, '0');
}

/** Enumeration: a name of its domain, or hex "0x0000000A". */
function parseEnumerationText(text: string, domain: ValueDomain | undefined, offset: number): number {
  const t = text.trim();
  const hex = hexUnsigned(t, 8, offset);
  if (hex !== undefined) return Number(hex);
  const v = domain?.valueOf(t);
  if (v !== undefined) return v >>> 0;
  throw new TtlvError(
    TtlvErrorCode.UnknownName,
    offset,
    domain === undefined
      ? `Enumeration value "${t}": no named values are known here, use hex (0x0000000A)`
      : `unknown Enumeration value name "${t}"`,
  );
}

function formatEnumeration(value: number, domain: ValueDomain | undefined): string {
  return domain?.nameOf(value) ?? hex32(value);
}

function hex32(value: number): string {
  return '0x' + (value >>> 0).toString(16).toUpperCase().padStart(8, '0');
}

export function hex64(value: bigint): string {
  return '0x' + BigInt.asUintN(64, value).toString(16).toUpperCase().padStart(16, '0');
}

function parseIntervalText(text: string, offset: number): number {
  const t = text.trim();
  const hex = hexUnsigned(t, 8, offset);
  if (hex !== undefined) return Number(hex);
  const dec = decimalInRange(t, 0n, BigInt(UINT32_MAX), 'an Interval', offset);
  if (dec === undefined) throw bad(offset, `"${text}" is not an Interval`);
  return Number(dec);
}

function parseBooleanText(text: string, offset: number): boolean {
  const t = text.trim();
  if (t === 'true') return true;
  if (t === 'false') return false;
  const hex = hexUnsigned(t, 16, offset);
  if (hex === 0n) return false;
  if (hex === 1n) return true;
  throw bad(offset, `"${text}" is not a Boolean (true or false)`);
}

function parseByteStringHex(text: string, offset: number): Uint8Array {
  if (!HEX_BYTES.test(text)) throw bad(offset, 'Byte String must be an even number of hex digits');
  return hexToBytes(text);
}

function hexToBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16);
  return out;
}

const HEX_DIGITS = '0123456789abcdef';

export function bytesToHex(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += HEX_DIGITS.charAt(b >> 4) + HEX_DIGITS.charAt(b & 15);
  return s;
}

// ---------------------------------------------------------------------------------------------
// Date-Time (ISO 8601, UTC offset; the profiles write "2013-06-26T09:09:17+00:00")

const ISO = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})?$/;
const SECONDS_PER_DAY = 86400n;
const MICROS_PER_SECOND = 1_000_000n;
/** Days from 1970-01-01 of 0000-01-01 and of 9999-12-31: the range rendered as ISO text. */
const MIN_ISO_DAY = -719528;
const MAX_ISO_DAY = 2932896;

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const mp = (month + 9) % 12;
  const doy = Math.floor((153 * mp + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function civilFromDays(days: number): [number, number, number] {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  return [year, month, day];
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** Parses ISO 8601 into POSIX seconds plus a fraction of 0..6 digits (in microseconds). */
function parseIso(text: string, offset: number): { seconds: bigint; micros: bigint } {
  const m = ISO.exec(text);
  if (!m) throw bad(offset, `"${text}" is not an ISO 8601 date-time (2013-06-26T09:09:17+00:00)`);
  const [, ys, mos, ds, hs, mis, ss, frac, zone] = m;
  const year = Number(ys);
  const month = Number(mos);
  const day = Number(ds);
  const hour = Number(hs);
  const minute = Number(mis);
  const second = Number(ss);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) || hour > 23 || minute > 59 || second > 59) {
    throw bad(offset, `"${text}" is not a valid date-time`);
  }
  let zoneSeconds = 0;
  // No zone: the profiles always write one; read a bare time as UTC rather than local time.
  if (zone !== undefined && zone !== 'Z') {
    const zh = Number(zone.slice(1, 3));
    const zm = Number(zone.slice(4, 6));
    if (zh > 23 || zm > 59) throw bad(offset, `"${text}" has an invalid UTC offset`);
    zoneSeconds = (zh * 3600 + zm * 60) * (zone.startsWith('-') ? -1 : 1);
  }
  let micros = 0n;
  if (frac !== undefined) {
    if (frac.length > 6) throw bad(offset, `"${text}" has more than microsecond precision`);
    micros = BigInt(frac.padEnd(6, '0'));
  }
  const days = BigInt(daysFromCivil(year, month, day));
  const seconds = days * SECONDS_PER_DAY + BigInt(hour * 3600 + minute * 60 + second - zoneSeconds);
  return { seconds, micros };
}

function checkInt64(v: bigint, offset: number, text: string): bigint {
  if (v < INT64_MIN || v > INT64_MAX) throw bad(offset, `"${text}" is outside the 64-bit range`);
  return v;
}

/** Date-Time (seconds): ISO 8601 or hex "0x" + 16 digits. */
function parseDateTimeText(text: string, offset: number): bigint {
  const t = text.trim();
  const hex = hexUnsigned(t, 16, offset);
  if (hex !== undefined) return BigInt.asIntN(64, hex);
  const { seconds, micros } = parseIso(t, offset);
  if (micros !== 0n) throw bad(offset, `"${text}": a Date-Time has whole seconds only`);
  return checkInt64(seconds, offset, text);
}

/** Date-Time Extended (microseconds): ISO 8601 with up to 6 fraction digits, or hex. */
function parseDateTimeExtendedText(text: string, offset: number): bigint {
  const t = text.trim();
  const hex = hexUnsigned(t, 16, offset);
  if (hex !== undefined) return BigInt.asIntN(64, hex);
  const { seconds, micros } = parseIso(t, offset);
  return checkInt64(seconds * MICROS_PER_SECOND + micros, offset, text);
}

function floorDiv(a: bigint, b: bigint): [bigint, bigint] {
  let q = a / b;
  let r = a % b;
  if (r < 0n) {
    r += b;
    q -= 1n;
  }
  return [q, r];
}

const pad2 = (n: number): string => String(n).padStart(2, '0');

/** ISO text for years 0000..9999; undefined outside (callers then write hex). */
function isoFromSeconds(seconds: bigint, fraction: string): string | undefined {
  const [days, rem] = floorDiv(seconds, SECONDS_PER_DAY);
  if (days < BigInt(MIN_ISO_DAY) || days > BigInt(MAX_ISO_DAY)) return undefined;
  const [y, mo, d] = civilFromDays(Number(days));
  const r = Number(rem);
  const time = `${pad2(Math.floor(r / 3600))}:${pad2(Math.floor(r / 60) % 60)}:${pad2(r % 60)}`;
  return `${String(y).padStart(4, '0')}-${pad2(mo)}-${pad2(d)}T${time}${fraction}+00:00`;
}

export function formatDateTime(seconds: bigint): string {
  return isoFromSeconds(seconds, '') ?? hex64(seconds);
}

export function formatDateTimeExtended(micros: bigint): string {
  const [seconds, frac] = floorDiv(micros, MICROS_PER_SECOND);
  return isoFromSeconds(seconds, '.' + frac.toString().padStart(6, '0')) ?? hex64(micros);
}

// ---------------------------------------------------------------------------------------------
// Items <-> value text, and the parse options both encodings share

/** KMIP messages nest about a dozen levels; this leaves room and bounds hostile input. */
export const TEXT_MAX_DEPTH = 100;

export interface PlaceholderInfo {
  /** Element name, or for `<TTLV>` its tag attribute. */
  readonly tagName: string;
  readonly type: ItemTypeName;
  /** The value as written, e.g. "$NOW-3600". */
  readonly raw: string;
  readonly offset: number;
}

export interface KmipTextParseOptions {
  /**
   * Called for every value that starts with "$" (the test cases' `$UNIQUE_IDENTIFIER_0`, `$NOW`,
   * ...). Return replacement text for the value, or undefined to leave it: a Text String then
   * keeps it literally, any other type is rejected with TtlvError BadValue.
   */
  readonly placeholder?: (info: PlaceholderInfo) => string | undefined;
  /** Collapse whitespace runs in Attribute Name values (a v1.0-1.2 data defect). Default true. */
  readonly collapseAttributeNames?: boolean;
  readonly maxDepth?: number;
}

/** Converts a value text of a non-structure type; shared with the JSON encoding. */
export function itemFromText(
  tag: number,
  type: Exclude<ItemTypeCode, typeof ItemType.Structure>,
  raw: string,
  dict: TtlvDictionary,
  context: TtlvNameContext,
  offset: number,
): TtlvItem {
  switch (type) {
    case ItemType.Integer:
      return ttlv.integer(tag, parseIntegerText(raw, dict.valueDomain(tag, context), offset));
    case ItemType.LongInteger:
      return ttlv.longInteger(tag, parseLongIntegerText(raw, offset));
    case ItemType.BigInteger:
      return ttlv.bigInteger(tag, parseBigIntegerText(raw, offset));
    case ItemType.Enumeration:
      return ttlv.enumeration(tag, parseEnumerationText(raw, dict.valueDomain(tag, context), offset));
    case ItemType.Boolean:
      return ttlv.boolean(tag, parseBooleanText(raw, offset));
    case ItemType.TextString:
      return ttlv.textString(tag, checkTextString(raw, offset));
    case ItemType.ByteString:
      return ttlv.byteString(tag, parseByteStringHex(raw, offset));
    case ItemType.DateTime:
      return ttlv.dateTime(tag, parseDateTimeText(raw, offset));
    case ItemType.Interval:
      return ttlv.interval(tag, parseIntervalText(raw, offset));
    case ItemType.DateTimeExtended:
      return ttlv.dateTimeExtended(tag, parseDateTimeExtendedText(raw, offset));
  }
}

/** Applies the placeholder hook and the default rule for "$..." values. */
export function substitutePlaceholder(
  raw: string,
  tagName: string,
  type: Exclude<ItemTypeCode, typeof ItemType.Structure>,
  offset: number,
  opts: KmipTextParseOptions,
): string {
  if (!raw.startsWith('$')) return raw;
  const typeName = ITEM_TYPE_NAME[type];
  const replaced = opts.placeholder?.({ tagName, type: typeName, raw, offset });
  if (replaced !== undefined) return replaced;
  if (type === ItemType.TextString) return raw;
  throw new TtlvError(
    TtlvErrorCode.BadValue,
    offset,
    `placeholder ${raw} as a ${typeName} value of ${tagName}: substitute it with opts.placeholder`,
  );
}

/** The value attribute text of a non-structure item. */
export function itemValueText(item: TtlvItem, dict: TtlvDictionary, context: TtlvNameContext, maskSeparator: string): string {
  switch (item.type) {
    case ItemType.Structure:
      throw new TtlvError(TtlvErrorCode.BadValue, 0, 'a structure has no value text');
    case ItemType.Integer: {
      const domain = dict.valueDomain(item.tag, context);
      const names = domain?.kind === 'mask' ? formatMask(item.value, domain, maskSeparator) : undefined;
      return names ?? String(item.value);
    }
    case ItemType.LongInteger:
      return item.value.toString();
    case ItemType.BigInteger:
      return bigIntegerToHex(item.value);
    case ItemType.Enumeration:
      return formatEnumeration(item.value, dict.valueDomain(item.tag, context));
    case ItemType.Boolean:
      return item.value ? 'true' : 'false';
    case ItemType.TextString:
      return item.value;
    case ItemType.ByteString:
      return bytesToHex(item.value);
    case ItemType.DateTime:
      return formatDateTime(item.value);
    case ItemType.Interval:
      return String(item.value);
    case ItemType.DateTimeExtended:
      return formatDateTimeExtended(item.value);
  }
}
