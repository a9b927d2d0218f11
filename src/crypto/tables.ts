/**
 * What this server can compute, as data: KMIP enumerations (algorithm, mode, padding, hash, curve,
 * signature algorithm) mapped to OpenSSL names as Node's crypto module knows them. Handlers look
 * combinations up here; a combination missing from a table is one we do not offer.
 */
import {
  BlockCipherMode,
  CryptographicAlgorithm,
  DigitalSignatureAlgorithm,
  HashingAlgorithm,
  PaddingMethod,
  RecommendedCurve,
} from '../spec/generated/enums';

// ---------------------------------------------------------------------------------------------
// Hashes

export interface HashInfo {
  /** Node / OpenSSL digest name. */
  readonly node: string;
  /** Output length in bytes. */
  readonly bytes: number;
}

export const HASHES: Readonly<Partial<Record<number, HashInfo>>> = {
  [HashingAlgorithm.MD5]: { node: 'md5', bytes: 16 },
  [HashingAlgorithm.SHA_1]: { node: 'sha1', bytes: 20 },
  [HashingAlgorithm.SHA_224]: { node: 'sha224', bytes: 28 },
  [HashingAlgorithm.SHA_256]: { node: 'sha256', bytes: 32 },
  [HashingAlgorithm.SHA_384]: { node: 'sha384', bytes: 48 },
  [HashingAlgorithm.SHA_512]: { node: 'sha512', bytes: 64 },
  [HashingAlgorithm.SHA_512_224]: { node: 'sha512-224', bytes: 28 },
  [HashingAlgorithm.SHA_512_256]: { node: 'sha512-256', bytes: 32 },
  [HashingAlgorithm.SHA3_224]: { node: 'sha3-224', bytes: 28 },
  [HashingAlgorithm.SHA3_256]: { node: 'sha3-256', bytes: 32 },
  [HashingAlgorithm.SHA3_384]: { node: 'sha3-384', bytes: 48 },
  [HashingAlgorithm.SHA3_512]: { node: 'sha3-512', bytes: 64 },
};

/** Hash algorithms named by Cryptographic Algorithm (2.x Hash may name SHA3 that way). */
export const HASH_BY_ALGORITHM: Readonly<Partial<Record<number, number>>> = {
  [CryptographicAlgorithm.SHA3_224]: HashingAlgorithm.SHA3_224,
  [CryptographicAlgorithm.SHA3_256]: HashingAlgorithm.SHA3_256,
  [CryptographicAlgorithm.SHA3_384]: HashingAlgorithm.SHA3_384,
  [CryptographicAlgorithm.SHA3_512]: HashingAlgorithm.SHA3_512,
};

// ---------------------------------------------------------------------------------------------
// Symmetric ciphers

export interface AeadInfo {
  /** Tag lengths in bytes this mode accepts (NIST SP 800-38D for GCM). */
  readonly tagBytes: readonly number[];
  readonly defaultTagBytes: number;
}

export interface SymmetricCipher {
  /** For messages: "AES-GCM". */
  readonly label: string;
  /** Node cipher name for a key of `keyBytes`, or undefined when the key size does not fit. */
  readonly node: (keyBytes: number) => string | undefined;
  /** Accepted IV / nonce / tweak lengths in bytes; empty: the mode takes none (ECB). */
  readonly ivBytes: { readonly min: number; readonly max: number } | null;
  /** IV length generated when the client asks the server for a random IV. */
  readonly defaultIvBytes: number;
  /** Block size when padding applies (ECB, CBC); 1 for stream-like modes. */
  readonly blockBytes: number;
  /** Padding Methods accepted besides None. */
  readonly paddings: readonly number[];
  readonly aead?: AeadInfo;
  /** Minimum data length (XTS needs one full block). */
  readonly minDataBytes?: number;
  /** Maps a KMIP nonce to the IV OpenSSL expects (ChaCha20's counter-and-nonce block). */
  readonly nodeIv?: (iv: Uint8Array) => Buffer;
}

const AES_SIZES: Readonly<Record<number, string>> = { 16: 'aes-128', 24: 'aes-192', 32: 'aes-256' };
const aes = (suffix: string) => (k: number) => (AES_SIZES[k] === undefined ? undefined : `${AES_SIZES[k]}-${suffix}`);
/** Two-key 3DES (16 bytes) is des-ede; three-key (24 bytes) is des-ede3. */
const des3 = (suffix: string) => (k: number) => (k === 16 ? `des-ede${suffix}` : k === 24 ? `des-ede3${suffix}` : undefined);
const only = (bytes: number, name: string) => (k: number) => (k === bytes ? name : undefined);

/**
 * OpenSSL's chacha20 IV is 16 bytes: a 32-bit little-endian block counter then a 96-bit nonce.
 * Read as the original 64-bit-counter/64-bit-nonce layout, an 8-byte KMIP nonce goes after eight
 * zero counter bytes; a 12-byte (RFC 8439) nonce after a zero 32-bit counter; 16 bytes are
 * taken as the full counter-and-nonce block.
 */
function chachaIv(iv: Uint8Array): Buffer {
  if (iv.length === 16) return Buffer.from(iv);
  const out = Buffer.alloc(16);
  Buffer.from(iv).copy(out, 16 - iv.length);
  return out;
}

const GCM_TAGS: AeadInfo = { tagBytes: [4, 8, 12, 13, 14, 15, 16], defaultTagBytes: 16 };
const POLY1305_TAGS: AeadInfo = { tagBytes: [12, 13, 14, 15, 16], defaultTagBytes: 16 };

const block16 = { min: 16, max: 16 };
const block8 = { min: 8, max: 8 };

const CHACHA20_POLY1305: SymmetricCipher = {
  label: 'ChaCha20-Poly1305',
  node: only(32, 'chacha20-poly1305'),
  ivBytes: { min: 12, max: 12 },
  defaultIvBytes: 12,
  blockBytes: 1,
  paddings: [],
  aead: POLY1305_TAGS,
};

/** Mode `null`: the algorithm has no block cipher mode (stream ciphers); another mode given is ignored. */
interface CipherRow {
  readonly algorithm: number;
  readonly mode: number | null;
  readonly cipher: SymmetricCipher;
}

const CIPHER_ROWS: readonly CipherRow[] = [
  {
    algorithm: CryptographicAlgorithm.AES,
    mode: BlockCipherMode.ECB,
    cipher: { label: 'AES-ECB', node: aes('ecb'), ivBytes: null, defaultIvBytes: 0, blockBytes: 16, paddings: [PaddingMethod.PKCS5] },
  },
  {
    algorithm: CryptographicAlgorithm.AES,
    mode: BlockCipherMode.CBC,
    cipher: { label: 'AES-CBC', node: aes('cbc'), ivBytes: block16, defaultIvBytes: 16, blockBytes: 16, paddings: [PaddingMethod.PKCS5] },
  },
  {
    algorithm: CryptographicAlgorithm.AES,
    mode: BlockCipherMode.CTR,
    cipher: { label: 'AES-CTR', node: aes('ctr'), ivBytes: block16, defaultIvBytes: 16, blockBytes: 1, paddings: [] },
  },
  {
    algorithm: CryptographicAlgorithm.AES,
    mode: BlockCipherMode.CFB,
    cipher: { label: 'AES-CFB', node: aes('cfb'), ivBytes: block16, defaultIvBytes: 16, blockBytes: 1, paddings: [] },
  },
  {
    algorithm: CryptographicAlgorithm.AES,
    mode: BlockCipherMode.OFB,
    cipher: { label: 'AES-OFB', node: aes('ofb'), ivBytes: block16, defaultIvBytes: 16, blockBytes: 1, paddings: [] },
  },
  {
    algorithm: CryptographicAlgorithm.AES,
    mode: BlockCipherMode.GCM,
    // GCM takes any IV length; 12 bytes is the one SP 800-38D recommends.
    cipher: { label: 'AES-GCM', node: aes('gcm'), ivBytes: { min: 1, max: 128 }, defaultIvBytes: 12, blockBytes: 1, paddings: [], aead: GCM_TAGS },
  },
  {
    algorithm: CryptographicAlgorithm.AES,
    mode: BlockCipherMode.XTS,
    // An XTS key is two AES keys: 32 bytes for AES-128-XTS, 64 for AES-256-XTS. The IV is the tweak.
    cipher: {
      label: 'AES-XTS',
      node: (k) => (k === 32 ? 'aes-128-xts' : k === 64 ? 'aes-256-xts' : undefined),
      ivBytes: block16,
      defaultIvBytes: 16,
      blockBytes: 1,
      paddings: [],
      minDataBytes: 16,
    },
  },
  {
    algorithm: CryptographicAlgorithm.DES3,
    mode: BlockCipherMode.ECB,
    cipher: { label: '3DES-ECB', node: des3(''), ivBytes: null, defaultIvBytes: 0, blockBytes: 8, paddings: [PaddingMethod.PKCS5] },
  },
  {
    algorithm: CryptographicAlgorithm.DES3,
    mode: BlockCipherMode.CBC,
    cipher: { label: '3DES-CBC', node: des3('-cbc'), ivBytes: block8, defaultIvBytes: 8, blockBytes: 8, paddings: [PaddingMethod.PKCS5] },
  },
  {
    algorithm: CryptographicAlgorithm.ChaCha20,
    mode: null,
    cipher: {
      label: 'ChaCha20',
      node: only(32, 'chacha20'),
      ivBytes: { min: 8, max: 16 },
      defaultIvBytes: 12,
      blockBytes: 1,
      paddings: [],
      nodeIv: chachaIv,
    },
  },
  { algorithm: CryptographicAlgorithm.ChaCha20Poly1305, mode: null, cipher: CHACHA20_POLY1305 },
  // A ChaCha20 key asked for AEAD is used as ChaCha20-Poly1305 (RFC 8439), the one AEAD over it.
  { algorithm: CryptographicAlgorithm.ChaCha20, mode: BlockCipherMode.AEAD, cipher: CHACHA20_POLY1305 },
];

/** The cipher for an algorithm and mode, or undefined when we do not offer the combination. */
export function findCipher(algorithm: number, mode: number | undefined): SymmetricCipher | undefined {
  const rows = CIPHER_ROWS.filter((r) => r.algorithm === algorithm);
  return (rows.find((r) => r.mode !== null && r.mode === mode) ?? rows.find((r) => r.mode === null))?.cipher;
}

/** Algorithms the cipher table knows at all (to tell "no such mode" from "no such algorithm"). */
export function isCipherAlgorithm(algorithm: number): boolean {
  return CIPHER_ROWS.some((r) => r.algorithm === algorithm);
}

// ---------------------------------------------------------------------------------------------
// MACs

export type MacInfo = { readonly kind: 'hmac'; readonly hash: string } | { readonly kind: 'cmac'; readonly cipher: (keyBytes: number) => string | undefined; readonly blockBytes: number };

export const HMACS: Readonly<Partial<Record<number, MacInfo>>> = {
  [CryptographicAlgorithm.HMAC_MD5]: { kind: 'hmac', hash: 'md5' },
  [CryptographicAlgorithm.HMAC_SHA1]: { kind: 'hmac', hash: 'sha1' },
  [CryptographicAlgorithm.HMAC_SHA224]: { kind: 'hmac', hash: 'sha224' },
  [CryptographicAlgorithm.HMAC_SHA256]: { kind: 'hmac', hash: 'sha256' },
  [CryptographicAlgorithm.HMAC_SHA384]: { kind: 'hmac', hash: 'sha384' },
  [CryptographicAlgorithm.HMAC_SHA512]: { kind: 'hmac', hash: 'sha512' },
  [CryptographicAlgorithm.HMAC_SHA3_224]: { kind: 'hmac', hash: 'sha3-224' },
  [CryptographicAlgorithm.HMAC_SHA3_256]: { kind: 'hmac', hash: 'sha3-256' },
  [CryptographicAlgorithm.HMAC_SHA3_384]: { kind: 'hmac', hash: 'sha3-384' },
  [CryptographicAlgorithm.HMAC_SHA3_512]: { kind: 'hmac', hash: 'sha3-512' },
};

/** CMAC (SP 800-38B) over a block cipher: Block Cipher Mode CMAC with that cipher's algorithm. */
export const CMACS: Readonly<Partial<Record<number, MacInfo>>> = {
  [CryptographicAlgorithm.AES]: { kind: 'cmac', cipher: aes('cbc'), blockBytes: 16 },
  [CryptographicAlgorithm.DES3]: { kind: 'cmac', cipher: des3('-cbc'), blockBytes: 8 },
};

// ---------------------------------------------------------------------------------------------
// Signatures

/** Node key types (KeyObject.asymmetricKeyType) that sign. */
export type SigningKeyType = 'rsa' | 'rsa-pss' | 'ec' | 'dsa' | 'ed25519' | 'ed448';

export interface SignatureScheme {
  readonly keyTypes: readonly SigningKeyType[];
  /** KMIP hash, or null for schemes that hash internally (EdDSA). */
  readonly hash: number | null;
  readonly padding?: 'pkcs1' | 'pss';
}

const rsaV15 = (hash: number): SignatureScheme => ({ keyTypes: ['rsa'], hash, padding: 'pkcs1' });
const ecdsa = (hash: number): SignatureScheme => ({ keyTypes: ['ec'], hash });
const dsa = (hash: number): SignatureScheme => ({ keyTypes: ['dsa'], hash });

/** Digital Signature Algorithm enumeration to scheme; RSASSA-PSS takes its hash from the parameters. */
export const SIGNATURE_ALGORITHMS: Readonly<Partial<Record<number, SignatureScheme>>> = {
  [DigitalSignatureAlgorithm.MD5WithRSAEncryption]: rsaV15(HashingAlgorithm.MD5),
  [DigitalSignatureAlgorithm.SHA_1WithRSAEncryption]: rsaV15(HashingAlgorithm.SHA_1),
  [DigitalSignatureAlgorithm.SHA_224WithRSAEncryption]: rsaV15(HashingAlgorithm.SHA_224),
  [DigitalSignatureAlgorithm.SHA_256WithRSAEncryption]: rsaV15(HashingAlgorithm.SHA_256),
  [DigitalSignatureAlgorithm.SHA_384WithRSAEncryption]: rsaV15(HashingAlgorithm.SHA_384),
  [DigitalSignatureAlgorithm.SHA_512WithRSAEncryption]: rsaV15(HashingAlgorithm.SHA_512),
  [DigitalSignatureAlgorithm.SHA3_256WithRSAEncryption]: rsaV15(HashingAlgorithm.SHA3_256),
  [DigitalSignatureAlgorithm.SHA3_384WithRSAEncryption]: rsaV15(HashingAlgorithm.SHA3_384),
  [DigitalSignatureAlgorithm.SHA3_512WithRSAEncryption]: rsaV15(HashingAlgorithm.SHA3_512),
  [DigitalSignatureAlgorithm.RSASSA_PSS]: { keyTypes: ['rsa', 'rsa-pss'], hash: HashingAlgorithm.SHA_256, padding: 'pss' },
  [DigitalSignatureAlgorithm.DSAWithSHA_1]: dsa(HashingAlgorithm.SHA_1),
  [DigitalSignatureAlgorithm.DSAWithSHA224]: dsa(HashingAlgorithm.SHA_224),
  [DigitalSignatureAlgorithm.DSAWithSHA256]: dsa(HashingAlgorithm.SHA_256),
  [DigitalSignatureAlgorithm.ECDSAWithSHA_1]: ecdsa(HashingAlgorithm.SHA_1),
  [DigitalSignatureAlgorithm.ECDSAWithSHA224]: ecdsa(HashingAlgorithm.SHA_224),
  [DigitalSignatureAlgorithm.ECDSAWithSHA256]: ecdsa(HashingAlgorithm.SHA_256),
  [DigitalSignatureAlgorithm.ECDSAWithSHA384]: ecdsa(HashingAlgorithm.SHA_384),
  [DigitalSignatureAlgorithm.ECDSAWithSHA512]: ecdsa(HashingAlgorithm.SHA_512),
};

/** RSA padding methods for signatures (Padding Method in Cryptographic Parameters). */
export const RSA_SIGNATURE_PADDINGS: Readonly<Partial<Record<number, 'pkcs1' | 'pss'>>> = {
  [PaddingMethod.PKCS1V1_5]: 'pkcs1',
  [PaddingMethod.PSS]: 'pss',
};

// ---------------------------------------------------------------------------------------------
// Curves

export interface CurveInfo {
  readonly kmip: number;
  /** Node / OpenSSL curve name (namedCurve). */
  readonly node: string;
  /** JWK "crv" where JWK defines one. */
  readonly jwk?: string;
  readonly bits: number;
  /** The curve's object identifier (SEC1 / X.509 named curve). */
  readonly oid: string;
  /** Hash used when a signature request names none (matching strength, as Suite B pairs them). */
  readonly defaultHash: number;
}

export const CURVES: readonly CurveInfo[] = [
  { kmip: RecommendedCurve.P_192, node: 'prime192v1', bits: 192, oid: '1.2.840.10045.3.1.1', defaultHash: HashingAlgorithm.SHA_256 },
  { kmip: RecommendedCurve.P_224, node: 'secp224r1', bits: 224, oid: '1.3.132.0.33', defaultHash: HashingAlgorithm.SHA_256 },
  { kmip: RecommendedCurve.P_256, node: 'prime256v1', jwk: 'P-256', bits: 256, oid: '1.2.840.10045.3.1.7', defaultHash: HashingAlgorithm.SHA_256 },
  { kmip: RecommendedCurve.P_384, node: 'secp384r1', jwk: 'P-384', bits: 384, oid: '1.3.132.0.34', defaultHash: HashingAlgorithm.SHA_384 },
  { kmip: RecommendedCurve.P_521, node: 'secp521r1', jwk: 'P-521', bits: 521, oid: '1.3.132.0.35', defaultHash: HashingAlgorithm.SHA_512 },
  { kmip: RecommendedCurve.SECP256K1, node: 'secp256k1', jwk: 'secp256k1', bits: 256, oid: '1.3.132.0.10', defaultHash: HashingAlgorithm.SHA_256 },
];

/** Node reports a few curves by their other OpenSSL name. */
const CURVE_ALIASES: Readonly<Record<string, string>> = { 'P-256': 'prime256v1', 'P-384': 'secp384r1', 'P-521': 'secp521r1', secp256r1: 'prime256v1' };

export function curveByKmip(kmip: number): CurveInfo | undefined {
  return CURVES.find((c) => c.kmip === kmip);
}

export function curveByNode(name: string): CurveInfo | undefined {
  const n = CURVE_ALIASES[name] ?? name;
  return CURVES.find((c) => c.node === n);
}

/** Cryptographic Length to curve, for Create Key Pair requests that give only a length. */
export function curveByBits(bits: number): CurveInfo | undefined {
  return CURVES.find((c) => c.bits === bits && c.jwk !== undefined && c.jwk.startsWith('P-'));
}
