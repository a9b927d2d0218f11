/**
 * The server-wide cryptographic policy: which algorithms, key sizes, curves, modes, paddings and
 * hashes each kind of operation may use. Handlers describe what they are about to compute as
 * facts and ask `checkCrypto` once; the answer comes from the profile's table of rules (data, in
 * ./policy-profiles.ts), never from if-chains in handlers. The operator picks a profile (config
 * `cryptoPolicy`), never a client.
 */
import { CryptographicAlgorithm, type EnumName } from '../spec/generated/enums';
import { enumValueInfo } from '../spec/registry';
import { KmipError, Reason } from '../kmip/errors';

/**
 * What the policy rules on. Verify, MACVerify and Decrypt are apart from Sign, MAC and Encrypt
 * because SP 800-131A lets legacy algorithms process data protected before ("legacy use") while
 * refusing them for new protection.
 */
export const POLICY_OPERATIONS = ['Create', 'CreateKeyPair', 'Register', 'Encrypt', 'Decrypt', 'Sign', 'Verify', 'MAC', 'MACVerify', 'Derive', 'Wrap'] as const;
export type PolicyOperation = (typeof POLICY_OPERATIONS)[number];

export const PROFILE_NAMES = ['default', 'legacy', 'custom'] as const;
export type ProfileName = (typeof PROFILE_NAMES)[number];

/** Key sizes in bits: any, a list, or a floor. */
export type SizeRule = 'any' | { readonly bits: readonly number[] } | { readonly minBits: number };

/** A set of enumeration values a request may use, or 'any' (no rule on that category). */
export type Allowed = 'any' | ReadonlySet<number>;

export interface OperationRule {
  /** Cryptographic Algorithm values (EC stands for ECDSA, ECDH and ECMQV keys too) and their sizes. */
  readonly algorithms: 'any' | ReadonlyMap<number, SizeRule>;
  readonly curves: Allowed;
  readonly modes: Allowed;
  readonly paddings: Allowed;
  readonly hashes: Allowed;
}

export interface CryptoPolicy {
  readonly profile: ProfileName;
  readonly rules: Readonly<Record<PolicyOperation, OperationRule>>;
}

/** What an operation is about to compute; a fact left out is not ruled on. */
export interface CryptoFacts {
  readonly algorithm?: number;
  /** Key size in bits (RSA modulus, symmetric key length). */
  readonly bits?: number;
  readonly curve?: number;
  readonly mode?: number;
  readonly padding?: number;
  readonly hash?: number;
}

/** The categories of a rule, with the enumeration that names their values. */
export const CATEGORIES = [
  { key: 'curves', fact: 'curve', enumName: 'RecommendedCurve', label: 'Recommended Curve' },
  { key: 'modes', fact: 'mode', enumName: 'BlockCipherMode', label: 'Block Cipher Mode' },
  { key: 'paddings', fact: 'padding', enumName: 'PaddingMethod', label: 'Padding Method' },
  { key: 'hashes', fact: 'hash', enumName: 'HashingAlgorithm', label: 'Hashing Algorithm' },
] as const satisfies readonly { key: keyof OperationRule; fact: keyof CryptoFacts; enumName: EnumName; label: string }[];

/** One family, one rule: 1.x names EC keys by their use (ECDSA, ECDH, ECMQV); the policy by the key. */
const EC_NAMES: ReadonlySet<number> = new Set([CryptographicAlgorithm.ECDSA, CryptographicAlgorithm.ECDH, CryptographicAlgorithm.ECMQV]);

export function canonicalAlgorithm(algorithm: number): number {
  return EC_NAMES.has(algorithm) ? CryptographicAlgorithm.EC : algorithm;
}

export function valueName(enumName: EnumName, value: number): string {
  return enumValueInfo(enumName, value)?.name ?? `0x${value.toString(16).padStart(8, '0')}`;
}

export function sizeText(rule: SizeRule): string {
  if (rule === 'any') return 'any size';
  if ('minBits' in rule) return `at least ${rule.minBits} bits`;
  return `${rule.bits.join(', ')} bits`;
}

function sizeFits(rule: SizeRule, bits: number): boolean {
  if (rule === 'any') return true;
  return 'minBits' in rule ? bits >= rule.minBits : rule.bits.includes(bits);
}

/**
 * What the key is (algorithm, size, curve) is the key's: refusing it is a Cryptographic Failure
 * when an existing key is used, and an Invalid Field when the request asks for such a key. The
 * parameters (mode, padding, hash) are always the request's (or the key's stored defaults).
 */
const ASKS_FOR_KEY: ReadonlySet<PolicyOperation> = new Set(['Create', 'CreateKeyPair', 'Register']);

function refuse(policy: CryptoPolicy, op: PolicyOperation, what: string, rule: string, keyFact: boolean): never {
  const reason = keyFact && !ASKS_FOR_KEY.has(op) ? Reason.CryptographicFailure : Reason.InvalidField;
  throw new KmipError(reason, `the cryptographic policy (profile ${policy.profile}) does not allow ${what} for ${op} (rule cryptoPolicy ${op}.${rule})`);
}

/** Throws the refusal naming the rule when `facts` break the policy for `op`. */
export function checkCrypto(policy: CryptoPolicy, op: PolicyOperation, facts: CryptoFacts): void {
  const rule = policy.rules[op];
  if (facts.algorithm !== undefined && rule.algorithms !== 'any') {
    const algorithm = canonicalAlgorithm(facts.algorithm);
    const name = valueName('CryptographicAlgorithm', algorithm);
    const sizes = rule.algorithms.get(algorithm);
    if (sizes === undefined) refuse(policy, op, `Cryptographic Algorithm ${name}`, 'algorithms', true);
    if (facts.bits !== undefined && !sizeFits(sizes, facts.bits)) {
      refuse(policy, op, `${name} keys of ${facts.bits} bits`, `algorithms.${name}: ${sizeText(sizes)}`, true);
    }
  }
  for (const c of CATEGORIES) {
    const value = facts[c.fact];
    const allowed = rule[c.key];
    if (value === undefined || allowed === 'any' || allowed.has(value)) continue;
    refuse(policy, op, `${c.label} ${valueName(c.enumName, value)}`, c.key, c.key === 'curves');
  }
}

/** Whether the policy allows the facts, for callers that pick among candidates (Query, defaults). */
export function allows(policy: CryptoPolicy, op: PolicyOperation, facts: CryptoFacts): boolean {
  try {
    checkCrypto(policy, op, facts);
    return true;
  } catch (e) {
    if (e instanceof KmipError) return false;
    throw e;
  }
}

/** The config key that names the legacy profile in older configurations (an alias kept working). */
export const LEGACY_SWITCH = 'crypto.allowLegacy';
