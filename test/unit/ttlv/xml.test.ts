import { TtlvError, TtlvErrorCode } from '../../../ttlv/errors';
import { ItemType, ttlv } from '../../../ttlv/types';
import type { TtlvItem } from '../../../ttlv/types';
import {
  parseKmipXml,
  parseKmipXmlDocument,
  readXml,
  renderKmipXml,
  renderKmipXmlDocument,
  xmlTextOf,
} from '../../../ttlv/xml';
import type { KmipXmlParseOptions, PlaceholderInfo } from '../../../ttlv/xml';
import { kmipDictionary } from '../../../src/spec/dictionary';
import { T, stubDictionary as dict } from '../../helpers/stub-dictionary';

/** The TtlvError `fn` throws (fails the test if it throws anything else or nothing). */
function errorOf(fn: () => unknown): TtlvError {
  try {
    fn();
  } catch (e) {
    if (e instanceof TtlvError) return e;
    throw e;
  }
  throw new Error('expected a TtlvError');
}

const parse = (xml: string, opts?: KmipXmlParseOptions): TtlvItem => parseKmipXml(xml, dict, opts);
const one = (type: string, value: string, tag = 'UniqueIdentifier'): TtlvItem => parse(`<${tag} type="${type}" value="${value}"/>`);

describe('readXml', () => {
  test('declaration, BOM, comments, processing instructions, self-closing tags', () => {
    const doc = readXml('\uFEFF<?xml version="1.0" encoding="UTF-8"?>\n<!-- c --><?pi x?>\n<a x="1" y=\'2\'><b/><!--in--><c ></c ></a>\n<!-- after -->');
    expect(doc.name).toBe('a');
    expect(doc.attributes.map((a) => [a.name, a.value])).toEqual([
      ['x', '1'],
      ['y', '2'],
    ]);
    expect(doc.children.map((c) => c.name)).toEqual(['b', 'c']);
    expect(doc.content.map((n) => n.kind)).toEqual(['element', 'comment', 'element']);
  });

  test('entities and character references, in attributes and text', () => {
    const doc = readXml('<a v="&amp;&lt;&gt;&quot;&apos;&#65;&#x42;&#x1F600;">x &amp; y<![CDATA[<&>]]></a>');
    expect(doc.attributes[0]?.value).toBe(`&<>"'AB\u{1F600}`);
    expect(xmlTextOf(doc)).toBe('x & y<&>');
  });

  test('attribute values: literal line breaks and tabs become spaces, references survive', () => {
    const doc = readXml('<a v="Encrypt\r\n  Decrypt\tX" w="1&#10;2&#9;3&#13;"/>');
    expect(doc.attributes[0]?.value).toBe('Encrypt   Decrypt X');
    expect(doc.attributes[1]?.value).toBe('1\n2\t3\r');
  });

  test.each([
    ['', 'no root element'],
    ['<a>', 'not closed'],
    ['<a></b>', 'does not close'],
    ['<a x="1" x="2"/>', 'duplicate attribute'],
    ['<a x=1/>', 'must be quoted'],
    ['<a x="1/>', 'unterminated'],
    ['<a x="<"/>', '"<" inside an attribute value'],
    ['<a>&foo;</a>', 'unknown entity'],
    ['<a>&amp</a>', 'unterminated entity'],
    ['<a>&#0;</a>', 'forbids'],
    ['<a>&#xD800;</a>', 'not a character'],
    ['<a>\u0001</a>', 'not allowed in XML'],
    ['<!DOCTYPE a [<!ENTITY x "y">]><a/>', 'DTDs'],
    ['<a/><b/>', 'after the root'],
    ['text<a/>', 'before the root'],
    ['<a><!-- x -- y --></a>', '"--" inside a comment'],
    ['<a><?xml version="1.0"?></a>', 'not at the start'],
    ['<a x="1"y="2"/>', 'expected whitespace'],
    ['<1a/>', 'expected a name'],
  ])('rejects %j (%s)', (xml, message) => {
    const e = errorOf(() => readXml(xml));
    expect(e.code).toBe(TtlvErrorCode.BadSyntax);
    expect(e.message).toContain(message);
  });

  test('error offsets point at the problem', () => {
    expect(errorOf(() => readXml('<a>\n  <b></c></a>')).offset).toBe(9);
    expect(errorOf(() => readXml('<a v="ok &bad; x"/>')).offset).toBe(9);
  });

  test('nesting deeper than maxDepth is TooDeep, and costs no call stack', () => {
    const deep = '<a>'.repeat(5000) + '</a>'.repeat(5000);
    expect(errorOf(() => readXml(deep)).code).toBe(TtlvErrorCode.TooDeep);
    expect(readXml(deep, { maxDepth: 6000 }).name).toBe('a');
  });
});

describe('parseKmipXml: item types', () => {
  test('structures, with and without type="Structure", empty ones too', () => {
    expect(parse('<ProtocolVersion><ProtocolVersionMajor type="Integer" value="1"/></ProtocolVersion>')).toEqual(
      ttlv.structure(T.ProtocolVersion, [ttlv.integer(T.ProtocolVersionMajor, 1)]),
    );
    expect(parse('<ProtocolVersion type="Structure"></ProtocolVersion>')).toEqual(ttlv.structure(T.ProtocolVersion, []));
    expect(parse('<ProtocolVersion/>')).toEqual(ttlv.structure(T.ProtocolVersion, []));
  });

  test('Integer: decimal and hex (two\'s complement)', () => {
    expect(one('Integer', '-5')).toEqual(ttlv.integer(T.UniqueIdentifier, -5));
    expect(one('Integer', '0x0000000A')).toEqual(ttlv.integer(T.UniqueIdentifier, 10));
    expect(one('Integer', '0xFFFFFFFF')).toEqual(ttlv.integer(T.UniqueIdentifier, -1));
    expect(errorOf(() => one('Integer', '2147483648')).code).toBe(TtlvErrorCode.BadValue);
    expect(errorOf(() => one('Integer', '0x100000000')).code).toBe(TtlvErrorCode.BadValue);
    expect(errorOf(() => one('Integer', '1.5')).code).toBe(TtlvErrorCode.BadValue);
  });

  test('Integer masks: names separated by spaces, runs of spaces, line breaks or "|"; names and numbers mixed', () => {
    const mask = (v: string): number => {
      const item = one('Integer', v, 'CryptographicUsageMask');
      if (item.type !== ItemType.Integer) throw new Error('not an Integer');
      return item.value;
    };
    expect(mask('Encrypt Decrypt')).toBe(12);
    expect(mask('Decrypt   Encrypt')).toBe(12);
    expect(mask('Encrypt&#10;  Decrypt')).toBe(12);
    expect(mask('Encrypt|Decrypt | Sign')).toBe(13);
    expect(mask('Encrypt 0x00000100')).toBe(0x104);
    expect(mask('12')).toBe(12);
    expect(mask('High')).toBe(-0x80000000);
    const e = errorOf(() => mask('Encrypt Frobnicate'));
    expect(e.code).toBe(TtlvErrorCode.UnknownName);
    expect(e.message).toContain('Frobnicate');
  });

  test('Enumeration: by name or by hex', () => {
    expect(one('Enumeration', 'SymmetricKey', 'ObjectType')).toEqual(ttlv.enumeration(T.ObjectType, 2));
    expect(one('Enumeration', '0x80000001', 'ObjectType')).toEqual(ttlv.enumeration(T.ObjectType, 0x80000001));
    const unknown = errorOf(() => one('Enumeration', 'Frob', 'ObjectType'));
    expect(unknown.code).toBe(TtlvErrorCode.UnknownName);
    expect(unknown.offset).toBe('<ObjectType type="Enumeration" value="'.length);
    // A tag without named values takes hex only.
    expect(errorOf(() => one('Enumeration', 'SymmetricKey')).code).toBe(TtlvErrorCode.UnknownName);
  });

  test('LongInteger, Interval, Boolean, TextString, ByteString', () => {
    expect(one('LongInteger', '-9223372036854775808')).toEqual(ttlv.longInteger(T.UniqueIdentifier, -(2n ** 63n)));
    expect(one('LongInteger', '0xFFFFFFFFFFFFFFFF')).toEqual(ttlv.longInteger(T.UniqueIdentifier, -1n));
    expect(errorOf(() => one('LongInteger', '9223372036854775808')).code).toBe(TtlvErrorCode.BadValue);
    expect(one('Interval', '4294967295')).toEqual(ttlv.interval(T.UniqueIdentifier, 0xffffffff));
    expect(errorOf(() => one('Interval', '-1')).code).toBe(TtlvErrorCode.BadValue);
    expect(one('Boolean', 'true')).toEqual(ttlv.boolean(T.UniqueIdentifier, true));
    expect(errorOf(() => one('Boolean', 'TRUE')).code).toBe(TtlvErrorCode.BadValue);
    expect(one('TextString', ' a &amp; b ')).toEqual(ttlv.textString(T.UniqueIdentifier, ' a & b '));
    expect(one('ByteString', '00fFa0')).toEqual(ttlv.byteString(T.UniqueIdentifier, Uint8Array.from([0, 255, 160])));
    expect(one('ByteString', '')).toEqual(ttlv.byteString(T.UniqueIdentifier, new Uint8Array(0)));
    expect(errorOf(() => one('ByteString', 'abc')).code).toBe(TtlvErrorCode.BadValue);
    expect(errorOf(() => one('ByteString', 'zz')).code).toBe(TtlvErrorCode.BadValue);
  });

  test('BigInteger: two\'s complement big-endian hex, negative values included', () => {
    const big = (v: string): bigint => {
      const item = one('BigInteger', v, 'Modulus');
      if (item.type !== ItemType.BigInteger) throw new Error('not a BigInteger');
      return item.value;
    };
    expect(big('0000000000010001')).toBe(65537n);
    expect(big('ffffffffffffffff')).toBe(-1n);
    expect(big('ff00')).toBe(-256n);
    expect(big('0x00ff')).toBe(255n);
    expect(big('0000000000000000fca682ce8e12caba')).toBe(0xfca682ce8e12caban);
    expect(big('8000000000000000')).toBe(-(2n ** 63n));
    expect(errorOf(() => big('fff')).code).toBe(TtlvErrorCode.BadValue);
    expect(errorOf(() => big('-5')).code).toBe(TtlvErrorCode.BadValue);
  });

  test('DateTime: ISO 8601 with +00:00, Z, another offset, or none (UTC); hex too', () => {
    const dt = (v: string): bigint => {
      const item = one('DateTime', v, 'ActivationDate');
      if (item.type !== ItemType.DateTime) throw new Error('not a DateTime');
      return item.value;
    };
    expect(dt('2013-06-26T09:09:17+00:00')).toBe(0x51caafbdn);
    expect(dt('2013-06-26T09:09:17Z')).toBe(0x51caafbdn);
    expect(dt('2013-06-26T11:09:17+02:00')).toBe(0x51caafbdn);
    expect(dt('2013-06-26T09:09:17')).toBe(0x51caafbdn);
    expect(dt('2013-06-26T09:09:17.000Z')).toBe(0x51caafbdn);
    expect(dt('1969-12-31T23:59:59Z')).toBe(-1n);
    expect(dt('2000-02-29T00:00:00Z')).toBe(951782400n);
    expect(dt('0x0000000051CAAFBD')).toBe(0x51caafbdn);
    for (const bad of ['2013-02-29T00:00:00Z', '2013-06-26 09:09:17Z', '2013-06-26T24:00:00Z', '2013-06-26T09:09:17.5Z', 'yesterday']) {
      expect(errorOf(() => dt(bad)).code).toBe(TtlvErrorCode.BadValue);
    }
  });

  test('DateTimeExtended: microseconds', () => {
    expect(one('DateTimeExtended', '1970-01-01T00:00:01.000002+00:00')).toEqual(ttlv.dateTimeExtended(T.UniqueIdentifier, 1_000_002n));
    expect(one('DateTimeExtended', '1970-01-01T00:00:00.5Z')).toEqual(ttlv.dateTimeExtended(T.UniqueIdentifier, 500_000n));
    expect(errorOf(() => one('DateTimeExtended', '1970-01-01T00:00:00.0000001Z')).code).toBe(TtlvErrorCode.BadValue);
  });
});

describe('parseKmipXml: names and shape', () => {
  test('unknown tag names and item types are UnknownName, with the offset of the element', () => {
    const e = errorOf(() => parse('<RequestHeader>\n  <Frobnicator type="Integer" value="1"/></RequestHeader>'));
    expect(e.code).toBe(TtlvErrorCode.UnknownName);
    expect(e.offset).toBe(18);
    expect(errorOf(() => one('Float', '1')).code).toBe(TtlvErrorCode.UnknownName);
  });

  test('<TTLV tag=...> names any tag, known or not', () => {
    expect(parse('<TTLV tag="0x540001" type="TextString" value="na"/>')).toEqual(ttlv.textString(0x540001, 'na'));
    expect(parse('<TTLV tag="0x540002"><TTLV tag="0x420094" type="Integer" value="3"/></TTLV>')).toEqual(
      ttlv.structure(0x540002, [ttlv.integer(T.UniqueIdentifier, 3)]),
    );
    expect(errorOf(() => parse('<TTLV tag="0x014242" type="TextString" value="x"/>')).code).toBe(TtlvErrorCode.BadTag);
    expect(errorOf(() => parse('<TTLV tag="540001" type="TextString" value="x"/>')).code).toBe(TtlvErrorCode.BadSyntax);
    expect(errorOf(() => parse('<TTLV type="TextString" value="x"/>')).code).toBe(TtlvErrorCode.BadSyntax);
    expect(errorOf(() => parse('<UniqueIdentifier tag="0x540001" type="TextString" value="x"/>')).code).toBe(TtlvErrorCode.BadSyntax);
  });

  test.each([
    ['<UniqueIdentifier type="TextString"/>', 'no value attribute'],
    ['<UniqueIdentifier value="x"/>', 'no type'],
    ['<ProtocolVersion type="Structure" value="x"></ProtocolVersion>', 'cannot have a value'],
    ['<ProtocolVersion type="Integer" value="1"><BatchCount type="Integer" value="1"/></ProtocolVersion>', 'cannot have child elements'],
    ['<ProtocolVersion>1</ProtocolVersion>', 'text inside'],
    ['<UniqueIdentifier type="TextString" value="x" name="y"/>', 'unexpected attribute'],
  ])('rejects %s', (xml, message) => {
    const e = errorOf(() => parse(xml));
    expect(e.code).toBe(TtlvErrorCode.BadSyntax);
    expect(e.message).toContain(message);
  });

  test('1.x Attribute Value takes its names from the sibling Attribute Name (whitespace runs collapsed)', () => {
    const xml = (name: string, type: string, value: string): string =>
      `<Attribute><AttributeName type="TextString" value="${name}"/><AttributeValue type="${type}" value="${value}"/></Attribute>`;
    expect(parse(xml('Cryptographic Usage Mask', 'Integer', 'Decrypt Encrypt'))).toEqual(
      ttlv.structure(T.Attribute, [ttlv.textString(T.AttributeName, 'Cryptographic Usage Mask'), ttlv.integer(T.AttributeValue, 12)]),
    );
    // The transcriptions' "Cryptographic   Usage Mask": collapsed in the tree too, unless asked not to.
    expect(parse(xml('Cryptographic&#10;   Usage Mask', 'Integer', 'Encrypt'))).toEqual(
      ttlv.structure(T.Attribute, [ttlv.textString(T.AttributeName, 'Cryptographic Usage Mask'), ttlv.integer(T.AttributeValue, 4)]),
    );
    expect(parse(xml('Object   Type', 'Enumeration', 'SymmetricKey'), { collapseAttributeNames: false })).toEqual(
      ttlv.structure(T.Attribute, [ttlv.textString(T.AttributeName, 'Object   Type'), ttlv.enumeration(T.AttributeValue, 2)]),
    );
    // Without a known attribute, names are unknown; numbers still work.
    expect(errorOf(() => parse(xml('x-custom', 'Integer', 'Encrypt'))).code).toBe(TtlvErrorCode.UnknownName);
    expect(errorOf(() => parse('<Attribute><AttributeValue type="Integer" value="Encrypt"/></Attribute>')).code).toBe(TtlvErrorCode.UnknownName);
  });

  test('with the real dictionary: a KMIP 1.0 test-case fragment', () => {
    const item = parseKmipXml(
      `<TemplateAttribute>
        <Attribute>
          <AttributeName type="TextString" value="Cryptographic   Usage Mask"/>
          <AttributeValue type="Integer"
  value="Encrypt
  Decrypt"/>
        </Attribute>
        <Attribute>
          <AttributeName type="TextString" value="Cryptographic Algorithm"/>
          <AttributeValue type="Enumeration" value="AES"/>
        </Attribute>
      </TemplateAttribute>`,
      kmipDictionary,
    );
    const rendered = renderKmipXml(item, kmipDictionary);
    expect(rendered).toContain('<AttributeValue type="Integer" value="Encrypt Decrypt"/>');
    expect(rendered).toContain('<AttributeValue type="Enumeration" value="AES"/>');
    expect(parseKmipXml(rendered, kmipDictionary)).toEqual(item);
  });
});

describe('placeholders', () => {
  test('by default a Text String keeps the placeholder and other types refuse it', () => {
    expect(one('TextString', '$UNIQUE_IDENTIFIER_0')).toEqual(ttlv.textString(T.UniqueIdentifier, '$UNIQUE_IDENTIFIER_0'));
    const e = errorOf(() => one('DateTime', '$NOW', 'ActivationDate'));
    expect(e.code).toBe(TtlvErrorCode.BadValue);
    expect(e.message).toContain('$NOW');
    expect(e.message).toContain('placeholder');
    expect(errorOf(() => one('ByteString', '$DATA')).code).toBe(TtlvErrorCode.BadValue);
  });

  test('the hook sees tag, type and raw text, and may substitute', () => {
    const seen: PlaceholderInfo[] = [];
    const item = parse(
      '<RequestHeader><ActivationDate type="DateTime" value="$NOW-3600"/><UniqueIdentifier type="TextString" value="$UNIQUE_IDENTIFIER_1"/></RequestHeader>',
      {
        placeholder: (info) => {
          seen.push(info);
          return info.raw === '$NOW-3600' ? '1970-01-01T01:00:00Z' : undefined;
        },
      },
    );
    expect(seen.map((s) => [s.tagName, s.type, s.raw])).toEqual([
      ['ActivationDate', 'DateTime', '$NOW-3600'],
      ['UniqueIdentifier', 'TextString', '$UNIQUE_IDENTIFIER_1'],
    ]);
    expect(item).toEqual(
      ttlv.structure(T.RequestHeader, [ttlv.dateTime(T.ActivationDate, 3600n), ttlv.textString(T.UniqueIdentifier, '$UNIQUE_IDENTIFIER_1')]),
    );
  });
});

describe('renderKmipXml', () => {
  const roundTrip = (item: TtlvItem): string => {
    const xml = renderKmipXml(item, dict);
    expect(parse(xml)).toEqual(item);
    return xml;
  };

  test('a message, indented, names for tags and enumerations', () => {
    const item = ttlv.structure(T.RequestMessage, [
      ttlv.structure(T.RequestHeader, [ttlv.structure(T.ProtocolVersion, [ttlv.integer(T.ProtocolVersionMajor, 1)]), ttlv.integer(T.BatchCount, 1)]),
      ttlv.structure(T.BatchItem, [ttlv.enumeration(T.Operation, 1), ttlv.structure(T.Attribute, [])]),
    ]);
    expect(roundTrip(item)).toBe(
      [
        '<RequestMessage>',
        '  <RequestHeader>',
        '    <ProtocolVersion>',
        '      <ProtocolVersionMajor type="Integer" value="1"/>',
        '    </ProtocolVersion>',
        '    <BatchCount type="Integer" value="1"/>',
        '  </RequestHeader>',
        '  <BatchItem>',
        '    <Operation type="Enumeration" value="Create"/>',
        '    <Attribute/>',
        '  </BatchItem>',
        '</RequestMessage>',
      ].join('\n'),
    );
    expect(renderKmipXml(item, dict, { indent: '' })).not.toContain('\n');
  });

  test('masks as names when every bit is named, else decimal; enumerations by hex when unnamed', () => {
    expect(roundTrip(ttlv.integer(T.CryptographicUsageMask, 12))).toBe('<CryptographicUsageMask type="Integer" value="Encrypt Decrypt"/>');
    expect(roundTrip(ttlv.integer(T.CryptographicUsageMask, -0x80000000 | 1))).toBe('<CryptographicUsageMask type="Integer" value="Sign High"/>');
    expect(roundTrip(ttlv.integer(T.CryptographicUsageMask, 0x104))).toBe('<CryptographicUsageMask type="Integer" value="260"/>');
    expect(roundTrip(ttlv.integer(T.CryptographicUsageMask, 0))).toBe('<CryptographicUsageMask type="Integer" value="0"/>');
    expect(roundTrip(ttlv.enumeration(T.ObjectType, 0x80000001))).toBe('<ObjectType type="Enumeration" value="0x80000001"/>');
    expect(roundTrip(ttlv.enumeration(T.UniqueIdentifier, 10))).toBe('<UniqueIdentifier type="Enumeration" value="0x0000000A"/>');
  });

  test('1.x Attribute Value rendered by its sibling Attribute Name', () => {
    const xml = roundTrip(
      ttlv.structure(T.Attribute, [ttlv.textString(T.AttributeName, 'Object Type'), ttlv.enumeration(T.AttributeValue, 3)]),
    );
    expect(xml).toContain('<AttributeValue type="Enumeration" value="PublicKey"/>');
  });

  test('unknown tags as <TTLV tag=...>, structures too', () => {
    const xml = roundTrip(
      ttlv.structure(0x540001, [ttlv.textString(T.Unnamed, 'a'), ttlv.structure(0x540002, []), ttlv.byteString(0x540003, Uint8Array.from([1, 2]))]),
    );
    expect(xml).toBe(
      [
        '<TTLV tag="0x540001">',
        '  <TTLV tag="0x420150" type="TextString" value="a"/>',
        '  <TTLV tag="0x540002"/>',
        '  <TTLV tag="0x540003" type="ByteString" value="0102"/>',
        '</TTLV>',
      ].join('\n'),
    );
  });

  test('every type round-trips, including edge values', () => {
    const items: TtlvItem[] = [
      ttlv.integer(T.UniqueIdentifier, -0x80000000),
      ttlv.longInteger(T.UniqueIdentifier, 2n ** 63n - 1n),
      ttlv.longInteger(T.UniqueIdentifier, -(2n ** 63n)),
      ttlv.bigInteger(T.Modulus, -1n),
      ttlv.bigInteger(T.Modulus, 2n ** 63n),
      ttlv.bigInteger(T.Modulus, -(2n ** 200n) + 12345n),
      ttlv.bigInteger(T.Modulus, 0n),
      ttlv.boolean(T.UniqueIdentifier, false),
      ttlv.textString(T.UniqueIdentifier, 'tab\there "quoted" <&> line\nbreak\r\n end  '),
      ttlv.textString(T.UniqueIdentifier, ''),
      ttlv.textString(T.UniqueIdentifier, 'ünïcödé \u{1F600}'),
      ttlv.byteString(T.KeyMaterial, new Uint8Array(0)),
      ttlv.dateTime(T.ActivationDate, 0n),
      ttlv.dateTime(T.ActivationDate, -62167219200n), // 0000-01-01
      ttlv.dateTime(T.ActivationDate, 253402300799n), // 9999-12-31T23:59:59
      ttlv.dateTime(T.ActivationDate, 253402300800n), // year 10000: hex
      ttlv.dateTime(T.ActivationDate, -(2n ** 63n)),
      ttlv.interval(T.UniqueIdentifier, 0xffffffff),
      ttlv.dateTimeExtended(T.UniqueIdentifier, -1n),
      ttlv.dateTimeExtended(T.UniqueIdentifier, 1_372_237_757_123_456n),
      ttlv.dateTimeExtended(T.UniqueIdentifier, 2n ** 63n - 1n),
    ];
    for (const item of items) roundTrip(item);
  });

  test('value spellings', () => {
    expect(renderKmipXml(ttlv.bigInteger(T.Modulus, -1n), dict)).toContain('value="ffffffffffffffff"');
    expect(renderKmipXml(ttlv.bigInteger(T.Modulus, 2n ** 63n), dict)).toContain('value="00000000000000008000000000000000"');
    expect(renderKmipXml(ttlv.dateTime(T.ActivationDate, 0x51caafbdn), dict)).toContain('value="2013-06-26T09:09:17+00:00"');
    expect(renderKmipXml(ttlv.dateTime(T.ActivationDate, 253402300800n), dict)).toContain('value="0x0000003AFFF44180"');
    expect(renderKmipXml(ttlv.dateTimeExtended(T.UniqueIdentifier, 1_000_002n), dict)).toContain('value="1970-01-01T00:00:01.000002+00:00"');
    expect(renderKmipXml(ttlv.textString(T.UniqueIdentifier, 'a\nb'), dict)).toContain('value="a&#10;b"');
  });

  test('a Text String XML 1.0 cannot carry is refused', () => {
    expect(errorOf(() => renderKmipXml(ttlv.textString(T.UniqueIdentifier, 'a\u0001b'), dict)).code).toBe(TtlvErrorCode.BadValue);
    expect(errorOf(() => renderKmipXml(ttlv.textString(T.UniqueIdentifier, 'a\uD800b'), dict)).code).toBe(TtlvErrorCode.BadValue);
  });
});

describe('parseKmipXmlDocument', () => {
  const request = '<RequestMessage><BatchCount type="Integer" value="1"/></RequestMessage>';
  const response = '<ResponseMessage><BatchCount type="Integer" value="1"/></ResponseMessage>';

  test('messages in order, with the comments and "#" notes before each', () => {
    const messages = parseKmipXmlDocument(
      `<?xml version="1.0"?>\n<KMIP>\n<!-- header -->\n# TIME 0\n${request}\n<!-- # TIME 1 -->\n${response}\n</KMIP>`,
      dict,
    );
    expect(messages.map((m) => [m.kind, m.notes])).toEqual([
      ['RequestMessage', ['header', '# TIME 0']],
      ['ResponseMessage', ['# TIME 1']],
    ]);
    expect(messages[0]?.item).toEqual(ttlv.structure(T.RequestMessage, [ttlv.integer(T.BatchCount, 1)]));
  });

  test('a lone message is a one-message document', () => {
    expect(parseKmipXmlDocument(response, dict).map((m) => m.kind)).toEqual(['ResponseMessage']);
  });

  test.each([
    [`<KMIP>${request}<BatchCount type="Integer" value="1"/></KMIP>`, 'RequestMessage> and <ResponseMessage> only'],
    [`<KMIP>${request} stray text</KMIP>`, 'not a "#" note'],
    [`<Cases>${request}</Cases>`, 'expected <KMIP>'],
  ])('rejects %s', (xml, message) => {
    const e = errorOf(() => parseKmipXmlDocument(xml, dict));
    expect(e.code).toBe(TtlvErrorCode.BadSyntax);
    expect(e.message).toContain(message);
  });

  test('renderKmipXmlDocument reads back', () => {
    const items = parseKmipXmlDocument(`<KMIP>${request}${response}</KMIP>`, dict).map((m) => m.item);
    const text = renderKmipXmlDocument(items, dict);
    expect(text.startsWith('<KMIP>\n  <RequestMessage>\n')).toBe(true);
    expect(parseKmipXmlDocument(text, dict).map((m) => m.item)).toEqual(items);
  });
});
