/**
 * The key-protection port: how key material is encrypted before the store sees it, and decrypted
 * for the duration of one handler. The PKCS#11 adapter (pkcs11.ts) is the production implementation.
 *
 * Contract:
 * - `protect` binds the blob to the object's unique identifier: a blob copied to another row must
 *   fail `unprotect` with INTEGRITY, never yield data.
 * - `unprotect` returns a fresh buffer owned by the caller, who zeroes it after use.
 * - Errors are `KeyProtectorError`; messages never carry PINs or key bytes.
 */

/**
 * What is stored beside an object (its material, or a withheld Digest once sealed): everything
 * needed to decrypt it again, nothing secret.
 */
export interface ProtectedMaterial {
  /** Identifier of the key-encryption key (hex of its CKA_ID), so KEKs can be rotated and rows re-wrapped. */
  readonly kekId: string;
  /** One of the MECHANISM_* constants: names the algorithm and how the identifier is bound. */
  readonly mechanism: string;
  /** GCM nonce (12 bytes); empty for key wrap, which has no IV. */
  readonly iv: Uint8Array;
  /** Ciphertext including the authentication tag (GCM) or the RFC 5649 integrity block. */
  readonly ciphertext: Uint8Array;
}

/**
 * AES-256-GCM computed inside the HSM (C_Encrypt). IV: 12 random bytes; AAD: the UTF-8 unique
 * identifier; tag: 128 bits, appended to the ciphertext.
 */
export const MECHANISM_AES_GCM = 'CKM_AES_GCM';
/**
 * RFC 5649 AES key wrap with padding inside the HSM (C_WrapKey), for HSMs without GCM. Key wrap
 * has no associated data, so the identifier is bound by wrapping
 * SHA-256("kmip-kek-binding\0" || uid)[0..16] || uint32be(length) || material || zeros to a
 * multiple of 8 (so the HSM never pads: SoftHSM2 2.6 does not strip the padding on unwrap).
 * The IV is empty.
 */
export const MECHANISM_AES_KWP = 'CKM_AES_KEY_WRAP_PAD';

export type KeyProtectorErrorCode =
  /** The blob does not authenticate (tampered, or moved to another unique identifier). */
  | 'INTEGRITY'
  /** The HSM or token cannot be reached now; retry later. */
  | 'HSM_UNAVAILABLE'
  /** The HSM refused an operation for a reason that is neither integrity nor availability. */
  | 'HSM_ERROR'
  | 'LOGIN_FAILED'
  | 'TOKEN_NOT_FOUND'
  | 'MODULE_LOAD_FAILED'
  /** The blob names a KEK this protector cannot find. */
  | 'UNKNOWN_KEK'
  /** Several keys carry the configured KEK label. */
  | 'KEK_AMBIGUOUS'
  /** The KEK found by label is not fit for purpose (extractable, not sensitive, wrong size or usage). */
  | 'KEK_POLICY'
  /** Neither AES-GCM nor AES key wrap with padding is available, or a blob names an unknown mechanism. */
  | 'UNSUPPORTED_MECHANISM'
  /** The PIN source is missing, empty or not private. */
  | 'PIN_SOURCE'
  | 'CONFIG'
  | 'CLOSED';

export class KeyProtectorError extends Error {
  override readonly name = 'KeyProtectorError';
  constructor(
    readonly code: KeyProtectorErrorCode,
    message: string,
    /** The PKCS#11 return value name (CKR_...) when the HSM produced the error. */
    readonly ckr?: string,
  ) {
    super(message);
  }
}

/**
 * A key for one signature over a digest, as PKCS#11 attribute values (unsigned big-endian). The
 * private part is absent for verification.
 */
export type DigestSigningKey =
  | {
      readonly type: 'rsa';
      readonly modulus: Buffer;
      readonly publicExponent: Buffer;
      readonly private?: { readonly d: Buffer; readonly p: Buffer; readonly q: Buffer; readonly dp: Buffer; readonly dq: Buffer; readonly qi: Buffer };
    }
  | {
      readonly type: 'ec';
      /** DER of the named curve's OBJECT IDENTIFIER (CKA_EC_PARAMS). */
      readonly params: Buffer;
      /** The private scalar (signing). */
      readonly d?: Buffer;
      /** The uncompressed point 04 || X || Y (verifying). */
      readonly point?: Buffer;
    };

export type DigestHash = 'sha1' | 'sha224' | 'sha256' | 'sha384' | 'sha512';

/** ECDSA over the digest (signature r || s, each the curve's size); RSASSA-PSS with MGF1 of the same hash. */
export type DigestSignatureMechanism = { readonly kind: 'ecdsa' } | { readonly kind: 'rsa-pss'; readonly hash: DigestHash; readonly saltLength: number };

export interface DigestSignatureRequest {
  readonly key: DigestSigningKey;
  readonly mechanism: DigestSignatureMechanism;
  readonly digest: Uint8Array;
}

export interface KeyProtector {
  /** The KEK new blobs are made under. */
  readonly kekId: string;
  /** The mechanism new blobs are made with. */
  readonly mechanism: string;
  protect(uniqueIdentifier: string, plaintext: Uint8Array): Promise<ProtectedMaterial>;
  unprotect(uniqueIdentifier: string, blob: ProtectedMaterial): Promise<Uint8Array>;
  /**
   * Sign and Signature Verify with Digested Data: OpenSSL through Node signs only what it hashes
   * itself, so ECDSA and PSS over a client's digest run in the HSM (CKM_ECDSA, CKM_RSA_PKCS_PSS),
   * the key entering it as a session object destroyed after the call. Optional: without them such
   * requests are refused. Errors: HSM_ERROR with the CKR name (e.g. a module without the mechanism).
   */
  signDigest?(request: DigestSignatureRequest): Promise<Buffer>;
  verifyDigest?(request: DigestSignatureRequest, signature: Uint8Array): Promise<boolean>;
  /** Of these KEK ids (those a store references), the ones this HSM does not hold. */
  missingKeks?(kekIds: readonly string[]): Promise<string[]>;
  /**
   * Re-finds the current KEK (`kekId`, as the data dir names it after a rotation; without it, by
   * label), checks it, and wraps new objects under it from then on (SIGHUP). Optional: a protector with one fixed key has none.
   */
  adoptCurrentKek?(kekId?: string): Promise<{ kekId: string; previous: string; changed: boolean }>;
  /**
   * HMAC-SHA256 by a non-extractable audit key held in the HSM (created on first use), and its
   * check (which never creates the key): the audit trail's checkpoints. Optional: without them the
   * trail is chained but carries no checkpoints.
   */
  auditMac?(data: Uint8Array): Promise<Buffer>;
  verifyAuditMac?(data: Uint8Array, mac: Uint8Array): Promise<boolean>;
  /**
   * HMAC-SHA256 of `data` under a non-extractable key held in the HSM (the index key), for blind
   * indexes: the store keeps this MAC of a value derived from secret material (the Digest of a
   * password) instead of the value, and a search computes the MAC of what it looks for. Without
   * the HSM the stored MACs cannot be tested against guesses. The same key always: a different
   * one would make every stored index match nothing.
   */
  indexMac(data: Uint8Array): Promise<Buffer>;
  /** Waits for operations in flight, then releases the HSM. Later calls fail with CLOSED. */
  close(): Promise<void>;
}
