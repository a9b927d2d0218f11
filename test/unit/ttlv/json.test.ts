import { TtlvError, TtlvErrorCode } from '../../../ttlv/errors';
import { ttlv } from '../../../ttlv/types';
import type { TtlvItem } from '../../../ttlv/types';
import { JsonNumber, kmipJsonObject, parseKmipJson, readJson, renderKmipJson } from '../../../ttlv/json';
import type { KmipJsonParseOptions } from '../../../ttlv/json';
import { T, stubDictionary as dict } from '../../helpers/stub-dictionary';

function errorOf(fn: () => unknown): TtlvError {
  try {
    fn();
  } catch (e) {
    if (e instanceof TtlvError) return e;
    throw e;
  }
  throw new Error('expected a TtlvError');
}

const parse = (input: string | unknown, opts?: KmipJsonParseOptions): TtlvItem => parseKmipJson(input, dict, opts);
const one = (type: string, value: string, tag = 'UniqueIdentifier'): TtlvItem => parse(`{"tag":"${tag}","type":"${type}","value":${value}}`);

describe('readJson', () => {
  test('keeps number literals as written', () => {
    const v = readJson('{"a":[1, -0, 12345678901234567890123, 1.5e3, true, false, null, "x\\u00e9\\n"]}');
    expect(v).toEqual({
      a: [new JsonNumber('1'), new JsonNumber('-0'), new JsonNumber('12345678901234567890123'), new JsonNumber('1.5e3'), true, false, null, 'xé\n'],
    });
  });

  test.each([
    ['', 'unexpected end'],
    ['{"a":1,}', 'expected a quoted key'],
    ['[1,]', 'unexpected character'],
    ['{"a":1 "b":2}', 'expected "," or "}"'],
    ['{"a":1,"a":2}', 'duplicate key'],
    ['"abc', 'unterminated string'],
    ['"a\nb"', 'control character'],
    ['"\\x"', 'bad escape'],
    ['"\\u12"', 'bad \\u escape'],
    ['{} {}', 'content after'],
    ['01', 'content after'],
    ["{'a':1}", 'expected a quoted key'],
  ])('rejects %j (%s)', (text, message) => {
    const e = errorOf(() => readJson(text));
    expect(e.code).toBe(TtlvErrorCode.BadSyntax);
    expect(e.message).toContain(message);
  });

  test('error offsets and the depth limit', () => {
    expect(errorOf(() => readJson('{"a": [1, 2, }')).offset).toBe(13);
    const deep = '['.repeat(200) + ']'.repeat(200);
    expect(errorOf(() => readJson(deep)).code).toBe(TtlvErrorCode.TooDeep);
    expect(readJson(deep, { maxDepth: 300 })).toBeDefined();
  });
});

describe('parseKmipJson', () => {
  test('the MSGENC-JSON shapes: structures without type, Integers as hex strings, enumerations by name', () => {
    const item = parse(`{"tag":"RequestMessage", "value":[
      {"tag":"RequestHeader", "value":[
        {"tag":"ProtocolVersion", "value":[
          {"tag":"ProtocolVersionMajor", "type":"Integer", "value":"0x00000001"},
          {"tag":"ProtocolVersionMinor", "type":"Integer", "value":1}
        ]},
        {"tag":"BatchCount", "type":"Integer", "value":"0x00000001"}
      ]},
      {"tag":"BatchItem", "value":[ {"tag":"Operation", "type":"Enumeration", "value":"Query"} ]}
    ]}`);
    expect(item).toEqual(
      ttlv.structure(T.RequestMessage, [
        ttlv.structure(T.RequestHeader, [
          ttlv.structure(T.ProtocolVersion, [ttlv.integer(T.ProtocolVersionMajor, 1), ttlv.integer(T.ProtocolVersionMinor, 1)]),
          ttlv.integer(T.BatchCount, 1),
        ]),
        ttlv.structure(T.BatchItem, [ttlv.enumeration(T.Operation, 0x18)]),
      ]),
    );
  });

  test('Integer: number, hex string, mask names with "|" or spaces', () => {
    expect(one('Integer', '-7')).toEqual(ttlv.integer(T.UniqueIdentifier, -7));
    expect(one('Integer', '"0xFFFFFFFF"')).toEqual(ttlv.integer(T.UniqueIdentifier, -1));
    expect(one('Integer', '"Encrypt|Decrypt"', 'CryptographicUsageMask')).toEqual(ttlv.integer(T.CryptographicUsageMask, 12));
    expect(one('Integer', '"Encrypt | Decrypt"', 'CryptographicUsageMask')).toEqual(ttlv.integer(T.CryptographicUsageMask, 12));
    expect(errorOf(() => one('Integer', '"Encrypt|Nope"', 'CryptographicUsageMask')).code).toBe(TtlvErrorCode.UnknownName);
    expect(errorOf(() => one('Integer', '2147483648')).code).toBe(TtlvErrorCode.BadValue);
    expect(errorOf(() => one('Integer', '1.0')).code).toBe(TtlvErrorCode.BadValue);
    expect(errorOf(() => one('Integer', 'true')).code).toBe(TtlvErrorCode.BadValue);
  });

  test('LongInteger: exact from JSON text at any size; hex strings', () => {
    expect(one('LongInteger', '9223372036854775807')).toEqual(ttlv.longInteger(T.UniqueIdentifier, 2n ** 63n - 1n));
    expect(one('LongInteger', '-9223372036854775808')).toEqual(ttlv.longInteger(T.UniqueIdentifier, -(2n ** 63n)));
    expect(one('LongInteger', '"0x8000000000000000"')).toEqual(ttlv.longInteger(T.UniqueIdentifier, -(2n ** 63n)));
    expect(one('LongInteger', '9007199254740993')).toEqual(ttlv.longInteger(T.UniqueIdentifier, 9007199254740993n));
    expect(errorOf(() => one('LongInteger', '9223372036854775808')).code).toBe(TtlvErrorCode.BadValue);
  });

  test('already-parsed input: unsafe numbers are refused, not rounded', () => {
    expect(parse({ tag: 'UniqueIdentifier', type: 'LongInteger', value: 2 ** 52 })).toEqual(ttlv.longInteger(T.UniqueIdentifier, 2n ** 52n));
    const e = errorOf(() => parse({ tag: 'UniqueIdentifier', type: 'LongInteger', value: 2 ** 60 }));
    expect(e.code).toBe(TtlvErrorCode.BadValue);
    expect(e.message).toContain('hex string');
  });

  test('BigInteger: hex string (two\'s complement) or integer literal', () => {
    expect(one('BigInteger', '"0xFF"', 'Modulus')).toEqual(ttlv.bigInteger(T.Modulus, -1n));
    expect(one('BigInteger', '"0x00FF"', 'Modulus')).toEqual(ttlv.bigInteger(T.Modulus, 255n));
    expect(one('BigInteger', '-123456789012345678901234567890', 'Modulus')).toEqual(
      ttlv.bigInteger(T.Modulus, -123456789012345678901234567890n),
    );
  });

  test('Enumeration, Boolean, Interval, TextString, ByteString, DateTime, DateTimeExtended', () => {
    expect(one('Enumeration', '"0x00000002"', 'ObjectType')).toEqual(ttlv.enumeration(T.ObjectType, 2));
    expect(errorOf(() => one('Enumeration', '2', 'ObjectType')).code).toBe(TtlvErrorCode.BadValue);
    expect(errorOf(() => one('Enumeration', '"Nope"', 'ObjectType')).code).toBe(TtlvErrorCode.UnknownName);
    expect(one('Boolean', 'true')).toEqual(ttlv.boolean(T.UniqueIdentifier, true));
    expect(one('Boolean', '"0x0000000000000000"')).toEqual(ttlv.boolean(T.UniqueIdentifier, false));
    expect(one('Interval', '"0x00000E10"')).toEqual(ttlv.interval(T.UniqueIdentifier, 3600));
    expect(one('TextString', '"a\\u0000b"')).toEqual(ttlv.textString(T.UniqueIdentifier, 'a\u0000b'));
    expect(errorOf(() => one('TextString', '"\\ud800"')).code).toBe(TtlvErrorCode.BadValue);
    expect(one('ByteString', '"0aFF"')).toEqual(ttlv.byteString(T.UniqueIdentifier, Uint8Array.from([10, 255])));
    expect(one('DateTime', '"2014-06-10T08:04:52+00:00"', 'ActivationDate')).toEqual(ttlv.dateTime(T.ActivationDate, 0x5396bc24n));
    expect(one('DateTimeExtended', '"2014-06-10T08:04:52.000001Z"')).toEqual(ttlv.dateTimeExtended(T.UniqueIdentifier, 0x5396bc24n * 1_000_000n + 1n));
    expect(errorOf(() => one('DateTime', '1402388692', 'ActivationDate')).code).toBe(TtlvErrorCode.BadValue);
  });

  test('tags by hex, unknown names, shape errors', () => {
    expect(parse('{"tag":"0x540001","type":"TextString","value":"na"}')).toEqual(ttlv.textString(0x540001, 'na'));
    expect(errorOf(() => parse('{"tag":"0x014242","type":"TextString","value":"na"}')).code).toBe(TtlvErrorCode.BadTag);
    expect(errorOf(() => parse('{"tag":"Frob","type":"TextString","value":"na"}')).code).toBe(TtlvErrorCode.UnknownName);
    expect(errorOf(() => parse('{"tag":"UniqueIdentifier","type":"Float","value":1}')).code).toBe(TtlvErrorCode.UnknownName);
    for (const [text, message] of [
      ['[]', 'expected an object'],
      ['{"type":"TextString","value":"x"}', '"tag" must be a string'],
      ['{"tag":"UniqueIdentifier","type":"TextString"}', 'has no "value"'],
      ['{"tag":"UniqueIdentifier","type":"TextString","value":"x","extra":1}', 'unexpected key'],
      ['{"tag":"UniqueIdentifier","type":"TextString","value":"x","__proto__":1}', 'unexpected key'],
      ['{"tag":"RequestHeader","value":{}}', 'needs an array'],
      ['{"tag":"RequestHeader","type":"Structure","value":[1]}', 'expected an object'],
      ['{"tag":"UniqueIdentifier","type":7,"value":"x"}', 'must be a string'],
    ] as const) {
      const e = errorOf(() => parse(text));
      expect(e.code).toBe(TtlvErrorCode.BadSyntax);
      expect(e.message).toContain(message);
    }
  });

  test('error offsets point at the item\'s object', () => {
    const text = '{"tag":"RequestHeader","value":[\n  {"tag":"BatchCount","type":"Integer","value":"x"}]}';
    expect(errorOf(() => parse(text)).offset).toBe(text.indexOf('{"tag":"BatchCount"'));
  });

  test('1.x Attribute Value by the sibling Attribute Name; placeholders as in XML', () => {
    expect(
      parse({
        tag: 'Attribute',
        value: [
          { tag: 'AttributeName', type: 'TextString', value: 'Cryptographic  Usage Mask' },
          { tag: 'AttributeValue', type: 'Integer', value: 'Encrypt|Decrypt' },
        ],
      }),
    ).toEqual(ttlv.structure(T.Attribute, [ttlv.textString(T.AttributeName, 'Cryptographic Usage Mask'), ttlv.integer(T.AttributeValue, 12)]));
    expect(errorOf(() => one('DateTime', '"$NOW"', 'ActivationDate')).code).toBe(TtlvErrorCode.BadValue);
    expect(parse('{"tag":"ActivationDate","type":"DateTime","value":"$NOW"}', { placeholder: () => '0x0000000000000001' })).toEqual(
      ttlv.dateTime(T.ActivationDate, 1n),
    );
  });
});

describe('renderKmipJson', () => {
  const roundTrip = (item: TtlvItem): void => {
    expect(parse(renderKmipJson(item, dict))).toEqual(item);
    expect(parse(kmipJsonObject(item, dict))).toEqual(item);
    expect(parse(JSON.parse(renderKmipJson(item, dict)) as unknown)).toEqual(item);
  };

  test('shapes', () => {
    const item = ttlv.structure(T.RequestMessage, [
      ttlv.integer(T.BatchCount, 1),
      ttlv.integer(T.CryptographicUsageMask, 12),
      ttlv.integer(T.CryptographicUsageMask, 0x104),
      ttlv.enumeration(T.Operation, 0x18),
      ttlv.enumeration(T.Operation, 0x99),
      ttlv.longInteger(T.UniqueIdentifier, 16n),
      ttlv.longInteger(T.UniqueIdentifier, 2n ** 53n),
      ttlv.bigInteger(T.Modulus, -1n),
      ttlv.boolean(T.UniqueIdentifier, true),
      ttlv.byteString(T.KeyMaterial, Uint8Array.from([0xab])),
      ttlv.dateTime(T.ActivationDate, 0x5396bc24n),
      ttlv.interval(T.UniqueIdentifier, 3600),
      ttlv.textString(0x540001, 'na'),
    ]);
    expect(kmipJsonObject(item, dict)).toEqual({
      tag: 'RequestMessage',
      value: [
        { tag: 'BatchCount', type: 'Integer', value: 1 },
        { tag: 'CryptographicUsageMask', type: 'Integer', value: 'Encrypt|Decrypt' },
        { tag: 'CryptographicUsageMask', type: 'Integer', value: 260 },
        { tag: 'Operation', type: 'Enumeration', value: 'Query' },
        { tag: 'Operation', type: 'Enumeration', value: '0x00000099' },
        { tag: 'UniqueIdentifier', type: 'LongInteger', value: 16 },
        { tag: 'UniqueIdentifier', type: 'LongInteger', value: '0x0020000000000000' },
        { tag: 'Modulus', type: 'BigInteger', value: '0xFFFFFFFFFFFFFFFF' },
        { tag: 'UniqueIdentifier', type: 'Boolean', value: true },
        { tag: 'KeyMaterial', type: 'ByteString', value: 'ab' },
        { tag: 'ActivationDate', type: 'DateTime', value: '2014-06-10T08:04:52+00:00' },
        { tag: 'UniqueIdentifier', type: 'Interval', value: 3600 },
        { tag: '0x540001', type: 'TextString', value: 'na' },
      ],
    });
    roundTrip(item);
    expect(renderKmipJson(ttlv.integer(T.BatchCount, 1), dict)).toBe('{"tag":"BatchCount","type":"Integer","value":1}');
    expect(renderKmipJson(ttlv.structure(T.BatchItem, []), dict, { indent: 2 })).toBe('{\n  "tag": "BatchItem",\n  "value": []\n}');
  });

  test('every type round-trips through text and through objects', () => {
    for (const item of [
      ttlv.integer(T.UniqueIdentifier, -0x80000000),
      ttlv.longInteger(T.UniqueIdentifier, -(2n ** 63n)),
      ttlv.longInteger(T.UniqueIdentifier, BigInt(Number.MAX_SAFE_INTEGER)),
      ttlv.longInteger(T.UniqueIdentifier, BigInt(Number.MIN_SAFE_INTEGER) - 1n),
      ttlv.bigInteger(T.Modulus, 2n ** 64n),
      ttlv.bigInteger(T.Modulus, -(2n ** 64n)),
      ttlv.textString(T.UniqueIdentifier, 'a\u0001"\\\n'),
      ttlv.dateTime(T.ActivationDate, -(2n ** 63n)),
      ttlv.dateTimeExtended(T.UniqueIdentifier, 123n),
      ttlv.interval(T.UniqueIdentifier, 0xffffffff),
      ttlv.structure(0x540002, [ttlv.structure(T.Attribute, [ttlv.textString(T.AttributeName, 'Object Type'), ttlv.enumeration(T.AttributeValue, 1)])]),
    ]) {
      roundTrip(item);
    }
    expect(kmipJsonObject(ttlv.enumeration(T.AttributeValue, 1), dict).value).toBe('0x00000001');
    const attr = kmipJsonObject(
      ttlv.structure(T.Attribute, [ttlv.textString(T.AttributeName, 'Object Type'), ttlv.enumeration(T.AttributeValue, 1)]),
      dict,
    );
    expect(attr.value).toEqual([
      { tag: 'AttributeName', type: 'TextString', value: 'Object Type' },
      { tag: 'AttributeValue', type: 'Enumeration', value: 'Certificate' },
    ]);
  });

  test('no lossy numbers: every JSON number rendered is a safe integer', () => {
    const json = kmipJsonObject(ttlv.structure(T.RequestMessage, [ttlv.longInteger(T.UniqueIdentifier, 2n ** 62n), ttlv.bigInteger(T.Modulus, 5n)]), dict);
    const values = (json.value as { value: unknown }[]).map((v) => v.value);
    expect(values).toEqual(['0x4000000000000000', '0x0000000000000005']);
  });
});
