/**
 * Which key sizes the server makes, beyond the ones current guidance accepts. Off by default:
 * legacy sizes exist for old clients and appliances that still ask for them, and an operator turns
 * them on knowingly (config `crypto.allowLegacy`), never a client.
 */
export interface CryptoPolicy {
  /** Generate legacy sizes (RSA moduli below 2048 bits: SP 800-131A disallows them for new keys). */
  readonly allowLegacy: boolean;
}

export const DEFAULT_CRYPTO_POLICY: CryptoPolicy = { allowLegacy: false };

/** The config key a refusal names, so an operator knows what to change. */
export const LEGACY_SWITCH = 'crypto.allowLegacy';
