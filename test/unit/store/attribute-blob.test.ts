/** The attribute blob of schema 3: compact for standard attributes, and blobs of the earlier form still read. */
import { encodeTtlv } from '../../../ttlv/encode';
import { ttlv } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import { CryptographicAlgorithm } from '../../../src/spec/generated/enums';
import { decodeAttributeBlob, encodeAttributeBlob, patchBareValue } from '../../../src/store/attribute-rows';
import type { StoredAttribute } from '../../../src/store/object-store';

const name = (text: string) =>
  ttlv.structure(Tag.Name, [ttlv.textString(Tag.NameValue, text), ttlv.enumeration(Tag.NameType, 1)]);

const attributes: StoredAttribute[] = [
  { name: 'Cryptographic Algorithm', index: 0, value: ttlv.enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES) },
  { name: 'Cryptographic Length', index: 0, value: ttlv.integer(Tag.CryptographicLength, 256) },
  { name: 'Name', index: 0, value: name('first') },
  { name: 'Name', index: 1, value: name('second') },
  { name: 'x-department', index: 0, value: ttlv.textString(Tag.AttributeValue, 'finance') },
  { name: 'x-department', index: 2, value: ttlv.textString(Tag.AttributeValue, 'audit') },
  // A custom attribute whose value happens to carry a standard attribute's tag keeps its own name.
  { name: 'x-length', index: 0, value: ttlv.integer(Tag.CryptographicLength, 128) },
];

function sorted(list: readonly StoredAttribute[]): StoredAttribute[] {
  return [...list].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.index - b.index));
}

test('every instance comes back with its name, index and value, in name then index order', () => {
  expect(decodeAttributeBlob(encodeAttributeBlob([...attributes].reverse()))).toEqual(sorted(attributes));
});

test('standard attributes at index 0 are stored bare: the blob holds no attribute names for them', () => {
  const blob = encodeAttributeBlob(attributes);
  const text = blob.toString('latin1');
  expect(text).not.toContain('Cryptographic Algorithm');
  expect(text).not.toContain('Cryptographic Length');
  expect(text).toContain('x-department');
  expect(text).toContain('x-length');
  // Only the second Name is wrapped (for its index); the first is bare.
  expect(blob.length).toBeLessThan(encodeTtlv(earlierForm(attributes)).length / 2 + 100);
});

/** Schema 3 as first written: every instance wrapped with its name and index. */
function earlierForm(list: readonly StoredAttribute[]) {
  return ttlv.structure(
    Tag.Attributes,
    sorted(list).map((a) => ttlv.structure(Tag.Attribute, [ttlv.textString(Tag.AttributeName, a.name), ttlv.integer(Tag.AttributeIndex, a.index), a.value])),
  );
}

test('a blob of the earlier form (every instance wrapped with name and index) reads the same', () => {
  expect(decodeAttributeBlob(encodeTtlv(earlierForm(attributes)))).toEqual(sorted(attributes));
});

test('a bare value whose tag is no attribute is refused, not guessed', () => {
  const bad = encodeTtlv(ttlv.structure(Tag.Attributes, [ttlv.integer(Tag.BatchCount, 1)]));
  expect(() => decodeAttributeBlob(bad)).toThrow(/unknown tag/);
});

test('patchBareValue: a bare attribute of the same encoded length is replaced in place, to the same blob a full encode gives', () => {
  const attrs: StoredAttribute[] = [
    { name: 'Cryptographic Algorithm', index: 0, value: ttlv.enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES) },
    { name: 'Fresh', index: 0, value: ttlv.boolean(Tag.Fresh, true) },
    { name: 'Name', index: 0, value: ttlv.structure(Tag.Name, [ttlv.textString(Tag.NameValue, 'k'), ttlv.enumeration(Tag.NameType, 1)]) },
    { name: 'x-app', index: 0, value: ttlv.textString(Tag.AttributeValue, 'db') },
  ];
  const blob = encodeAttributeBlob(attrs);
  const patched = patchBareValue(blob, ttlv.boolean(Tag.Fresh, false));
  expect(Buffer.isBuffer(patched)).toBe(true);
  expect((patched as Buffer).equals(encodeAttributeBlob(attrs.map((a) => (a.name === 'Fresh' ? { ...a, value: ttlv.boolean(Tag.Fresh, false) } : a))))).toBe(true);
  expect(blob.equals(encodeAttributeBlob(attrs))).toBe(true); // the input is not changed
  expect(patchBareValue(patched as Buffer, ttlv.boolean(Tag.Fresh, false))).toBe('same');
  // Absent, or of another length: the caller decodes and encodes instead.
  expect(patchBareValue(blob, ttlv.boolean(Tag.Sensitive, true))).toBeUndefined();
  expect(patchBareValue(blob, ttlv.structure(Tag.Name, [ttlv.textString(Tag.NameValue, 'longer name'), ttlv.enumeration(Tag.NameType, 1)]))).toBeUndefined();
});
