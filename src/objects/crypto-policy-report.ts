/**
 * The cryptographic policy as Query reports it (vendor Query Function Query Cryptographic Policy,
 * src/spec/vendor-extensions.ts): per operation, the algorithms with their sizes and the curves,
 * modes, paddings and hashes allowed, as KMIP enumerations. Values the client's version lacks are
 * left out here rather than by the output filter, and a category the rule leaves open is named
 * as unrestricted, so an absent list never reads as "nothing allowed".
 */
import { ttlv, type TtlvItem } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { enumValueInVersion } from '../spec/registry';
import type { VersionLike } from '../spec/versions';
import { VendorTag } from '../spec/vendor-extensions';
import { CATEGORIES, POLICY_OPERATIONS, type CryptoPolicy, type OperationRule, type SizeRule } from '../crypto/policy';

const CATEGORY_TAG: Readonly<Record<(typeof CATEGORIES)[number]['key'], number>> = {
  curves: Tag.RecommendedCurve,
  modes: Tag.BlockCipherMode,
  paddings: Tag.PaddingMethod,
  hashes: Tag.HashingAlgorithm,
};

function sizes(rule: SizeRule): TtlvItem[] {
  if (rule === 'any') return [];
  if ('minBits' in rule) return [ttlv.integer(VendorTag.PolicyMinimumLength, rule.minBits)];
  return rule.bits.map((b) => ttlv.integer(Tag.CryptographicLength, b));
}

function ruleItems(rule: OperationRule, v: VersionLike): TtlvItem[] {
  const out: TtlvItem[] = [];
  const open = (name: string) => out.push(ttlv.textString(VendorTag.PolicyUnrestricted, name));
  if (rule.algorithms === 'any') open('algorithms');
  else {
    for (const [algorithm, size] of [...rule.algorithms].sort((a, b) => a[0] - b[0])) {
      if (!enumValueInVersion(Tag.CryptographicAlgorithm, algorithm, v)) continue;
      out.push(ttlv.structure(VendorTag.PolicyAlgorithm, [ttlv.enumeration(Tag.CryptographicAlgorithm, algorithm), ...sizes(size)]));
    }
  }
  for (const c of CATEGORIES) {
    const allowed = rule[c.key];
    if (allowed === 'any') {
      open(c.key);
      continue;
    }
    const tag = CATEGORY_TAG[c.key];
    for (const value of [...allowed].sort((a, b) => a - b)) if (enumValueInVersion(tag, value, v)) out.push(ttlv.enumeration(tag, value));
  }
  return out;
}

export function cryptoPolicyReport(policy: CryptoPolicy, v: VersionLike): TtlvItem {
  return ttlv.structure(VendorTag.CryptographicPolicy, [
    ttlv.textString(VendorTag.PolicyProfile, policy.profile),
    ...POLICY_OPERATIONS.map((op) => ttlv.structure(VendorTag.PolicyRule, [ttlv.textString(VendorTag.PolicyOperation, op), ...ruleItems(policy.rules[op], v)])),
  ]);
}
