/**
 * The `cryptoPolicy` section of the configuration, read into a CryptoPolicy. Values are named as
 * the KMIP specification names them ("SHA-256", "SHA_256", "sha256" alike), looked up in the
 * generated enumerations, so the file never carries a number. Every mistake names its key.
 *
 *   "cryptoPolicy": { "profile": "default" | "legacy" }
 *   "cryptoPolicy": { "profile": "custom", "base": "default",
 *                     "operations": { "Sign": { "hashes": ["SHA-1", "SHA-256"],
 *                                               "algorithms": { "RSA": { "minBits": 1024 }, "EC": "any" } } } }
 *
 * A custom profile starts from its base (default unless named) and replaces, per operation, each
 * category it gives ("any" lifts the rule on that category).
 */
import { ENUM_INFO, type EnumName } from '../spec/generated/enums';
import { CATEGORIES, POLICY_OPERATIONS, canonicalAlgorithm, type CryptoPolicy, type OperationRule, type PolicyOperation, type SizeRule } from './policy';
import { NAMED_PROFILES } from './policy-profiles';

/** Stops the configuration with one line naming the key. */
export type Fail = (key: string, message: string) => never;

const KEY = 'cryptoPolicy';

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const squash = (s: string) => s.toLowerCase().replace(/[^a-z0-9]/g, '');

/** An enumeration value by any spelling of its spec name. */
export function enumValueByName(enumName: EnumName, text: string): number | undefined {
  const want = squash(text);
  return ENUM_INFO[enumName].values.find((v) => squash(v.name) === want || squash(v.xmlName) === want)?.value;
}

function values(v: unknown, enumName: EnumName, key: string, fail: Fail): 'any' | ReadonlySet<number> {
  if (v === 'any') return 'any';
  if (!Array.isArray(v)) return fail(key, 'must be "any" or a list of names');
  return new Set(
    v.map((name, i) => {
      if (typeof name !== 'string') return fail(`${key}[${i}]`, 'must be a name');
      const value = enumValueByName(enumName, name);
      return value ?? fail(`${key}[${i}]`, `"${name}" is not a ${enumName} of the KMIP specification`);
    }),
  );
}

function sizeRule(v: unknown, key: string, fail: Fail): SizeRule {
  if (v === 'any') return 'any';
  const positive = (n: unknown, k: string) => (typeof n === 'number' && Number.isInteger(n) && n > 0 ? n : fail(k, 'must be a positive whole number of bits'));
  if (isObject(v) && Object.keys(v).length === 1 && 'minBits' in v) return { minBits: positive(v['minBits'], `${key}.minBits`) };
  if (isObject(v) && Object.keys(v).length === 1 && Array.isArray(v['bits'])) return { bits: v['bits'].map((b, i) => positive(b, `${key}.bits[${i}]`)) };
  return fail(key, 'must be "any", {"minBits": N} or {"bits": [N, ...]}');
}

function algorithms(v: unknown, key: string, fail: Fail): OperationRule['algorithms'] {
  if (v === 'any') return 'any';
  if (!isObject(v)) return fail(key, 'must be "any" or an object of algorithm names to sizes');
  const out = new Map<number, SizeRule>();
  for (const [name, sizes] of Object.entries(v)) {
    const value = enumValueByName('CryptographicAlgorithm', name);
    if (value === undefined) fail(`${key}.${name}`, `"${name}" is not a Cryptographic Algorithm of the KMIP specification`);
    out.set(canonicalAlgorithm(value), sizeRule(sizes, `${key}.${name}`, fail));
  }
  return out;
}

function operationRule(base: OperationRule, v: unknown, key: string, fail: Fail): OperationRule {
  if (!isObject(v)) return fail(key, 'must be an object');
  const known = ['algorithms', ...CATEGORIES.map((c) => c.key)];
  for (const k of Object.keys(v)) if (!known.includes(k)) fail(`${key}.${k}`, `is not a policy category (${known.join(', ')})`);
  let out: OperationRule = base;
  if (v['algorithms'] !== undefined) out = { ...out, algorithms: algorithms(v['algorithms'], `${key}.algorithms`, fail) };
  for (const c of CATEGORIES) {
    if (v[c.key] !== undefined) out = { ...out, [c.key]: values(v[c.key], c.enumName, `${key}.${c.key}`, fail) };
  }
  return out;
}

/**
 * The policy the configuration asks for. `legacyAlias` is the older `crypto.allowLegacy`: true
 * means the legacy profile, and it may not contradict a profile named here.
 */
export function parseCryptoPolicy(raw: unknown, legacyAlias: boolean | undefined, fail: Fail): CryptoPolicy {
  if (raw === undefined) return legacyAlias ? NAMED_PROFILES.legacy : NAMED_PROFILES.default;
  if (!isObject(raw)) return fail(KEY, 'must be an object');
  for (const k of Object.keys(raw)) if (!['profile', 'base', 'operations'].includes(k)) fail(`${KEY}.${k}`, 'unknown key (allowed: profile, base, operations)');
  const profile = raw['profile'] ?? 'default';
  if (profile !== 'default' && profile !== 'legacy' && profile !== 'custom') return fail(`${KEY}.profile`, 'must be "default", "legacy" or "custom"');
  if (legacyAlias === true && profile !== 'legacy') fail('crypto.allowLegacy', `contradicts ${KEY}.profile "${profile}": crypto.allowLegacy is the older name of the legacy profile, keep one`);
  if (profile !== 'custom') {
    for (const k of ['base', 'operations']) if (raw[k] !== undefined) fail(`${KEY}.${k}`, 'is only read with profile "custom"');
    return NAMED_PROFILES[profile];
  }
  const baseName = raw['base'] ?? 'default';
  if (baseName !== 'default' && baseName !== 'legacy') return fail(`${KEY}.base`, 'must be "default" or "legacy"');
  const ops = raw['operations'] ?? {};
  if (!isObject(ops)) return fail(`${KEY}.operations`, 'must be an object of operation names to rules');
  const rules = { ...NAMED_PROFILES[baseName].rules } as Record<PolicyOperation, OperationRule>;
  for (const [op, v] of Object.entries(ops)) {
    if (!(POLICY_OPERATIONS as readonly string[]).includes(op)) fail(`${KEY}.operations.${op}`, `is not a policy operation (${POLICY_OPERATIONS.join(', ')})`);
    rules[op as PolicyOperation] = operationRule(rules[op as PolicyOperation], v, `${KEY}.operations.${op}`, fail);
  }
  return { profile: 'custom', rules };
}
