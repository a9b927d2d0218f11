/**
 * The named profiles of the cryptographic policy, as data: one row per operation and algorithm,
 * keyed by the generated enumeration values, so a new algorithm (the post-quantum families) is one
 * row. `default` follows NIST SP 800-131A Rev. 2 and SP 800-57 Part 1 Rev. 5: at least 112 bits of
 * security for new protection (Create, Create Key Pair, Encrypt, Sign, MAC, Derive, Wrap), while
 * Decrypt, Signature Verify and MAC Verify keep the "legacy use" 131A allows for data protected
 * before. `legacy` is everything this server can compute (what it did before the policy existed).
 */
import {
  BlockCipherMode as Mode,
  CryptographicAlgorithm as Alg,
  HashingAlgorithm as Hash,
  PaddingMethod as Pad,
  RecommendedCurve as Curve,
} from '../spec/generated/enums';
import { POLICY_OPERATIONS, type CryptoPolicy, type OperationRule, type PolicyOperation, type SizeRule } from './policy';

const any = 'any' as const;
const bits = (...b: number[]): SizeRule => ({ bits: b });
const minBits = (n: number): SizeRule => ({ minBits: n });

// ---------------------------------------------------------------------------------------------
// Building blocks (the reasons are SP 800-131A Rev. 2's unless said otherwise)

const AES: readonly [number, SizeRule] = [Alg.AES, bits(128, 192, 256)];
/** Ciphers also take XTS keys: 512 bits is AES-256-XTS (two AES keys), 256 also AES-128-XTS. */
const AES_CIPHER: readonly [number, SizeRule] = [Alg.AES, bits(128, 192, 256, 512)];
/** Not a NIST algorithm: RFC 8439, 256-bit keys, the IETF's AEAD beside AES-GCM; kept for TLS-era clients. */
const CHACHA: readonly (readonly [number, SizeRule])[] = [
  [Alg.ChaCha20, bits(256)],
  [Alg.ChaCha20Poly1305, bits(256)],
];
/** HMAC keys of at least 112 bits; HMAC-SHA-1 stays acceptable for HMAC (not for signatures). */
const HMACS: readonly (readonly [number, SizeRule])[] = [
  Alg.HMAC_SHA1,
  Alg.HMAC_SHA224,
  Alg.HMAC_SHA256,
  Alg.HMAC_SHA384,
  Alg.HMAC_SHA512,
  Alg.HMAC_SHA3_224,
  Alg.HMAC_SHA3_256,
  Alg.HMAC_SHA3_384,
  Alg.HMAC_SHA3_512,
].map((a) => [a, minBits(112)] as const);
/** TDEA: disallowed for encryption after 2023, decryption (two- and three-key) is legacy use. */
const TDEA: readonly [number, SizeRule] = [Alg.DES3, any];

const RSA_NEW: readonly [number, SizeRule] = [Alg.RSA, minBits(2048)];
const RSA_LEGACY_USE: readonly [number, SizeRule] = [Alg.RSA, minBits(1024)];
/** The curve decides the size of EC keys (see curves). */
const EC: readonly [number, SizeRule] = [Alg.EC, any];
const EDDSA: readonly (readonly [number, SizeRule])[] = [
  [Alg.Ed25519, any],
  [Alg.Ed448, any],
];

/** FIPS 203's KEM (and the X25519 + ML-KEM-768 hybrid, whose strength is at least ML-KEM-768's). */
const KEMS: readonly (readonly [number, SizeRule])[] = [Alg.ML_KEM_512, Alg.ML_KEM_768, Alg.ML_KEM_1024, Alg.X25519_ML_KEM_768].map((a) => [a, any] as const);
/** FIPS 204 and FIPS 205 signatures, every parameter set (each meets at least 128-bit strength). */
const PQ_SIGNATURES: readonly (readonly [number, SizeRule])[] = [
  Alg.ML_DSA_44,
  Alg.ML_DSA_65,
  Alg.ML_DSA_87,
  Alg.SLH_DSA_SHA2_128s,
  Alg.SLH_DSA_SHA2_128f,
  Alg.SLH_DSA_SHA2_192s,
  Alg.SLH_DSA_SHA2_192f,
  Alg.SLH_DSA_SHA2_256s,
  Alg.SLH_DSA_SHA2_256f,
  Alg.SLH_DSA_SHAKE_128s,
  Alg.SLH_DSA_SHAKE_128f,
  Alg.SLH_DSA_SHAKE_192s,
  Alg.SLH_DSA_SHAKE_192f,
  Alg.SLH_DSA_SHAKE_256s,
  Alg.SLH_DSA_SHAKE_256f,
].map((a) => [a, any] as const);

/** SP 800-186's prime curves of at least 224 bits (P-192 is below 112-bit strength). */
const NIST_CURVES = [Curve.P_224, Curve.P_256, Curve.P_384, Curve.P_521];
const SHA2 = [Hash.SHA_224, Hash.SHA_256, Hash.SHA_384, Hash.SHA_512, Hash.SHA_512_224, Hash.SHA_512_256];
const SHA3 = [Hash.SHA3_224, Hash.SHA3_256, Hash.SHA3_384, Hash.SHA3_512];
/** ECB leaks equal plaintext blocks: refused for new encryption here (NIST's 2023 review of SP 800-38A proposes the same). */
const CONFIDENTIALITY_MODES = [Mode.CBC, Mode.CFB, Mode.OFB, Mode.CTR, Mode.GCM, Mode.XTS, Mode.AEAD];
const KEY_WRAP_MODES = [Mode.NISTKeyWrap, Mode.AESKeyWrapPadding];

function rule(r: {
  algorithms: readonly (readonly [number, SizeRule])[] | 'any';
  curves?: readonly number[];
  modes?: readonly number[];
  paddings?: readonly number[];
  hashes?: readonly number[];
}): OperationRule {
  const set = (v: readonly number[] | undefined) => (v === undefined ? any : new Set(v));
  return {
    algorithms: r.algorithms === any ? any : new Map(r.algorithms),
    curves: set(r.curves),
    modes: set(r.modes),
    paddings: set(r.paddings),
    hashes: set(r.hashes),
  };
}

// ---------------------------------------------------------------------------------------------
// The default profile

const DEFAULT_RULES: Readonly<Record<PolicyOperation, OperationRule>> = {
  Create: rule({ algorithms: [AES, ...CHACHA, ...HMACS] }),
  CreateKeyPair: rule({ algorithms: [RSA_NEW, EC, ...EDDSA, ...KEMS, ...PQ_SIGNATURES], curves: NIST_CURVES }),
  // Registering is bringing an existing key in: its uses are ruled on when it is used.
  Register: rule({ algorithms: any }),
  Encrypt: rule({
    algorithms: [AES_CIPHER, ...CHACHA, RSA_NEW, ...KEMS],
    modes: CONFIDENTIALITY_MODES,
    // PKCS#1 v1.5 encryption is disallowed for key transport after 2023; OAEP's hash may be SHA-1 (SP 800-56B).
    paddings: [Pad.None, Pad.PKCS5, Pad.OAEP],
    hashes: [Hash.SHA_1, ...SHA2, ...SHA3],
  }),
  Decrypt: rule({
    algorithms: [AES_CIPHER, ...CHACHA, TDEA, RSA_LEGACY_USE, ...KEMS],
    modes: [...CONFIDENTIALITY_MODES, Mode.ECB],
    paddings: [Pad.None, Pad.PKCS5, Pad.OAEP, Pad.PKCS1V1_5],
    hashes: [Hash.SHA_1, ...SHA2, ...SHA3],
  }),
  // DSA signature generation left FIPS 186-5; SHA-1 signatures are disallowed.
  Sign: rule({ algorithms: [RSA_NEW, EC, ...EDDSA, ...PQ_SIGNATURES], curves: NIST_CURVES, paddings: [Pad.PKCS1V1_5, Pad.PSS], hashes: [...SHA2, ...SHA3] }),
  Verify: rule({
    algorithms: [RSA_LEGACY_USE, [Alg.DSA, minBits(1024)], EC, ...EDDSA, ...PQ_SIGNATURES],
    curves: [Curve.P_192, ...NIST_CURVES],
    paddings: [Pad.PKCS1V1_5, Pad.PSS],
    hashes: [Hash.SHA_1, ...SHA2, ...SHA3],
  }),
  MAC: rule({ algorithms: [...HMACS, AES], modes: [Mode.CMAC] }),
  MACVerify: rule({ algorithms: [...HMACS, AES, TDEA], modes: [Mode.CMAC] }),
  // Key agreement (Asymmetric Key derivation) on the NIST curves; X25519/X448 keys name no KMIP algorithm.
  Derive: rule({ algorithms: [AES, ...HMACS, EC], curves: NIST_CURVES, modes: CONFIDENTIALITY_MODES, hashes: [Hash.SHA_1, ...SHA2, ...SHA3] }),
  Wrap: rule({ algorithms: [AES], modes: KEY_WRAP_MODES }),
};

const LEGACY_RULES = Object.fromEntries(POLICY_OPERATIONS.map((op) => [op, rule({ algorithms: any })])) as Record<PolicyOperation, OperationRule>;

export const DEFAULT_CRYPTO_POLICY: CryptoPolicy = { profile: 'default', rules: DEFAULT_RULES };
export const LEGACY_CRYPTO_POLICY: CryptoPolicy = { profile: 'legacy', rules: LEGACY_RULES };

export const NAMED_PROFILES: Readonly<Record<'default' | 'legacy', CryptoPolicy>> = {
  default: DEFAULT_CRYPTO_POLICY,
  legacy: LEGACY_CRYPTO_POLICY,
};
