import { decodeTtlv } from '../../../ttlv/decode';
import { ENCODE_MAX_DEPTH, encodeTtlv, encodedSize } from '../../../ttlv/encode';
import { TtlvError, TtlvErrorCode } from '../../../ttlv/errors';
import { ttlv, type TtlvItem, type TtlvStructure } from '../../../ttlv/types';
import { hexOf, loadSpecExamples } from '../../helpers/ttlv-vectors';

const T = 0x420020;

function encodeError(item: unknown): TtlvError {
  try {
    encodeTtlv(item as TtlvItem);
  } catch (e) {
    expect(e).toBeInstanceOf(TtlvError);
    return e as TtlvError;
  }
  throw new Error('encodeTtlv did not throw');
}

/** Hex of the value part of a Big Integer item. */
function bigHex(v: bigint): string {
  return hexOf(encodeTtlv(ttlv.bigInteger(T, v))).slice(16);
}

describe('KMIP 1.4 section 9.1.2 examples, from hand-built trees', () => {
  const hex = loadSpecExamples().map((e) => e.hex);
  test.each([
    [0, ttlv.integer(T, 8)],
    [1, ttlv.longInteger(T, 123456789000000000n)],
    [2, ttlv.bigInteger(T, 1234567890000000000000000000n)],
    [3, ttlv.enumeration(T, 255)],
    [4, ttlv.boolean(T, true)],
    [5, ttlv.textString(T, 'Hello World')],
    [6, ttlv.byteString(T, Uint8Array.of(1, 2, 3))],
    [7, ttlv.dateTime(T, 1205495800n)],
    [8, ttlv.interval(T, 864000)],
    [9, ttlv.structure(T, [ttlv.enumeration(0x420004, 254), ttlv.integer(0x420005, 255)])],
  ] as const)('example %i', (i, item) => {
    expect(hexOf(encodeTtlv(item))).toBe(hex[i]);
  });
});

describe('Big Integer: minimal two\'s complement, sign-extended to a multiple of 8 bytes', () => {
  test.each([
    [0n, '0000000000000000'],
    [1n, '0000000000000001'],
    [-1n, 'FFFFFFFFFFFFFFFF'],
    [127n, '000000000000007F'],
    [128n, '0000000000000080'],
    [-128n, 'FFFFFFFFFFFFFF80'],
    [-129n, 'FFFFFFFFFFFFFF7F'],
    [2n ** 63n - 1n, '7FFFFFFFFFFFFFFF'],
    [-(2n ** 63n), '8000000000000000'],
    [2n ** 63n, '00000000000000008000000000000000'],
    [-(2n ** 63n) - 1n, 'FFFFFFFFFFFFFFFF7FFFFFFFFFFFFFFF'],
    [2n ** 64n - 1n, '0000000000000000FFFFFFFFFFFFFFFF'],
    [-(2n ** 64n), 'FFFFFFFFFFFFFFFF0000000000000000'],
    [2n ** 127n - 1n, '7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF'],
    [2n ** 127n, '000000000000000080000000000000000000000000000000'],
    [1234567890000000000000000000n, '0000000003FD35EB6BC2DF4618080000'],
  ])('%s', (v, hex) => {
    expect(bigHex(v)).toBe(hex);
    expect(decodeTtlv(encodeTtlv(ttlv.bigInteger(T, v)))).toEqual(ttlv.bigInteger(T, v));
  });

  test('a 4096-bit modulus takes 512 bytes, or 520 with its top bit set', () => {
    expect(bigHex(2n ** 4094n).length / 2).toBe(512);
    expect(bigHex(2n ** 4095n).length / 2).toBe(520);
  });
});

describe('64-bit values', () => {
  test.each([0n, 1n, -1n, 2n ** 32n, -(2n ** 32n), 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, -(2n ** 53n) - 1n, 2n ** 63n - 1n, -(2n ** 63n)])(
    '%s round-trips exactly as Long Integer, Date-Time and Date-Time Extended',
    (v) => {
      for (const item of [ttlv.longInteger(T, v), ttlv.dateTime(T, v), ttlv.dateTimeExtended(T, v)]) {
        const b = encodeTtlv(item);
        expect(b.readBigInt64BE(8)).toBe(v);
        expect(decodeTtlv(b)).toEqual(item);
      }
    },
  );
});

describe('output', () => {
  test('is a Buffer of exactly encodedSize bytes, padding zero', () => {
    // Dirty the allocation pool first: padding must be written, not inherited.
    for (let i = 0; i < 100; i++) Buffer.allocUnsafe(64).fill(0xaa);
    const item = ttlv.structure(0x420078, [
      ttlv.textString(0x420094, 'a'),
      ttlv.textString(0x420094, 'é'),
      ttlv.byteString(0x420043, Uint8Array.of(0xff)),
      ttlv.integer(0x42006a, -1),
      ttlv.enumeration(0x42005c, 0xffffffff),
      ttlv.interval(0x420020, 0xffffffff),
      ttlv.boolean(0x420021, false),
    ]);
    const b = encodeTtlv(item);
    expect(Buffer.isBuffer(b)).toBe(true);
    expect(b.length).toBe(encodedSize(item));
    expect(hexOf(b)).toBe(
      [
        '4200780100000070',
        '420094070000000161' + '00'.repeat(7),
        '4200940700000002C3A9' + '00'.repeat(6),
        '4200430800000001FF' + '00'.repeat(7),
        '42006A0200000004FFFFFFFF00000000',
        '42005C0500000004FFFFFFFF00000000',
        '4200200A00000004FFFFFFFF00000000',
        '42002106000000080000000000000000',
      ].join(''),
    );
  });

  test('text longer than the short path and non-ASCII text are written as UTF-8', () => {
    for (const s of ['x'.repeat(65), 'x'.repeat(1000), 'Schlüssel 🔑'.repeat(20), '\u0000\u007f\u0080\u07ff\u0800\uffff']) {
      const b = encodeTtlv(ttlv.textString(T, s));
      const utf8 = Buffer.from(s, 'utf8');
      expect(b.readUInt32BE(4)).toBe(utf8.length);
      expect(b.subarray(8, 8 + utf8.length).equals(utf8)).toBe(true);
    }
  });

  test('structure lengths cover nested children', () => {
    const inner = ttlv.structure(0x420002, [ttlv.textString(0x420003, 'abcdefghi')]);
    const b = encodeTtlv(ttlv.structure(0x420001, [inner, ttlv.integer(0x420004, 1)]));
    expect(b.readUInt32BE(4)).toBe(32 + 16);
    expect(b.readUInt32BE(12)).toBe(24);
  });
});

describe('validation', () => {
  test.each([
    ['Integer above int32', ttlv.integer(T, 2 ** 31)],
    ['Integer below int32', ttlv.integer(T, -(2 ** 31) - 1)],
    ['Integer NaN', ttlv.integer(T, Number.NaN)],
    ['Integer fraction', ttlv.integer(T, 0.5)],
    ['Enumeration negative', ttlv.enumeration(T, -1)],
    ['Enumeration above uint32', ttlv.enumeration(T, 2 ** 32)],
    ['Interval fraction', ttlv.interval(T, 1.5)],
    ['Long Integer above int64', ttlv.longInteger(T, 2n ** 63n)],
    ['Date-Time below int64', ttlv.dateTime(T, -(2n ** 63n) - 1n)],
    ['Date-Time Extended above int64', ttlv.dateTimeExtended(T, 2n ** 64n)],
    ['Long Integer as a number', { tag: T, type: 3, value: 5 }],
    ['Big Integer as a number', { tag: T, type: 4, value: 5 }],
    ['Boolean as a number', { tag: T, type: 6, value: 0 }],
    ['Text String as a number', { tag: T, type: 7, value: 5 }],
    ['Text String with a lone high surrogate', ttlv.textString(T, 'a\ud83d')],
    ['Text String with a reversed pair', ttlv.textString(T, '\udd11\ud83d')],
    ['Byte String as an array', { tag: T, type: 8, value: [1, 2] }],
    ['Structure value not an array', { tag: T, type: 1, value: {} }],
    ['item null', null],
    ['item a number', 5],
  ])('%s is BadValue', (_name, item) => {
    expect(encodeError(item).code).toBe(TtlvErrorCode.BadValue);
  });

  test.each([[0x430000], [0x41ffff], [0x550000], [0x1420000], [-1], [0x420000 + 0.5], [Number.NaN]])('tag %d is BadTag', (tag) => {
    expect(encodeError({ tag, type: 2, value: 1 }).code).toBe(TtlvErrorCode.BadTag);
  });

  test('unknown item type', () => {
    const e = encodeError(ttlv.structure(0x420001, [{ tag: T, type: 0x0c, value: 1 } as unknown as TtlvItem]));
    expect([e.code, e.offset]).toEqual([TtlvErrorCode.UnknownItemType, 8 + 3]);
  });

  test('the offset is where the item would start in the output', () => {
    const e = encodeError(
      ttlv.structure(0x420001, [ttlv.textString(0x420002, 'x'.repeat(17)), ttlv.structure(0x420003, [ttlv.integer(0x420004, 2 ** 40)])]),
    );
    expect([e.code, e.offset]).toEqual([TtlvErrorCode.BadValue, 8 + 8 + 24 + 8]);
  });

  test('a cyclic tree fails with TooDeep, not a stack overflow', () => {
    const s: TtlvStructure = ttlv.structure(0x420001, []);
    s.value.push(s);
    expect(encodeError(s).code).toBe(TtlvErrorCode.TooDeep);
  });

  test('nesting up to ENCODE_MAX_DEPTH encodes', () => {
    let item: TtlvItem = ttlv.integer(T, 1);
    for (let i = 0; i < ENCODE_MAX_DEPTH; i++) item = ttlv.structure(0x420001, [item]);
    expect(encodedSize(item)).toBe(ENCODE_MAX_DEPTH * 8 + 16);
    expect(encodeError(ttlv.structure(0x420001, [item])).code).toBe(TtlvErrorCode.TooDeep);
  });
});
