/**
 * Binary TTLV -> generic tree. Strict: every deviation from the encoding rules is a `TtlvError`
 * with a stable code and the byte offset where it was found, and nothing else is ever thrown.
 *
 * Hostile input: no declared length is trusted. Every length is checked against the bytes that
 * remain (in the input and in the enclosing Structure) before anything is read or allocated, so
 * the memory a decode uses is bounded by the input size and `maxItems`, never by a header.
 */
import { TtlvError, TtlvErrorCode } from './errors';
import { ItemType, type TtlvItem } from './types';

export interface DecodeLimits {
  /** Largest accepted input in bytes, header included. */
  readonly maxMessageBytes: number;
  /** Most Structures on any path from the top item down, the top Structure counting 1. */
  readonly maxDepth: number;
  /** Most items (of any type, Structures included) in one message. */
  readonly maxItems: number;
}

/**
 * 1 MiB. The largest legitimate messages are Register/Get of big certificates or keys and
 * Locate responses with many identifiers, all far below this; a client that needs more can be
 * given more by configuration. It bounds the buffering of one connection.
 */
export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024;

/**
 * 32. The deepest KMIP 1.x/2.x paths (Request Message > Batch Item > Request Payload >
 * Template-Attribute > Attribute > Attribute Value > Key Block > Key Value > Key Material >
 * Transparent key fields, or nested Attributes / Vendor Extensions) stay near 10 levels, so 32
 * leaves room for extensions while keeping the recursion of every tree walker tiny.
 */
export const DEFAULT_MAX_DEPTH = 32;

/**
 * 65,536. A realistic item takes at least 16 bytes (8 header + 8 value), so a 1 MiB message
 * holds no more than this; each decoded item costs a JS object (~50-100 bytes), so this also
 * caps the tree's memory (a few MiB) when `maxMessageBytes` is raised.
 */
export const DEFAULT_MAX_ITEMS = 65_536;

/**
 * 256. Upper bound accepted for `maxDepth`: the decoder recurses once per Structure level, and
 * this keeps the JS stack use small whatever the configuration says.
 */
export const HARD_MAX_DEPTH = 256;

export const DEFAULT_DECODE_LIMITS: DecodeLimits = Object.freeze({
  maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
  maxDepth: DEFAULT_MAX_DEPTH,
  maxItems: DEFAULT_MAX_ITEMS,
});

/** Checks and completes caller-supplied limits (call once at start-up and reuse the result). */
export function resolveDecodeLimits(limits?: Partial<DecodeLimits>): DecodeLimits {
  if (limits === undefined || limits === DEFAULT_DECODE_LIMITS) return DEFAULT_DECODE_LIMITS;
  const r: DecodeLimits = {
    maxMessageBytes: limits.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
    maxDepth: limits.maxDepth ?? DEFAULT_MAX_DEPTH,
    maxItems: limits.maxItems ?? DEFAULT_MAX_ITEMS,
  };
  // A bad limit is a configuration bug, but decodeTtlv promises to throw nothing but TtlvError.
  if (!Number.isSafeInteger(r.maxMessageBytes) || r.maxMessageBytes < 8) {
    throw new TtlvError(TtlvErrorCode.BadLimits, 0, `maxMessageBytes must be an integer >= 8`);
  }
  if (!Number.isSafeInteger(r.maxDepth) || r.maxDepth < 0 || r.maxDepth > HARD_MAX_DEPTH) {
    throw new TtlvError(TtlvErrorCode.BadLimits, 0, `maxDepth must be an integer in 0..${HARD_MAX_DEPTH}`);
  }
  if (!Number.isSafeInteger(r.maxItems) || r.maxItems < 1) {
    throw new TtlvError(TtlvErrorCode.BadLimits, 0, `maxItems must be an integer >= 1`);
  }
  return r;
}

/** Fatal: malformed UTF-8 throws instead of becoming U+FFFD. ignoreBOM: keep a leading BOM as data. */
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Text Strings up to this long are built char by char; longer ones go through Buffer's native latin1. */
const SHORT_TEXT = 16;

/**
 * Decoding state for one call. A class (not closures) so V8 keeps one stable shape and the
 * per-item functions below stay monomorphic.
 */
class Reader {
  /** Buffer view of the input, made on first need (long ASCII text, Big Integers). */
  private buf: Buffer | null;
  /** Plain Uint8Array view of the input, made on first need (Byte String copies). */
  private plain: Uint8Array | null;
  items = 0;
  /** Offset just past the item most recently read. */
  pos = 0;

  constructor(
    readonly b: Uint8Array,
    readonly maxDepth: number,
    readonly maxItems: number,
  ) {
    this.buf = Buffer.isBuffer(b) ? b : null;
    this.plain = b.constructor === Uint8Array ? b : null;
  }

  /**
   * A copy of bytes [start, end), always a plain Uint8Array (slicing a Buffer through the
   * prototype would give a Buffer, whose own slice() is a view: a trap for callers).
   */
  copy(start: number, end: number): Uint8Array {
    let u = this.plain;
    if (u === null) u = this.plain = new Uint8Array(this.b.buffer, this.b.byteOffset, this.b.byteLength);
    return u.slice(start, end);
  }

  private buffer(): Buffer {
    let buf = this.buf;
    if (buf === null) buf = this.buf = Buffer.from(this.b.buffer, this.b.byteOffset, this.b.byteLength);
    return buf;
  }

  latin1(start: number, end: number): string {
    return this.buffer().toString('latin1', start, end);
  }

  hex(start: number, end: number): string {
    return this.buffer().toString('hex', start, end);
  }
}

function fail(code: TtlvErrorCode, offset: number, message: string): never {
  throw new TtlvError(code, offset, message);
}

function int32At(b: Uint8Array, o: number): number {
  return (b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!;
}

function int64At(b: Uint8Array, o: number): bigint {
  // hi signed, lo unsigned: the sum is the signed 64-bit value without BigInt.asIntN.
  return (BigInt(int32At(b, o)) << 32n) + BigInt(int32At(b, o + 4) >>> 0);
}

/** Zero padding after a value of `len` bytes starting at `start`, up to the next 8-byte boundary. */
function checkPadding(b: Uint8Array, start: number, len: number): void {
  // Low 3 bits only: no 32-bit overflow whatever `len` is.
  const end = start + len + ((8 - (len & 7)) & 7);
  for (let i = start + len; i < end; i++) {
    if (b[i] !== 0) fail(TtlvErrorCode.NonZeroPadding, i, 'padding byte is not zero');
  }
}

function readText(r: Reader, start: number, len: number): string {
  const b = r.b;
  const end = start + len;
  let i = start;
  while (i < end && b[i]! < 0x80) i++;
  if (i === end) {
    // Pure ASCII (the common case: identifiers, names): no validation needed.
    if (len <= SHORT_TEXT) {
      let s = '';
      for (let j = start; j < end; j++) s += String.fromCharCode(b[j]!);
      return s;
    }
    return r.latin1(start, end);
  }
  try {
    return utf8.decode(b.subarray(start, end));
  } catch {
    return fail(TtlvErrorCode.BadUtf8, start, 'Text String is not valid UTF-8');
  }
}

function readBigInteger(r: Reader, start: number, len: number): bigint {
  if (len === 8) return int64At(r.b, start);
  // Through hex: linear in the length (a shift-and-or loop would be quadratic on hostile sizes).
  return BigInt.asIntN(len * 8, BigInt('0x' + r.hex(start, start + len)));
}

/**
 * Reads the item at `off`, which must end by `limit` (end of input, or of the parent Structure).
 * Returns the item and leaves `r.pos` just past it (padding included).
 */
function readItem(r: Reader, off: number, limit: number, depth: number, nested: boolean): TtlvItem {
  const b = r.b;
  if (limit - off < 8) {
    fail(nested ? TtlvErrorCode.ChildOverrunsParent : TtlvErrorCode.Truncated, off, 'item header does not fit');
  }
  const t0 = b[off]!;
  if (t0 !== 0x42 && t0 !== 0x54) fail(TtlvErrorCode.BadTag, off, `tag must be 0x42xxxx or 0x54xxxx`);
  const tag = (t0 << 16) | (b[off + 1]! << 8) | b[off + 2]!;
  const type = b[off + 3]!;
  const len = int32At(b, off + 4) >>> 0;
  if (++r.items > r.maxItems) fail(TtlvErrorCode.TooManyItems, off, `more than ${r.maxItems} items`);

  const start = off + 8;
  // Per type: the declared length (cheap, specific), then whether the padded item fits in
  // `limit`, then the value. Fixed-size items all take 16 bytes.
  switch (type) {
    case ItemType.Structure: {
      if ((len & 7) !== 0) fail(TtlvErrorCode.BadLength, off + 4, `Structure length ${len} is not a multiple of 8`);
      if (depth >= r.maxDepth) fail(TtlvErrorCode.TooDeep, off, `Structures nested deeper than ${r.maxDepth}`);
      // len < 2^32 and limit <= 2^53: plain double arithmetic, no overflow.
      const end = start + len;
      if (end > limit) overrun(off, len, nested);
      const value: TtlvItem[] = [];
      let p = start;
      while (p < end) {
        value.push(readItem(r, p, end, depth + 1, true));
        p = r.pos;
      }
      r.pos = end;
      return { tag, type: ItemType.Structure, value };
    }
    case ItemType.Integer:
      fixed(r, off, len, 4, limit, nested, 'Integer');
      return { tag, type: ItemType.Integer, value: int32At(b, start) };
    case ItemType.Enumeration:
      fixed(r, off, len, 4, limit, nested, 'Enumeration');
      return { tag, type: ItemType.Enumeration, value: int32At(b, start) >>> 0 };
    case ItemType.Interval:
      fixed(r, off, len, 4, limit, nested, 'Interval');
      return { tag, type: ItemType.Interval, value: int32At(b, start) >>> 0 };
    case ItemType.LongInteger:
      fixed(r, off, len, 8, limit, nested, 'Long Integer');
      return { tag, type: ItemType.LongInteger, value: int64At(b, start) };
    case ItemType.DateTime:
      fixed(r, off, len, 8, limit, nested, 'Date-Time');
      return { tag, type: ItemType.DateTime, value: int64At(b, start) };
    case ItemType.DateTimeExtended:
      fixed(r, off, len, 8, limit, nested, 'Date-Time Extended');
      return { tag, type: ItemType.DateTimeExtended, value: int64At(b, start) };
    case ItemType.Boolean:
      fixed(r, off, len, 8, limit, nested, 'Boolean');
      // Only 0 and 1 are booleans: the upper seven bytes must be zero too.
      if ((int32At(b, start) | b[start + 4]! | b[start + 5]! | b[start + 6]!) !== 0 || b[start + 7]! > 1) {
        fail(TtlvErrorCode.BadBoolean, start, 'Boolean value must be 0 or 1');
      }
      return { tag, type: ItemType.Boolean, value: b[start + 7] === 1 };
    case ItemType.BigInteger:
      if (len === 0 || (len & 7) !== 0) {
        fail(TtlvErrorCode.BadLength, off + 4, `Big Integer length ${len} is not a non-zero multiple of 8`);
      }
      if (start + len > limit) overrun(off, len, nested);
      r.pos = start + len;
      return { tag, type: ItemType.BigInteger, value: readBigInteger(r, start, len) };
    case ItemType.TextString:
      variable(r, off, len, limit, nested);
      return { tag, type: ItemType.TextString, value: readText(r, start, len) };
    case ItemType.ByteString:
      variable(r, off, len, limit, nested);
      // A copy, so the tree never aliases the caller's buffer (which may be reused or zeroed).
      return { tag, type: ItemType.ByteString, value: r.copy(start, start + len) };
    default:
      return fail(TtlvErrorCode.UnknownItemType, off + 3, `item type 0x${type.toString(16).padStart(2, '0')} is not 0x01..0x0B`);
  }
}

/** The item at `off` runs past `limit`: the input's end (Truncated) or its parent's. */
function overrun(off: number, len: number, nested: boolean): never {
  return fail(nested ? TtlvErrorCode.ChildOverrunsParent : TtlvErrorCode.Truncated, off, `item of ${len} bytes does not fit`);
}

/**
 * Checks a fixed-size item (value `want` = 4 or 8 bytes, 16 in all with header and padding):
 * length, extent, zero padding. Sets `r.pos` past it.
 */
function fixed(r: Reader, off: number, len: number, want: number, limit: number, nested: boolean, typeName: string): void {
  if (len !== want) fail(TtlvErrorCode.BadLength, off + 4, `${typeName} length must be ${want}, not ${len}`);
  if (off + 16 > limit) overrun(off, len, nested);
  if (want === 4) {
    const b = r.b;
    if ((b[off + 12]! | b[off + 13]! | b[off + 14]! | b[off + 15]!) !== 0) checkPadding(b, off + 8, 4);
  }
  r.pos = off + 16;
}

/** Checks a Text or Byte String's extent and zero padding. Sets `r.pos` past it. */
function variable(r: Reader, off: number, len: number, limit: number, nested: boolean): void {
  const end = off + 8 + len + ((8 - (len & 7)) & 7);
  if (end > limit) overrun(off, len, nested);
  checkPadding(r.b, off + 8, len);
  r.pos = end;
}

/**
 * Decodes exactly one TTLV item (normally a Request or Response Message) filling all of `bytes`.
 * Throws `TtlvError` only.
 */
export function decodeTtlv(bytes: Uint8Array, limits?: Partial<DecodeLimits>): TtlvItem {
  const l = resolveDecodeLimits(limits);
  if (bytes.length > l.maxMessageBytes) {
    fail(TtlvErrorCode.TooLarge, 0, `message of ${bytes.length} bytes exceeds ${l.maxMessageBytes}`);
  }
  const r = new Reader(bytes, l.maxDepth, l.maxItems);
  const item = readItem(r, 0, bytes.length, 0, false);
  if (r.pos !== bytes.length) fail(TtlvErrorCode.TrailingBytes, r.pos, `${bytes.length - r.pos} bytes after the item`);
  return item;
}

/** Whether `tag` is in a range KMIP allows: 0x420000-0x42FFFF (standard) or 0x540000-0x54FFFF (extensions). */
export function isValidTag(tag: number): boolean {
  const hi = tag >>> 16;
  return Number.isInteger(tag) && tag >= 0 && tag <= 0xffffff && (hi === 0x42 || hi === 0x54);
}
