import {
  DEFAULT_DECODE_LIMITS,
  DEFAULT_MAX_DEPTH,
  DEFAULT_MAX_ITEMS,
  DEFAULT_MAX_MESSAGE_BYTES,
  HARD_MAX_DEPTH,
  decodeTtlv,
  isValidTag,
  resolveDecodeLimits,
} from '../../../ttlv/decode';
import { encodeTtlv } from '../../../ttlv/encode';
import { TtlvError, TtlvErrorCode } from '../../../ttlv/errors';
import { ItemType, ttlv, type TtlvItem } from '../../../ttlv/types';
import { bytesOf, hexOf, loadSpecExamples } from '../../helpers/ttlv-vectors';

function header(tag: number, type: number, len: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUIntBE(tag, 0, 3);
  b[3] = type;
  b.writeUInt32BE(len, 4);
  return b;
}

/** `n` Structures, each the only child of the one before. */
function nested(n: number): Buffer {
  const b = Buffer.alloc(n * 8);
  for (let i = 0; i < n; i++) header(0x420001, ItemType.Structure, (n - i - 1) * 8).copy(b, i * 8);
  return b;
}

function decodeError(bytes: Uint8Array, limits?: Parameters<typeof decodeTtlv>[1]): TtlvError {
  try {
    decodeTtlv(bytes, limits);
  } catch (e) {
    expect(e).toBeInstanceOf(TtlvError);
    return e as TtlvError;
  }
  throw new Error('decodeTtlv did not throw');
}

describe('KMIP 1.4 section 9.1.2 examples (read from ../shared)', () => {
  const examples = loadSpecExamples();
  const T = 0x420020;
  // The values the spec's descriptions state, in the file's order.
  const expected: TtlvItem[] = [
    ttlv.integer(T, 8),
    ttlv.longInteger(T, 123456789000000000n),
    ttlv.bigInteger(T, 1234567890000000000000000000n),
    ttlv.enumeration(T, 255),
    ttlv.boolean(T, true),
    ttlv.textString(T, 'Hello World'),
    ttlv.byteString(T, Uint8Array.of(1, 2, 3)),
    ttlv.dateTime(T, BigInt(Date.UTC(2008, 2, 14, 11, 56, 40) / 1000)),
    ttlv.interval(T, 10 * 24 * 3600),
    ttlv.structure(T, [ttlv.enumeration(0x420004, 254), ttlv.integer(0x420005, 255)]),
  ];

  test('there are ten', () => {
    expect(examples).toHaveLength(10);
  });

  test.each(examples.map((e, i) => [e.description, e.hex, i] as const))('%s', (_d, hex, i) => {
    const item = decodeTtlv(bytesOf(hex));
    expect(item).toEqual(expected[i]);
    expect(hexOf(encodeTtlv(item))).toBe(hex);
  });
});

describe('values', () => {
  test('signed and unsigned 32-bit values', () => {
    expect(decodeTtlv(bytesOf('4200200200000004FFFFFFFF00000000'))).toEqual(ttlv.integer(0x420020, -1));
    expect(decodeTtlv(bytesOf('4200200500000004FFFFFFFF00000000'))).toEqual(ttlv.enumeration(0x420020, 0xffffffff));
    expect(decodeTtlv(bytesOf('4200200A000000048000000000000000'))).toEqual(ttlv.interval(0x420020, 0x80000000));
  });

  test('64-bit values are signed bigints', () => {
    expect(decodeTtlv(bytesOf('4200200300000008FFFFFFFFFFFFFFFF'))).toEqual(ttlv.longInteger(0x420020, -1n));
    expect(decodeTtlv(bytesOf('42002009000000088000000000000000'))).toEqual(ttlv.dateTime(0x420020, -(2n ** 63n)));
    expect(decodeTtlv(bytesOf('4200200B000000087FFFFFFFFFFFFFFF'))).toEqual(
      ttlv.dateTimeExtended(0x420020, 2n ** 63n - 1n),
    );
  });

  test('Big Integer is signed two\'s complement of any multiple of 8 bytes', () => {
    expect(decodeTtlv(bytesOf('4200200400000008FFFFFFFFFFFFFF7F'))).toEqual(ttlv.bigInteger(0x420020, -129n));
    // Non-minimal (sign extension beyond what is needed) is accepted; encode normalises it.
    const padded = decodeTtlv(bytesOf('4200200400000010FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFE'));
    expect(padded).toEqual(ttlv.bigInteger(0x420020, -2n));
    expect(hexOf(encodeTtlv(padded))).toBe('4200200400000008FFFFFFFFFFFFFFFE');
  });

  test('a 1 MiB Big Integer decodes in linear time', () => {
    const len = 1024 * 1024 - 8;
    const b = Buffer.concat([header(0x420020, ItemType.BigInteger, len), Buffer.alloc(len, 0xff)]);
    expect(decodeTtlv(b)).toEqual(ttlv.bigInteger(0x420020, -1n));
  });

  test('text: ASCII short and long, multi-byte UTF-8, BOM kept', () => {
    for (const s of ['', 'a', '0123456789abcdef', '0123456789abcdefX', 'x'.repeat(5000), 'Grüße 鍵 🔑', '\uFEFFBOM', 'é'.repeat(3000)]) {
      const enc = encodeTtlv(ttlv.textString(0x420020, s));
      expect(decodeTtlv(enc)).toEqual(ttlv.textString(0x420020, s));
    }
  });

  test('Byte String values are plain Uint8Array copies, never views of the input', () => {
    const input = Buffer.from(bytesOf('42002008000000030102030000000000'));
    const item = decodeTtlv(input);
    if (item.type !== ItemType.ByteString) throw new Error('not a Byte String');
    expect(item.value.constructor).toBe(Uint8Array);
    input[8] = 0xee;
    expect(Array.from(item.value)).toEqual([1, 2, 3]);
  });

  test('input may be a Buffer, a Uint8Array, or a view at an offset into a larger buffer', () => {
    const msg = encodeTtlv(
      ttlv.structure(0x420078, [ttlv.textString(0x420094, 'identifier-longer-than-sixteen'), ttlv.byteString(0x420043, Uint8Array.of(9, 8, 7))]),
    );
    const big = new Uint8Array(msg.length + 13);
    big.set(msg, 5);
    const expected = decodeTtlv(msg);
    expect(decodeTtlv(new Uint8Array(msg))).toEqual(expected);
    expect(decodeTtlv(big.subarray(5, 5 + msg.length))).toEqual(expected);
    expect(decodeTtlv(Buffer.from(big.buffer, 5, msg.length))).toEqual(expected);
  });

  test('Boolean false and true', () => {
    expect(decodeTtlv(bytesOf('42002006000000080000000000000000'))).toEqual(ttlv.boolean(0x420020, false));
    expect(decodeTtlv(bytesOf('42002006000000080000000000000001'))).toEqual(ttlv.boolean(0x420020, true));
  });

  test('extension tags 0x54xxxx are accepted, and tags keep their 3 bytes', () => {
    expect(decodeTtlv(bytesOf('54FFFF02000000040000000100000000'))).toEqual(ttlv.integer(0x54ffff, 1));
    expect(isValidTag(0x420000)).toBe(true);
    expect(isValidTag(0x54ffff)).toBe(true);
    expect(isValidTag(0x550000)).toBe(false);
    expect(isValidTag(0x1420000)).toBe(false);
    expect(isValidTag(-1)).toBe(false);
    expect(isValidTag(0x420000 + 0.5)).toBe(false);
  });
});

describe('limits', () => {
  test('defaults', () => {
    expect(DEFAULT_DECODE_LIMITS).toEqual({ maxMessageBytes: 1024 * 1024, maxDepth: 32, maxItems: 65536 });
    expect([DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_MAX_DEPTH, DEFAULT_MAX_ITEMS]).toEqual([1024 * 1024, 32, 65536]);
    expect(Object.isFrozen(DEFAULT_DECODE_LIMITS)).toBe(true);
  });

  test('depth: exactly the limit passes, one more fails at the innermost Structure', () => {
    expect(() => decodeTtlv(nested(DEFAULT_MAX_DEPTH))).not.toThrow();
    const e = decodeError(nested(DEFAULT_MAX_DEPTH + 1));
    expect([e.code, e.offset]).toEqual([TtlvErrorCode.TooDeep, DEFAULT_MAX_DEPTH * 8]);
    expect(() => decodeTtlv(nested(HARD_MAX_DEPTH), { maxDepth: HARD_MAX_DEPTH })).not.toThrow();
  });

  test('a deep hostile nest fails with TooDeep, not a stack overflow', () => {
    const e = decodeError(nested(100_000), { maxDepth: HARD_MAX_DEPTH });
    expect(e.code).toBe(TtlvErrorCode.TooDeep);
  });

  test('items: exactly the limit passes, one more fails', () => {
    const three = encodeTtlv(ttlv.structure(0x420001, [ttlv.integer(0x420002, 1), ttlv.integer(0x420003, 2)]));
    expect(() => decodeTtlv(three, { maxItems: 3 })).not.toThrow();
    const e = decodeError(three, { maxItems: 2 });
    expect([e.code, e.offset]).toEqual([TtlvErrorCode.TooManyItems, 24]);
  });

  test('items: the default stops a flood of empty strings', () => {
    const n = DEFAULT_MAX_ITEMS + 1;
    const body = Buffer.alloc(n * 8);
    for (let i = 0; i < n; i++) header(0x420002, ItemType.TextString, 0).copy(body, i * 8);
    const e = decodeError(Buffer.concat([header(0x420001, ItemType.Structure, body.length), body]));
    expect(e.code).toBe(TtlvErrorCode.TooManyItems);
  });

  test('message size: exactly the limit passes, one word more fails before reading', () => {
    const msg = encodeTtlv(ttlv.structure(0x420001, [ttlv.integer(0x420002, 1)]));
    expect(() => decodeTtlv(msg, { maxMessageBytes: msg.length })).not.toThrow();
    const e = decodeError(msg, { maxMessageBytes: msg.length - 8 });
    expect([e.code, e.offset]).toEqual([TtlvErrorCode.TooLarge, 0]);
  });

  test('partial limits keep the other defaults', () => {
    expect(resolveDecodeLimits({ maxDepth: 4 })).toEqual({ ...DEFAULT_DECODE_LIMITS, maxDepth: 4 });
    expect(resolveDecodeLimits()).toBe(DEFAULT_DECODE_LIMITS);
  });

  test.each([
    [{ maxDepth: HARD_MAX_DEPTH + 1 }],
    [{ maxDepth: -1 }],
    [{ maxDepth: 1.5 }],
    [{ maxItems: 0 }],
    [{ maxMessageBytes: 7 }],
    [{ maxMessageBytes: Number.NaN }],
  ])('bad limits %j are a TtlvError too', (limits) => {
    expect(decodeError(bytesOf('42002002000000040000000800000000'), limits).code).toBe(TtlvErrorCode.BadLimits);
  });

  test('a hostile length allocates nothing (16 bytes claiming 4 GiB)', () => {
    const before = process.memoryUsage().arrayBuffers;
    for (let i = 0; i < 200; i++) {
      expect(decodeError(bytesOf('42002008FFFFFFF80000000000000000')).code).toBe(TtlvErrorCode.Truncated);
      expect(decodeError(bytesOf('4200780180000000420020020000000400000001')).code).toBe(TtlvErrorCode.Truncated);
    }
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(1024 * 1024);
  });
});

describe('errors', () => {
  test('carry code, offset, name and a message naming both', () => {
    const e = decodeError(bytesOf('4200200C000000040000000800000000'));
    expect(e.name).toBe('TtlvError');
    expect(e.code).toBe(TtlvErrorCode.UnknownItemType);
    expect(e.offset).toBe(3);
    expect(e.message).toContain('TTLV_UNKNOWN_ITEM_TYPE at 3');
  });

  test('type is checked before the length, and the length before the extent', () => {
    // Unknown type with a hostile length: the type is reported.
    expect(decodeError(bytesOf('4200200CFFFFFFFF')).code).toBe(TtlvErrorCode.UnknownItemType);
    // Integer with a hostile length: BadLength, not Truncated.
    expect(decodeError(bytesOf('42002002FFFFFFFF')).code).toBe(TtlvErrorCode.BadLength);
  });

  test('a truncated prefix of a valid message is Truncated at 0, whatever the cut', () => {
    const msg = encodeTtlv(
      ttlv.structure(0x420078, [ttlv.textString(0x420094, 'abc'), ttlv.longInteger(0x420020, 5n), ttlv.bigInteger(0x420021, 2n ** 70n)]),
    );
    for (let cut = 0; cut < msg.length; cut++) {
      const e = decodeError(msg.subarray(0, cut));
      expect([e.code, e.offset]).toEqual([TtlvErrorCode.Truncated, 0]);
    }
  });
});
