import { ttlv } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import { ObjectType, ResultReason } from '../../../src/spec/generated/enums';
import { findNewerThan, pruneForVersion } from '../../../src/kmip/version-filter';

const V10 = { major: 1, minor: 0 };
const V14 = { major: 1, minor: 4 };
const V21 = { major: 2, minor: 1 };

test('a 2.0 tag is dropped for a 1.4 client and kept for 2.1', () => {
  const tree = ttlv.structure(Tag.ResponsePayload, [
    ttlv.textString(Tag.UniqueIdentifier, 'u'),
    ttlv.structure(Tag.Attributes, [ttlv.enumeration(Tag.ObjectType, ObjectType.SymmetricKey)]),
  ]);
  expect(findNewerThan(tree, V14)).toEqual(['/Response Payload/Attributes']);
  expect(pruneForVersion(tree, V14).value.map((c) => c.tag)).toEqual([Tag.UniqueIdentifier]);
  expect(pruneForVersion(tree, V21)).toBe(tree);
});

test('an enumeration value newer than the version is dropped', () => {
  const tree = ttlv.structure(Tag.BatchItem, [ttlv.enumeration(Tag.ResultReason, ResultReason.WrongKeyLifecycleState)]);
  expect(findNewerThan(tree, V14)).toHaveLength(1);
  expect(pruneForVersion(tree, V14).value).toEqual([]);
  expect(findNewerThan(tree, V21)).toEqual([]);
});

test('1.1 tags are not sent to a 1.0 client; vendor extension tags always pass', () => {
  const tree = ttlv.structure(Tag.ResponsePayload, [
    ttlv.enumeration(Tag.ObjectGroupMember, 1),
    ttlv.textString(0x540001, 'vendor'),
  ]);
  expect(pruneForVersion(tree, V10).value.map((c) => c.tag)).toEqual([0x540001]);
});
