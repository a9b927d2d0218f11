/** The attribute adapters' special cases: 2.x Certificate Attributes members, the 1.0 Digest, stored indexes. */
import { ttlv } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import { HashingAlgorithm, KeyFormatType, ObjectType, ResultReason, State } from '../../../src/spec/generated/enums';
import {
  attributeFromV2,
  attributeRule,
  encodeAttributeList,
  encodeAttributeReference,
  readAttributeReference,
  visibleInVersion,
} from '../../../src/kmip/attributes';
import { checkClientChange } from '../../../src/objects/attribute-policy';
import type { TtlvStructure } from '../../../ttlv/types';

const V10 = { major: 1, minor: 0 };
const V14 = { major: 1, minor: 4 };
const V21 = { major: 2, minor: 1 };

test('a Certificate Attributes member is an attribute of its own in 2.x, under that rule, and unknown in 1.x', () => {
  const cn = attributeFromV2(ttlv.textString(Tag.CertificateSubjectCN, 'server'));
  expect(cn.name).toBe('Certificate Subject CN');
  expect(readAttributeReference(ttlv.enumeration(Tag.AttributeReference, Tag.CertificateIssuerO))).toBe('Certificate Issuer O');
  expect(encodeAttributeReference('Certificate Subject CN', V21)).toEqual(ttlv.enumeration(Tag.AttributeReference, Tag.CertificateSubjectCN));
  expect(attributeRule('Certificate Subject CN')?.name).toBe('Certificate Attributes');
  expect(visibleInVersion(cn, V21)).toBe(true);
  expect(visibleInVersion(cn, V14)).toBe(false);
  const target = { objectType: ObjectType.Certificate, state: State.Active, attributes: [] };
  expect(() => checkClientChange('modify', 'Certificate Subject CN', target, V21, 0n)).toThrow(expect.objectContaining({ reason: ResultReason.AttributeReadOnly }));
});

test('a 1.0 Digest has no Key Format Type; stored 1.x indexes are kept', () => {
  const digest = ttlv.structure(Tag.Digest, [
    ttlv.enumeration(Tag.HashingAlgorithm, HashingAlgorithm.SHA_256),
    ttlv.byteString(Tag.DigestValue, Buffer.alloc(32)),
    ttlv.enumeration(Tag.KeyFormatType, KeyFormatType.Raw),
  ]);
  const [v10] = encodeAttributeList([{ name: 'Digest', value: digest }], V10) as TtlvStructure[];
  const value = v10!.value.find((c) => c.tag === Tag.AttributeValue) as TtlvStructure;
  expect(value.value.map((c) => c.tag)).toEqual([Tag.HashingAlgorithm, Tag.DigestValue]);
  const [v14] = encodeAttributeList([{ name: 'Digest', value: digest }], V14) as TtlvStructure[];
  expect((v14!.value.find((c) => c.tag === Tag.AttributeValue) as TtlvStructure).value).toHaveLength(3);
  const list = encodeAttributeList(
    [
      { name: 'x-a', index: 0, value: ttlv.textString(Tag.AttributeValue, 'p') },
      { name: 'x-a', index: 2, value: ttlv.textString(Tag.AttributeValue, 'r') },
    ],
    V14,
  ) as TtlvStructure[];
  expect(list[1]!.value.find((c) => c.tag === Tag.AttributeIndex)).toEqual(ttlv.integer(Tag.AttributeIndex, 2));
});

test('an Attribute Reference structure with no vendor names a KMIP attribute (PyKMIP 2.0); a vendor\'s stays custom', () => {
  const ref = (vendor: string, name: string) =>
    ttlv.structure(Tag.AttributeReference, [ttlv.textString(Tag.VendorIdentification, vendor), ttlv.textString(Tag.AttributeName, name)]);
  expect(readAttributeReference(ref('', 'Name'))).toBe('Name');
  expect(readAttributeReference(ref('x', 'Name'))).toBe('x-Name');
});

describe('2.x Attribute Reference as clients send it', () => {
  const ref = (children: Parameters<typeof ttlv.structure>[1]) => ttlv.structure(Tag.AttributeReference, children);

  test('the spec forms: an enumeration of the tag, a vendor structure', () => {
    expect(readAttributeReference(ttlv.enumeration(Tag.AttributeReference, Tag.State))).toBe('State');
    expect(readAttributeReference(ref([ttlv.textString(Tag.VendorIdentification, 'x'), ttlv.textString(Tag.AttributeName, 'ResourceID')]))).toBe('x-ResourceID');
  });

  test("Percona libkmip's forms: the enumeration wrapped in a structure, an Attribute Name alone", () => {
    expect(readAttributeReference(ref([ttlv.enumeration(Tag.AttributeReference, Tag.Name)]))).toBe('Name');
    expect(readAttributeReference(ref([ttlv.enumeration(Tag.AttributeReference, Tag.ObjectGroup)]))).toBe('Object Group');
    expect(readAttributeReference(ref([ttlv.textString(Tag.AttributeName, 'Cryptographic  Length ')]))).toBe('Cryptographic Length');
    expect(readAttributeReference(ref([ttlv.textString(Tag.AttributeName, 'x-ResourceID')]))).toBe('x-ResourceID');
  });

  test('still refused: an empty structure, a wrapped non-attribute tag, a structure in a structure, a wrong type', () => {
    expect(() => readAttributeReference(ref([]))).toThrow(expect.objectContaining({ reason: ResultReason.MissingData }));
    expect(() => readAttributeReference(ref([ttlv.enumeration(Tag.AttributeReference, Tag.KeyMaterial)]))).toThrow(
      expect.objectContaining({ reason: ResultReason.InvalidAttribute }),
    );
    expect(() => readAttributeReference(ref([ref([ttlv.enumeration(Tag.AttributeReference, Tag.Name)])]))).toThrow(
      expect.objectContaining({ reason: ResultReason.MissingData }),
    );
    expect(() => readAttributeReference(ref([ttlv.integer(Tag.AttributeName, 3)]))).toThrow(expect.objectContaining({ reason: ResultReason.InvalidField }));
  });
});
