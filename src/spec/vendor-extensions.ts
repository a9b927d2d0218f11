/**
 * This server's own vendor extensions, as data: the tags (the 0x54xxxx range the KMIP Tag
 * Enumeration reserves for extensions) and Query Function value (the 0x8xxxxxxx extension range)
 * through which Query reports the cryptographic policy. The specification has no Query Function
 * that lists allowed algorithms per operation (2.x Capability Information and Defaults
 * Information carry none), so a client asks for this one by name; standard clients never see it.
 */
import { ItemType } from '../../ttlv/types';

export const VendorQueryFunction = {
  /** Answered with one Cryptographic Policy structure. */
  QueryCryptographicPolicy: 0x80000001,
} as const;

export const VendorTag = {
  /** Structure: Policy Profile, then one Policy Rule per operation. */
  CryptographicPolicy: 0x540001,
  /** Text String: default, legacy or custom. */
  PolicyProfile: 0x540002,
  /** Structure: Policy Operation, Policy Unrestricted*, Policy Algorithm*, Recommended Curve*, Block Cipher Mode*, Padding Method*, Hashing Algorithm*. */
  PolicyRule: 0x540003,
  /** Text String: Create, CreateKeyPair, Register, Encrypt, Decrypt, Sign, Verify, MAC, MACVerify, Derive, Wrap. */
  PolicyOperation: 0x540004,
  /** Structure: Cryptographic Algorithm, then Cryptographic Length* (the sizes allowed) or Policy Minimum Length; neither: any size. */
  PolicyAlgorithm: 0x540005,
  /** Integer: the smallest key size allowed, in bits. */
  PolicyMinimumLength: 0x540006,
  /** Text String: a category the rule leaves open (algorithms, curves, modes, paddings, hashes). */
  PolicyUnrestricted: 0x540007,
} as const;

export interface VendorTagInfo {
  readonly name: string;
  readonly tag: number;
  readonly type: number;
}

/** What Query Extension List and Map would report, and what the dictionary names in XML/JSON. */
export const VENDOR_TAGS: readonly VendorTagInfo[] = [
  { name: 'Cryptographic Policy', tag: VendorTag.CryptographicPolicy, type: ItemType.Structure },
  { name: 'Policy Profile', tag: VendorTag.PolicyProfile, type: ItemType.TextString },
  { name: 'Policy Rule', tag: VendorTag.PolicyRule, type: ItemType.Structure },
  { name: 'Policy Operation', tag: VendorTag.PolicyOperation, type: ItemType.TextString },
  { name: 'Policy Algorithm', tag: VendorTag.PolicyAlgorithm, type: ItemType.Structure },
  { name: 'Policy Minimum Length', tag: VendorTag.PolicyMinimumLength, type: ItemType.Integer },
  { name: 'Policy Unrestricted', tag: VendorTag.PolicyUnrestricted, type: ItemType.TextString },
];
