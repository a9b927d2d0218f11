/**
 * Named compatibility profiles: behaviour a population of clients relies on where the spec leaves
 * the choice to the server. One is active per server, chosen by configuration (`compat`, or
 * `--pykmip-config`, which selects "pykmip"); handlers read it from `OpContext.compat` and never
 * look at who the client is. The profile "none" is the server's own behaviour.
 */
import type { ProtocolVersion } from '../spec/versions';
import { compareVersions } from '../spec/versions';

export interface CompatProfile {
  readonly name: CompatProfileName;
  /**
   * Operation Policy Name given to a new object (Create, Create Key Pair, Register, Re-key, Derive
   * Key, Certify, split keys...) whose client did not set one, for clients of the versions below
   * (the attribute exists in KMIP 1.x only). pykmip-server gives every object the policy "default",
   * and its clients (PyKMIP's own tests, Synology DSM) Locate and filter by it.
   */
  readonly newObjectOperationPolicyName: { readonly value: string; readonly lastVersion: ProtocolVersion } | null;
  /**
   * What Derive Key with Derivation Method HMAC computes. 'hmac': one HMAC of the Derivation Data
   * keyed by the derivation key (the spec's description), at most one hash output long. 'hkdf':
   * HKDF (RFC 5869) with the Salt, the Derivation Data as info and any length, which is what
   * pykmip-server computes for HMAC and what PyKMIP's own tests check (RFC 5869's SHA-1 vector).
   */
  readonly hmacDerivation: 'hmac' | 'hkdf';
  /**
   * Derive Key with NIST SP 800-108 counter mode (src/crypto/kdf.ts `counterMode`):
   * 'label-context' reads the Derivation Data as Label || 0x00 || Context, as the spec says, and
   * appends [L]32; 'fixed-input-hmac' takes it as the whole fixed input with HMAC of the Hashing
   * Algorithm as PRF, as pykmip-server does (PyKMIP's test checks a NIST CAVP vector).
   */
  readonly counterKdf: 'label-context' | 'fixed-input-hmac';
  /**
   * Get Attributes with no attribute named (all of them) returns only these attributes, or every
   * one when null. PyKMIP 0.10's client fails the whole response on any attribute its attribute
   * factory does not know (Always Sensitive, Original Creation Date, ...), so under its profile the
   * answer holds the ones it reads; a client that names an attribute still gets it.
   */
  readonly allAttributesReadable: ReadonlySet<string> | null;
  /**
   * KMIP 1.0's Digest has no Key Format Type (added in 1.1); PyKMIP reads one in every version, so
   * under its profile a 1.0 answer keeps it (the tag exists in 1.0).
   */
  readonly digestKeyFormatTypeIn10: boolean;
}

const NONE: CompatProfile = {
  name: 'none',
  newObjectOperationPolicyName: null,
  hmacDerivation: 'hmac',
  counterKdf: 'label-context',
  allAttributesReadable: null,
  digestKeyFormatTypeIn10: false,
};

/** The attributes PyKMIP 0.10's attribute value factory reads (kmip/core/factories/attribute_values.py), custom x- ones besides. */
const PYKMIP_READABLE = new Set([
  'Unique Identifier', 'Name', 'Object Type', 'Cryptographic Algorithm', 'Cryptographic Length', 'Cryptographic Parameters',
  'Cryptographic Domain Parameters', 'Certificate Type', 'Certificate Length', 'X.509 Certificate Identifier',
  'X.509 Certificate Subject', 'X.509 Certificate Issuer', 'Certificate Identifier', 'Certificate Subject', 'Certificate Issuer',
  'Digital Signature Algorithm', 'Digest', 'Operation Policy Name', 'Cryptographic Usage Mask', 'Lease Time', 'Usage Limits', 'State',
  'Initial Date', 'Activation Date', 'Process Start Date', 'Protect Stop Date', 'Deactivation Date', 'Destroy Date',
  'Compromise Occurrence Date', 'Compromise Date', 'Revocation Reason', 'Archive Date', 'Object Group', 'Fresh', 'Link',
  'Application Specific Information', 'Contact Information', 'Last Change Date', 'Sensitive',
]);

const PYKMIP: CompatProfile = {
  name: 'pykmip',
  newObjectOperationPolicyName: { value: 'default', lastVersion: { major: 1, minor: 4 } },
  hmacDerivation: 'hkdf',
  counterKdf: 'fixed-input-hmac',
  allAttributesReadable: PYKMIP_READABLE,
  digestKeyFormatTypeIn10: true,
};

export const COMPAT_PROFILES = { none: NONE, pykmip: PYKMIP } as const;

export type CompatProfileName = 'none' | 'pykmip';

export const COMPAT_PROFILE_NAMES = Object.keys(COMPAT_PROFILES) as CompatProfileName[];

export function isCompatProfileName(name: string): name is CompatProfileName {
  return Object.prototype.hasOwnProperty.call(COMPAT_PROFILES, name);
}

/** The Operation Policy Name the active profile gives a new object for a client of version `v`, if any. */
export function defaultOperationPolicyName(profile: CompatProfile, v: ProtocolVersion): string | undefined {
  const rule = profile.newObjectOperationPolicyName;
  return rule && compareVersions(v, rule.lastVersion) <= 0 ? rule.value : undefined;
}
