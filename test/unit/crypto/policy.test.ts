/**
 * The cryptographic policy's table and its one check: what the default profile refuses and keeps
 * (SP 800-131A's new protection vs legacy use), the refusal's reason and wording, the legacy
 * profile's openness, custom profiles read from config names, and that every rule is keyed by
 * values of the generated enumerations.
 */
import { BlockCipherMode, CryptographicAlgorithm, ENUM_INFO, HashingAlgorithm, PaddingMethod, RecommendedCurve, ResultReason } from '../../../src/spec/generated/enums';
import { KmipError } from '../../../src/kmip/errors';
import { CATEGORIES, POLICY_OPERATIONS, allows, checkCrypto, type CryptoFacts, type CryptoPolicy, type PolicyOperation } from '../../../src/crypto/policy';
import { DEFAULT_CRYPTO_POLICY, LEGACY_CRYPTO_POLICY } from '../../../src/crypto/policy-profiles';
import { enumValueByName, parseCryptoPolicy } from '../../../src/crypto/policy-config';

function refusal(policy: CryptoPolicy, op: PolicyOperation, facts: CryptoFacts): KmipError {
  try {
    checkCrypto(policy, op, facts);
  } catch (e) {
    if (e instanceof KmipError) return e;
    throw e;
  }
  throw new Error('not refused');
}

const failWith = (key: string, message: string): never => {
  throw new Error(`${key}: ${message}`);
};

const D = DEFAULT_CRYPTO_POLICY;
const A = CryptographicAlgorithm;

describe('default profile (SP 800-131A Rev. 2, SP 800-57)', () => {
  test.each<[string, PolicyOperation, CryptoFacts, number, RegExp]>([
    ['RSA-1024 key pairs', 'CreateKeyPair', { algorithm: A.RSA, bits: 1024 }, ResultReason.InvalidField, /RSA keys of 1024 bits for CreateKeyPair \(rule cryptoPolicy CreateKeyPair\.algorithms\.RSA: at least 2048 bits\)/],
    ['P-192 key pairs', 'CreateKeyPair', { algorithm: A.ECDSA, curve: RecommendedCurve.P_192 }, ResultReason.InvalidField, /Recommended Curve P-192 for CreateKeyPair \(rule cryptoPolicy CreateKeyPair\.curves\)/],
    ['3DES keys', 'Create', { algorithm: A.DES3, bits: 168 }, ResultReason.InvalidField, /Cryptographic Algorithm 3DES for Create/],
    ['HMAC keys under 112 bits', 'Create', { algorithm: A.HMAC_SHA256, bits: 64 }, ResultReason.InvalidField, /at least 112 bits/],
    ['3DES encryption with a stored key', 'Encrypt', { algorithm: A.DES3, bits: 192 }, ResultReason.CryptographicFailure, /Encrypt \(rule cryptoPolicy Encrypt\.algorithms\)/],
    ['ECB encryption', 'Encrypt', { algorithm: A.AES, bits: 128, mode: BlockCipherMode.ECB }, ResultReason.InvalidField, /Block Cipher Mode ECB for Encrypt/],
    ['PKCS#1 v1.5 encryption', 'Encrypt', { algorithm: A.RSA, bits: 2048, padding: PaddingMethod.PKCS1V1_5 }, ResultReason.InvalidField, /Encrypt\.paddings/],
    ['SHA-1 signatures', 'Sign', { algorithm: A.RSA, bits: 2048, hash: HashingAlgorithm.SHA_1 }, ResultReason.InvalidField, /Hashing Algorithm SHA-1 for Sign \(rule cryptoPolicy Sign\.hashes\)/],
    ['DSA signatures (gone from FIPS 186-5)', 'Sign', { algorithm: A.DSA, bits: 2048 }, ResultReason.CryptographicFailure, /Sign\.algorithms/],
    ['signing with RSA-1024', 'Sign', { algorithm: A.RSA, bits: 1024 }, ResultReason.CryptographicFailure, /Sign\.algorithms\.RSA/],
    ['HMAC-MD5', 'MAC', { algorithm: A.HMAC_MD5, bits: 128 }, ResultReason.CryptographicFailure, /MAC\.algorithms/],
    ['3DES-CMAC', 'MAC', { algorithm: A.DES3, bits: 192, mode: BlockCipherMode.CMAC }, ResultReason.CryptographicFailure, /MAC\.algorithms/],
    ['wrapping with a mode other than AES Key Wrap', 'Wrap', { algorithm: A.AES, bits: 256, mode: BlockCipherMode.CBC }, ResultReason.InvalidField, /Wrap\.modes/],
  ])('refuses %s', (_what, op, facts, reason, message) => {
    const e = refusal(D, op, facts);
    expect(e.reason).toBe(reason);
    expect(e.message).toMatch(/^the cryptographic policy \(profile default\) does not allow /);
    expect(e.message).toMatch(message);
  });

  test.each<[string, PolicyOperation, CryptoFacts]>([
    ['AES-256 keys', 'Create', { algorithm: A.AES, bits: 256 }],
    ['HMAC-SHA1 keys of 160 bits (HMAC, not signatures)', 'Create', { algorithm: A.HMAC_SHA1, bits: 160 }],
    ['ChaCha20 keys', 'Create', { algorithm: A.ChaCha20, bits: 256 }],
    ['RSA-3072 pairs', 'CreateKeyPair', { algorithm: A.RSA, bits: 3072 }],
    ['ECDSA P-256 pairs (ECDSA is the EC rule)', 'CreateKeyPair', { algorithm: A.ECDSA, curve: RecommendedCurve.P_256 }],
    ['Ed25519 pairs', 'CreateKeyPair', { algorithm: A.Ed25519, bits: 256 }],
    ['registering an RSA-1024 key (its uses are ruled on)', 'Register', { algorithm: A.RSA, bits: 1024 }],
    ['AES-GCM encryption', 'Encrypt', { algorithm: A.AES, bits: 256, mode: BlockCipherMode.GCM }],
    ['RSA-OAEP with SHA-1 (SP 800-56B)', 'Encrypt', { algorithm: A.RSA, bits: 2048, padding: PaddingMethod.OAEP, hash: HashingAlgorithm.SHA_1 }],
    ['AES-XTS-256 keys of 512 bits', 'Encrypt', { algorithm: A.AES, bits: 512, mode: BlockCipherMode.XTS }],
    ['ECB decryption (legacy use)', 'Decrypt', { algorithm: A.AES, bits: 128, mode: BlockCipherMode.ECB }],
    ['3DES decryption (legacy use)', 'Decrypt', { algorithm: A.DES3, bits: 192, mode: BlockCipherMode.CBC }],
    ['PKCS#1 v1.5 decryption (legacy use)', 'Decrypt', { algorithm: A.RSA, bits: 1024, padding: PaddingMethod.PKCS1V1_5 }],
    ['SHA-1 RSA-1024 verification (legacy use)', 'Verify', { algorithm: A.RSA, bits: 1024, hash: HashingAlgorithm.SHA_1 }],
    ['ECDSA P-384 SHA-384 signatures', 'Sign', { algorithm: A.EC, curve: RecommendedCurve.P_384, hash: HashingAlgorithm.SHA_384 }],
    ['3DES-CMAC verification (legacy use)', 'MACVerify', { algorithm: A.DES3, bits: 192, mode: BlockCipherMode.CMAC }],
    ['HKDF over HMAC-SHA256', 'Derive', { algorithm: A.HMAC_SHA256, bits: 256, hash: HashingAlgorithm.SHA_256 }],
    ['AES Key Wrap with Padding', 'Wrap', { algorithm: A.AES, bits: 256, mode: BlockCipherMode.AESKeyWrapPadding }],
    ['facts it is not told (a Secret Data source)', 'Derive', {}],
  ])('allows %s', (_what, op, facts) => {
    expect(allows(D, op, facts)).toBe(true);
  });
});

test('legacy profile: everything this server computes', () => {
  for (const op of POLICY_OPERATIONS) {
    expect(allows(LEGACY_CRYPTO_POLICY, op, { algorithm: A.DES3, bits: 112, mode: BlockCipherMode.ECB, padding: PaddingMethod.PKCS1V1_5, hash: HashingAlgorithm.MD5, curve: RecommendedCurve.P_192 })).toBe(true);
  }
});

test('every rule is keyed by values of the generated enumerations', () => {
  const known = (name: keyof typeof ENUM_INFO, v: number) => ENUM_INFO[name].values.some((e) => e.value === v);
  for (const op of POLICY_OPERATIONS) {
    const rule = D.rules[op];
    if (rule.algorithms !== 'any') for (const a of rule.algorithms.keys()) expect(known('CryptographicAlgorithm', a)).toBe(true);
    for (const c of CATEGORIES) {
      const allowed = rule[c.key];
      if (allowed !== 'any') for (const v of allowed) expect(known(c.enumName, v)).toBe(true);
    }
  }
});

describe('config', () => {
  test('names in any spelling of the specification', () => {
    expect(enumValueByName('HashingAlgorithm', 'SHA-256')).toBe(HashingAlgorithm.SHA_256);
    expect(enumValueByName('HashingAlgorithm', 'sha_256')).toBe(HashingAlgorithm.SHA_256);
    expect(enumValueByName('CryptographicAlgorithm', '3DES')).toBe(A.DES3);
    expect(enumValueByName('CryptographicAlgorithm', 'DES3')).toBe(A.DES3);
    expect(enumValueByName('BlockCipherMode', 'NISTKeyWrap')).toBe(BlockCipherMode.NISTKeyWrap);
  });

  test('named profiles, the legacy alias, and no policy at all', () => {
    expect(parseCryptoPolicy(undefined, undefined, failWith)).toBe(DEFAULT_CRYPTO_POLICY);
    expect(parseCryptoPolicy(undefined, true, failWith)).toBe(LEGACY_CRYPTO_POLICY);
    expect(parseCryptoPolicy({ profile: 'legacy' }, undefined, failWith)).toBe(LEGACY_CRYPTO_POLICY);
    expect(parseCryptoPolicy({}, false, failWith)).toBe(DEFAULT_CRYPTO_POLICY);
    expect(() => parseCryptoPolicy({ profile: 'default' }, true, failWith)).toThrow(/^crypto\.allowLegacy: contradicts cryptoPolicy\.profile "default"/);
  });

  test('custom: replaces the categories it names over its base, keeps the rest; EC names fold into EC', () => {
    const p = parseCryptoPolicy(
      { profile: 'custom', operations: { Sign: { hashes: ['SHA-1', 'SHA-256'], algorithms: { RSA: { minBits: 1024 }, ECDSA: 'any' } }, Encrypt: { modes: 'any' } } },
      undefined,
      failWith,
    );
    expect(p.profile).toBe('custom');
    expect(allows(p, 'Sign', { algorithm: A.RSA, bits: 1024, hash: HashingAlgorithm.SHA_1 })).toBe(true);
    expect(allows(p, 'Sign', { algorithm: A.EC, curve: RecommendedCurve.P_256, hash: HashingAlgorithm.SHA_384 })).toBe(false);
    // Curves were not named: the default's still apply.
    expect(allows(p, 'Sign', { algorithm: A.EC, curve: RecommendedCurve.P_192, hash: HashingAlgorithm.SHA_256 })).toBe(false);
    expect(allows(p, 'Sign', { algorithm: A.Ed25519 })).toBe(false);
    expect(allows(p, 'Encrypt', { algorithm: A.AES, bits: 128, mode: BlockCipherMode.ECB })).toBe(true);
    expect(allows(p, 'Encrypt', { algorithm: A.DES3, bits: 192 })).toBe(false);
    // Other operations are the base's.
    expect(p.rules.Create).toBe(DEFAULT_CRYPTO_POLICY.rules.Create);
    const fromLegacy = parseCryptoPolicy({ profile: 'custom', base: 'legacy', operations: { Sign: { hashes: ['SHA-256'] } } }, undefined, failWith);
    expect(allows(fromLegacy, 'Sign', { algorithm: A.DSA, bits: 1024, hash: HashingAlgorithm.SHA_1 })).toBe(false);
    expect(allows(fromLegacy, 'Sign', { algorithm: A.DSA, bits: 1024, hash: HashingAlgorithm.SHA_256 })).toBe(true);
  });

  test.each<[unknown, string]>([
    [[], 'cryptoPolicy'],
    [{ profile: 'strict' }, 'cryptoPolicy.profile'],
    [{ profile: 'custom', operations: { Sign: { hashes: ['SHA-256', 'MD6'] } } }, 'cryptoPolicy.operations.Sign.hashes[1]'],
    [{ profile: 'custom', operations: { Sign: { algorithms: { RSA: { bits: [2048, 0] } } } } }, 'cryptoPolicy.operations.Sign.algorithms.RSA.bits[1]'],
    [{ profile: 'custom', operations: { Sign: { algorithms: { RSA: { minBits: 2048, bits: [4096] } } } } }, 'cryptoPolicy.operations.Sign.algorithms.RSA'],
    [{ profile: 'custom', operations: { Sign: { curves: ['P-256', 'P-999'] } } }, 'cryptoPolicy.operations.Sign.curves[1]'],
    [{ profile: 'custom', operations: [] }, 'cryptoPolicy.operations'],
    [{ profile: 'custom', operations: { Sign: [] } }, 'cryptoPolicy.operations.Sign'],
    [{ profile: 'legacy', base: 'default' }, 'cryptoPolicy.base'],
  ])('%j is refused naming %s', (raw, key) => {
    expect(() => parseCryptoPolicy(raw, undefined, failWith)).toThrow(new RegExp(`^${key.replace(/[.[\]]/g, '\\$&')}: `));
  });
});
