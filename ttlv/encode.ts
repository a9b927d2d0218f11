/**
 * Generic tree -> binary TTLV, in two passes: the first validates every value and computes the
 * exact size, the second writes into one buffer allocated once.
 *
 * The tree may come from untyped sources (JSON, XML, a handler's bug), so values are checked at
 * run time, not trusted from the TypeScript types: a bad value is `TtlvError(BadValue)` with the
 * offset the item would have had in the output.
 */
import { TtlvError, TtlvErrorCode } from './errors';
import { ItemType, type TtlvItem } from './types';

/**
 * Deepest Structure nesting the encoder walks. Far above any KMIP message (see
 * DEFAULT_MAX_DEPTH in decode.ts); it exists so a cyclic tree fails cleanly instead of
 * overflowing the stack.
 */
export const ENCODE_MAX_DEPTH = 256;

/** Largest value a TTLV length field (unsigned 32-bit) can state. */
const MAX_LENGTH = 0xffff_ffff;

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

function bad(offset: number, message: string): never {
  throw new TtlvError(TtlvErrorCode.BadValue, offset, message);
}

/** `n` rounded up to a multiple of 8 (low bits only, so no 32-bit overflow near 2^32). */
function pad8(n: number): number {
  return n + ((8 - (n & 7)) & 7);
}

/**
 * UTF-8 length of a JS string, or -1 if it holds a lone surrogate (which has no UTF-8 form;
 * Buffer would silently turn it into U+FFFD and change the value).
 */
function utf8Length(s: string): number {
  const n = s.length;
  let len = n;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) len += 1;
    else if (c < 0xd800 || c > 0xdfff) len += 2;
    else if (c <= 0xdbff && i + 1 < n && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      len += 2; // 4 bytes for 2 UTF-16 units
      i++;
    } else return -1;
  }
  return len;
}

/** Bytes of the minimal two's complement form of `v`, sign-extended to a multiple of 8 (at least 8). */
function bigIntegerLength(v: bigint): number {
  // Significant bits of the two's complement form without its sign bit: of ~v for negatives
  // (-1 -> 0 bits, -129 -> 8 bits), of v otherwise.
  const m = v < 0n ? ~v : v;
  let bits = 0;
  if (m !== 0n) {
    const hex = m.toString(16);
    bits = (hex.length - 1) * 4 + (32 - Math.clz32(parseInt(hex[0]!, 16)));
  }
  // +1 for the sign bit, then whole bytes, then whole 8-byte words.
  return pad8((bits + 8) >> 3);
}

/**
 * Per-encode scratch: lengths computed in the size pass, in pre-order, consumed by the write
 * pass (Structure value lengths and Text String UTF-8 lengths), so nothing is measured twice.
 */
class Sizer {
  readonly lens: number[] = [];
}

/** Size pass: validates `item` and returns its encoded size including header and padding. */
function measure(z: Sizer, item: TtlvItem, off: number, depth: number): number {
  if (item === null || typeof item !== 'object') bad(off, 'item is not an object');
  // One read of each field; destructuring keeps TypeScript's narrowing of `value` by `type`.
  const { tag, type, value } = item;
  const hi = tag >>> 16;
  if (typeof tag !== 'number' || tag !== (tag & 0xffffff) || (hi !== 0x42 && hi !== 0x54)) {
    throw new TtlvError(TtlvErrorCode.BadTag, off, `tag ${String(tag)} is not in 0x420000-0x42FFFF or 0x540000-0x54FFFF`);
  }
  switch (type) {
    case ItemType.Structure: {
      if (!Array.isArray(value)) bad(off, 'Structure value is not an array');
      if (depth >= ENCODE_MAX_DEPTH) throw new TtlvError(TtlvErrorCode.TooDeep, off, `Structures nested deeper than ${ENCODE_MAX_DEPTH}`);
      const lens = z.lens;
      const slot = lens.length;
      lens.push(0);
      let len = 0;
      for (let i = 0; i < value.length; i++) len += measure(z, value[i]!, off + 8 + len, depth + 1);
      if (len > MAX_LENGTH) throw new TtlvError(TtlvErrorCode.TooLarge, off, 'Structure longer than 2^32-1 bytes');
      lens[slot] = len;
      return 8 + len;
    }
    case ItemType.Integer:
      if (typeof value !== 'number' || value !== (value | 0)) bad(off, `Integer ${String(value)} is not a signed 32-bit integer`);
      return 16;
    case ItemType.Enumeration:
    case ItemType.Interval:
      if (typeof value !== 'number' || value !== value >>> 0) bad(off, `value ${String(value)} is not an unsigned 32-bit integer`);
      return 16;
    case ItemType.LongInteger:
    case ItemType.DateTime:
    case ItemType.DateTimeExtended:
      if (typeof value !== 'bigint' || value < INT64_MIN || value > INT64_MAX) {
        bad(off, `value ${String(value)} is not a signed 64-bit bigint`);
      }
      return 16;
    case ItemType.BigInteger: {
      if (typeof value !== 'bigint') bad(off, 'Big Integer value is not a bigint');
      const len = bigIntegerLength(value);
      if (len > MAX_LENGTH) throw new TtlvError(TtlvErrorCode.TooLarge, off, 'Big Integer longer than 2^32-1 bytes');
      return 8 + len;
    }
    case ItemType.Boolean:
      if (typeof value !== 'boolean') bad(off, 'Boolean value is not a boolean');
      return 16;
    case ItemType.TextString: {
      if (typeof value !== 'string') bad(off, 'Text String value is not a string');
      const len = utf8Length(value);
      if (len < 0) bad(off, 'Text String holds a lone UTF-16 surrogate');
      if (len > MAX_LENGTH) throw new TtlvError(TtlvErrorCode.TooLarge, off, 'Text String longer than 2^32-1 bytes');
      z.lens.push(len);
      return 8 + pad8(len);
    }
    case ItemType.ByteString:
      if (!(value instanceof Uint8Array)) bad(off, 'Byte String value is not a Uint8Array');
      if (value.length > MAX_LENGTH) throw new TtlvError(TtlvErrorCode.TooLarge, off, 'Byte String longer than 2^32-1 bytes');
      return 8 + pad8(value.length);
    default:
      throw new TtlvError(TtlvErrorCode.UnknownItemType, off + 3, `item type ${String(type)} is not 0x01..0x0B`);
  }
}

function putHeader(b: Buffer, o: number, tag: number, type: number, len: number): void {
  b[o] = tag >>> 16;
  b[o + 1] = tag >>> 8;
  b[o + 2] = tag;
  b[o + 3] = type;
  b[o + 4] = len >>> 24;
  b[o + 5] = len >>> 16;
  b[o + 6] = len >>> 8;
  b[o + 7] = len;
}

function putInt32(b: Buffer, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = v >>> 16;
  b[o + 2] = v >>> 8;
  b[o + 3] = v;
}

/** Four-byte value and four zero padding bytes. */
function put32Padded(b: Buffer, o: number, v: number): void {
  putInt32(b, o, v);
  putInt32(b, o + 4, 0);
}

const TWO_32 = 2 ** 32;

function putInt64(b: Buffer, o: number, v: bigint): void {
  const n = Number(v);
  if (Number.isSafeInteger(n)) {
    // Exact in a double (every real timestamp): split without further BigInt work.
    const hi = Math.floor(n / TWO_32);
    putInt32(b, o, hi);
    putInt32(b, o + 4, n - hi * TWO_32);
  } else {
    putInt32(b, o, Number(BigInt.asIntN(32, v >> 32n)));
    putInt32(b, o + 4, Number(BigInt.asUintN(32, v)));
  }
}

/** State of the write pass: the output, and the size pass's lengths consumed in order from `next`. */
class Writer {
  next = 0;
  constructor(
    readonly b: Buffer,
    readonly lens: number[],
  ) {}
}

/** Writes `item` (already validated by measure) at `o`; returns the offset after it. */
function write(w: Writer, item: TtlvItem, o: number): number {
  const b = w.b;
  const tag = item.tag;
  switch (item.type) {
    case ItemType.Structure: {
      const len = w.lens[w.next++]!;
      putHeader(b, o, tag, ItemType.Structure, len);
      let p = o + 8;
      const children = item.value;
      for (let i = 0; i < children.length; i++) p = write(w, children[i]!, p);
      return p;
    }
    case ItemType.Integer:
    case ItemType.Enumeration:
    case ItemType.Interval:
      putHeader(b, o, tag, item.type, 4);
      put32Padded(b, o + 8, item.value);
      return o + 16;
    case ItemType.LongInteger:
    case ItemType.DateTime:
    case ItemType.DateTimeExtended:
      putHeader(b, o, tag, item.type, 8);
      putInt64(b, o + 8, item.value);
      return o + 16;
    case ItemType.Boolean:
      putHeader(b, o, tag, ItemType.Boolean, 8);
      putInt32(b, o + 8, 0);
      putInt32(b, o + 12, item.value ? 1 : 0);
      return o + 16;
    case ItemType.BigInteger: {
      const v = item.value;
      const len = bigIntegerLength(v);
      putHeader(b, o, tag, ItemType.BigInteger, len);
      if (len === 8) putInt64(b, o + 8, v);
      else b.write(BigInt.asUintN(len * 8, v).toString(16).padStart(len * 2, '0'), o + 8, len, 'hex');
      return o + 8 + len;
    }
    case ItemType.TextString: {
      const s = item.value;
      const len = w.lens[w.next++]!;
      putHeader(b, o, tag, ItemType.TextString, len);
      const start = o + 8;
      if (len === s.length) {
        // ASCII (UTF-8 length equals UTF-16 length only then).
        if (len <= 64) for (let i = 0; i < len; i++) b[start + i] = s.charCodeAt(i);
        else b.write(s, start, len, 'latin1');
      } else {
        b.write(s, start, len, 'utf8');
      }
      return zeroPad(b, start + len);
    }
    default: {
      // Byte String (measure() rejected every other type).
      const v = item.value;
      putHeader(b, o, tag, ItemType.ByteString, v.length);
      b.set(v, o + 8);
      return zeroPad(b, o + 8 + v.length);
    }
  }
}

/** Zeroes from `p` to the next multiple of 8 (the output buffer is not pre-zeroed); returns that offset. */
function zeroPad(b: Buffer, p: number): number {
  while ((p & 7) !== 0) b[p++] = 0;
  return p;
}

/** Exact encoded size of `item` (header and padding included); validates like encodeTtlv. */
export function encodedSize(item: TtlvItem): number {
  return measure(new Sizer(), item, 0, 0);
}

/**
 * Encodes one item (normally a whole message). Throws `TtlvError` (BadValue, BadTag,
 * UnknownItemType, TooDeep, TooLarge) on a tree that cannot be encoded.
 *
 * The result is a Buffer from `Buffer.allocUnsafe`: small results share Node's 8 KiB pool
 * (every byte, padding included, is written, so no stale memory leaks out); a caller that put
 * secrets in it should zero it after use.
 */
export function encodeTtlv(item: TtlvItem): Buffer {
  const z = new Sizer();
  const size = measure(z, item, 0, 0);
  const out = Buffer.allocUnsafe(size);
  write(new Writer(out, z.lens), item, 0);
  return out;
}
