/**
 * The Query Cryptographic Policy answer: every operation's rule, sizes as lengths or a minimum,
 * open categories named, and nothing newer than the client's version (Ed25519 and SHA-3 are left
 * out for a 1.0 client rather than pruned by the output filter).
 */
import { asEnumeration, asStructure, asText, children, opt } from '../../../src/kmip/tree';
import { findNewerThan } from '../../../src/kmip/version-filter';
import { CryptographicAlgorithm, HashingAlgorithm } from '../../../src/spec/generated/enums';
import { Tag } from '../../../src/spec/generated/tags';
import { VendorTag } from '../../../src/spec/vendor-extensions';
import { POLICY_OPERATIONS } from '../../../src/crypto/policy';
import { DEFAULT_CRYPTO_POLICY, LEGACY_CRYPTO_POLICY } from '../../../src/crypto/policy-profiles';
import { cryptoPolicyReport } from '../../../src/objects/crypto-policy-report';

const rule = (report: ReturnType<typeof cryptoPolicyReport>, op: string) =>
  children(asStructure(report), VendorTag.PolicyRule)
    .map(asStructure)
    .find((r) => opt.text(r, VendorTag.PolicyOperation) === op)!;

test('one rule per operation, in order, with the profile', () => {
  const report = asStructure(cryptoPolicyReport(DEFAULT_CRYPTO_POLICY, { major: 2, minor: 1 }));
  expect(opt.text(report, VendorTag.PolicyProfile)).toBe('default');
  expect(children(report, VendorTag.PolicyRule).map((r) => opt.text(asStructure(r), VendorTag.PolicyOperation))).toEqual([...POLICY_OPERATIONS]);
});

test('sizes: a list as Cryptographic Lengths, a floor as Policy Minimum Length; open categories named', () => {
  const create = rule(cryptoPolicyReport(DEFAULT_CRYPTO_POLICY, { major: 2, minor: 1 }), 'Create');
  const aes = children(create, VendorTag.PolicyAlgorithm)
    .map(asStructure)
    .find((a) => opt.enumeration(a, Tag.CryptographicAlgorithm) === CryptographicAlgorithm.AES)!;
  expect(children(aes, Tag.CryptographicLength).map((i) => i.value)).toEqual([128, 192, 256]);
  const hmac = children(create, VendorTag.PolicyAlgorithm)
    .map(asStructure)
    .find((a) => opt.enumeration(a, Tag.CryptographicAlgorithm) === CryptographicAlgorithm.HMAC_SHA256)!;
  expect(opt.integer(hmac, VendorTag.PolicyMinimumLength)).toBe(112);
  expect(children(create, VendorTag.PolicyUnrestricted).map(asText)).toEqual(['curves', 'modes', 'paddings', 'hashes']);
  const legacy = rule(cryptoPolicyReport(LEGACY_CRYPTO_POLICY, { major: 2, minor: 1 }), 'Sign');
  expect(children(legacy, VendorTag.PolicyUnrestricted).map(asText)).toEqual(['algorithms', 'curves', 'modes', 'paddings', 'hashes']);
});

test('nothing newer than the client version', () => {
  for (const v of [{ major: 1, minor: 0 }, { major: 1, minor: 2 }, { major: 1, minor: 4 }, { major: 2, minor: 0 }]) {
    const report = cryptoPolicyReport(DEFAULT_CRYPTO_POLICY, v);
    expect(findNewerThan(report, v)).toEqual([]);
  }
  const v10 = rule(cryptoPolicyReport(DEFAULT_CRYPTO_POLICY, { major: 1, minor: 0 }), 'Sign');
  expect(children(v10, VendorTag.PolicyAlgorithm).map((a) => opt.enumeration(asStructure(a), Tag.CryptographicAlgorithm))).not.toContain(CryptographicAlgorithm.Ed25519);
  expect(children(v10, Tag.HashingAlgorithm).map(asEnumeration)).toContain(HashingAlgorithm.SHA_256);
  const v21 = rule(cryptoPolicyReport(DEFAULT_CRYPTO_POLICY, { major: 2, minor: 1 }), 'Sign');
  expect(children(v21, VendorTag.PolicyAlgorithm).map((a) => opt.enumeration(asStructure(a), Tag.CryptographicAlgorithm))).toContain(CryptographicAlgorithm.Ed25519);
});
