import { encodeTtlv } from '../../../ttlv/encode';
import { formatTree, hexDump } from '../../../ttlv/format';
import { ttlv, type TtlvDictionary, type TtlvNameContext, type ValueDomain } from '../../../ttlv/types';
import { bytesOf, loadSpecExamples } from '../../helpers/ttlv-vectors';

/** A tiny dictionary of our own: the codec must work with any implementation of the interface. */
function domain(kind: ValueDomain['kind'], names: Record<number, string>): ValueDomain {
  return {
    kind,
    nameOf: (v) => names[v],
    valueOf: (n) => {
      const hit = Object.entries(names).find(([, name]) => name === n);
      return hit === undefined ? undefined : Number(hit[0]);
    },
  };
}

const NAMES: Record<number, string> = {
  0x420078: 'RequestMessage',
  0x42006a: 'ProtocolVersionMajor',
  0x42005c: 'Operation',
  0x42002c: 'CryptographicUsageMask',
  0x420008: 'Attribute',
  0x42000a: 'AttributeName',
  0x42000b: 'AttributeValue',
  0x420043: 'KeyMaterial',
  0x420040: 'KeyBlock',
};
const operation = domain('enumeration', { 10: 'Get', 1: 'Create' });
const usage = domain('mask', { 4: 'Encrypt', 8: 'Decrypt' });
const algorithm = domain('enumeration', { 3: 'AES' });

const dictionary: TtlvDictionary = {
  tagName: (tag) => NAMES[tag],
  tagByName: (name) => Number(Object.entries(NAMES).find(([, n]) => n === name)?.[0]),
  valueDomain: (tag: number, ctx: TtlvNameContext) => {
    if (tag === 0x42005c) return operation;
    if (tag === 0x42002c) return usage;
    if (tag === 0x42000b && ctx.attributeName === 'Cryptographic Algorithm') return algorithm;
    return undefined;
  },
  attributeNameTag: 0x42000a,
};

describe('hexDump', () => {
  test('the spec structure example, one item per line, indented by depth', () => {
    const structure = loadSpecExamples()[9]!;
    expect(hexDump(bytesOf(structure.hex))).toBe(
      ['420020 | 01 | 00000020', '  420004 | 05 | 00000004 | 000000FE', '  420005 | 02 | 00000004 | 000000FF'].join('\n'),
    );
  });

  test('every spec example dumps as one line with its value', () => {
    const lines = loadSpecExamples()
      .slice(0, 9)
      .map((e) => hexDump(bytesOf(e.hex)));
    expect(lines[5]).toBe('420020 | 07 | 0000000B | 48656C6C6F20576F726C64');
    expect(lines[6]).toBe('420020 | 08 | 00000003 | 010203');
    for (const l of lines) expect(l.split('\n')).toHaveLength(1);
  });

  test('redacted tags show their length only, and a redacted Structure hides its children', () => {
    const msg = encodeTtlv(
      ttlv.structure(0x420078, [
        ttlv.structure(0x420040, [ttlv.byteString(0x420043, Uint8Array.of(0xde, 0xad))]),
        ttlv.byteString(0x420043, new Uint8Array(32).fill(0x5a)),
      ]),
    );
    const out = hexDump(msg, { redactTags: new Set([0x420040, 0x420043]) });
    expect(out).toBe(
      ['420078 | 01 | 00000040', '  420040 | 01 | 00000010 | <redacted 16 bytes>', '  420043 | 08 | 00000020 | <redacted 32 bytes>'].join('\n'),
    );
    expect(out).not.toMatch(/DEAD|5A5A/);
  });

  test('malformed input is dumped as far as it goes, never thrown', () => {
    const msg = encodeTtlv(ttlv.structure(0x420078, [ttlv.integer(0x42006a, 1), ttlv.textString(0x420094, 'abc')]));
    for (let cut = 0; cut < msg.length; cut++) expect(() => hexDump(msg.subarray(0, cut))).not.toThrow();
    expect(hexDump(msg.subarray(0, 35))).toBe(
      [
        '420078 | 01 | 00000020 !! length runs 5 bytes past the end',
        '  42006A | 02 | 00000004 | 00000001',
        '  420094 | 07 | 00000003 | !! length runs 5 bytes past the end: 616263',
      ].join('\n'),
    );
    expect(hexDump(bytesOf('4200200C00000001AB00000000000000'))).toBe('420020 | 0C | 00000001 | AB !! unknown item type');
    expect(hexDump(bytesOf('42002002000000040000000100000100'))).toBe('420020 | 02 | 00000004 | 00000001 (padding 00000100)');
    expect(hexDump(bytesOf('4200200200000004000000010000000000AA'))).toBe(
      '420020 | 02 | 00000004 | 00000001\n!! 2 bytes too short for an item header: 00AA',
    );
    expect(hexDump(new Uint8Array(0))).toBe('');
  });

  test('a hostile deep nest is cut off, not a stack overflow', () => {
    const n = 10_000;
    const b = Buffer.alloc(n * 8);
    for (let i = 0; i < n; i++) {
      b.writeUIntBE(0x420001, i * 8, 3);
      b[i * 8 + 3] = 1;
      b.writeUInt32BE((n - i - 1) * 8, i * 8 + 4);
    }
    expect(hexDump(b)).toContain('!! nested too deep');
  });
});

describe('formatTree', () => {
  const tree = ttlv.structure(0x420078, [
    ttlv.integer(0x42006a, 1),
    ttlv.enumeration(0x42005c, 10),
    ttlv.enumeration(0x42005c, 99),
    ttlv.integer(0x42002c, 12 | 0x100),
    ttlv.structure(0x420008, [ttlv.textString(0x42000a, 'Cryptographic Algorithm'), ttlv.enumeration(0x42000b, 3)]),
    ttlv.enumeration(0x42000b, 3),
    ttlv.textString(0x420094, 'line\nbreak "quoted"'),
    ttlv.byteString(0x420099, Uint8Array.of(1, 0xab)),
    ttlv.byteString(0x420099, new Uint8Array(0)),
    ttlv.boolean(0x420098, false),
    ttlv.longInteger(0x420097, -(2n ** 63n)),
    ttlv.bigInteger(0x420096, 2n ** 100n),
    ttlv.dateTime(0x420092, 1205495800n),
    ttlv.dateTimeExtended(0x420093, 1205495800000001n),
    ttlv.dateTime(0x420092, 2n ** 62n),
    ttlv.interval(0x420091, 864000),
    ttlv.structure(0x540001, []),
  ]);

  test('named, with enumeration and mask values by name', () => {
    expect(formatTree(tree, { dictionary })).toBe(
      [
        'RequestMessage (Structure)',
        '  ProtocolVersionMajor (Integer) = 1',
        '  Operation (Enumeration) = Get',
        '  Operation (Enumeration) = 0x00000063',
        '  CryptographicUsageMask (Integer) = 268 (Encrypt|Decrypt|0x00000100)',
        '  Attribute (Structure)',
        '    AttributeName (TextString) = "Cryptographic Algorithm"',
        '    AttributeValue (Enumeration) = AES',
        '  AttributeValue (Enumeration) = 0x00000003',
        '  0x420094 (TextString) = "line\\nbreak \\"quoted\\""',
        '  0x420099 (ByteString) = 01AB',
        '  0x420099 (ByteString) = <empty>',
        '  0x420098 (Boolean) = false',
        '  0x420097 (LongInteger) = -9223372036854775808',
        '  0x420096 (BigInteger) = 1267650600228229401496703205376',
        '  0x420092 (DateTime) = 1205495800 (2008-03-14T11:56:40Z)',
        '  0x420093 (DateTimeExtended) = 1205495800000001 (2008-03-14T11:56:40.000001Z)',
        '  0x420092 (DateTime) = 4611686018427387904 (out of range)',
        '  0x420091 (Interval) = 864000',
        '  0x540001 (Structure)',
      ].join('\n'),
    );
  });

  test('without a dictionary, tags are hex and enumerations numbers', () => {
    const out = formatTree(tree).split('\n');
    expect(out[0]).toBe('0x420078 (Structure)');
    expect(out[2]).toBe('  0x42005C (Enumeration) = 0x0000000A');
    expect(out[4]).toBe('  0x42002C (Integer) = 268');
  });

  test('redaction replaces a value or a whole subtree by its encoded length', () => {
    const secret = ttlv.structure(0x420078, [
      ttlv.structure(0x420040, [ttlv.byteString(0x420043, new Uint8Array(32).fill(0x5a)), ttlv.textString(0x420094, 'é')]),
      ttlv.byteString(0x420043, Uint8Array.of(0xde, 0xad, 0xbe)),
      ttlv.textString(0x420050, 'pässword'),
    ]);
    const out = formatTree(secret, { dictionary, redactTags: new Set([0x420040, 0x420043, 0x420050]) });
    expect(out).toBe(
      [
        'RequestMessage (Structure)',
        '  KeyBlock (Structure) = <redacted 56 bytes>',
        '  KeyMaterial (ByteString) = <redacted 3 bytes>',
        '  0x420050 (TextString) = <redacted 9 bytes>',
      ].join('\n'),
    );
    expect(out).not.toMatch(/5A|DEAD|pässword/);
  });

  test('a Date-Time Extended before 1970 keeps a positive fraction', () => {
    expect(formatTree(ttlv.dateTimeExtended(0x420020, -1n))).toBe('0x420020 (DateTimeExtended) = -1 (1969-12-31T23:59:59.999999Z)');
  });
});
