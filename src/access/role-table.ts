/**
 * Who may do what, as data: for every KMIP operation, what each role may do with it under an
 * access policy file. The server enforces this table (access-control.ts) and the README's and
 * docs/access.md's role table is generated from it (scripts/access-table.ts), so the two cannot
 * disagree (test/unit/access/role-table.test.ts).
 *
 *   all  on every object (an operation without an object: allowed)
 *   own  on the caller's own objects and those granted to it (without an object: allowed)
 *   -    refused: Permission Denied
 *
 * The separation of duties the issue asks for: administrators run the server (backup, KEKs,
 * configuration: the command line) and see metadata, but get no key material and no key use;
 * security officers run every object's lifecycle without material; auditors read metadata only;
 * users work with their own objects and what is granted to them.
 */
import type { Operation } from '../spec/generated/enums';
import type { Role } from './policy';

export type Scope = 'all' | 'own' | '-';
/** Columns in ROLE_COLUMNS order. */
type Row = readonly [administrator: Scope, securityOfficer: Scope, auditor: Scope, user: Scope];

export const ROLE_COLUMNS: readonly Role[] = ['administrator', 'securityOfficer', 'auditor', 'user'];

// Shapes the rows share, named for what they are.
const EVERYONE: Row = ['all', 'all', 'all', 'own'];
const METADATA_READ: Row = ['all', 'all', 'all', 'own'];
const LIFECYCLE: Row = ['-', 'all', '-', 'own'];
const KEY_USE: Row = ['-', '-', '-', 'own'];
const CREATES: Row = ['-', '-', '-', 'own'];
const OWN_SESSION: Row = ['own', 'own', '-', 'own'];
const NOBODY: Row = ['-', '-', '-', '-'];
/** Services for applications that touch no stored object (hashing, random numbers). */
const APPLICATION_SERVICE: Row = ['-', '-', '-', 'own'];

export const ROLE_TABLE: Readonly<Record<keyof typeof Operation, Row>> = {
  Create: CREATES,
  CreateKeyPair: CREATES,
  Register: CREATES,
  ReKey: LIFECYCLE,
  DeriveKey: KEY_USE,
  Certify: KEY_USE,
  ReCertify: LIFECYCLE,
  Locate: METADATA_READ,
  Check: KEY_USE,
  Get: KEY_USE,
  GetAttributes: METADATA_READ,
  GetAttributeList: METADATA_READ,
  AddAttribute: LIFECYCLE,
  ModifyAttribute: LIFECYCLE,
  DeleteAttribute: LIFECYCLE,
  ObtainLease: KEY_USE,
  GetUsageAllocation: KEY_USE,
  Activate: LIFECYCLE,
  Revoke: LIFECYCLE,
  Destroy: LIFECYCLE,
  Archive: LIFECYCLE,
  Recover: LIFECYCLE,
  Validate: KEY_USE,
  Query: EVERYONE,
  Cancel: OWN_SESSION,
  Poll: OWN_SESSION,
  Notify: NOBODY,
  Put: NOBODY,
  ReKeyKeyPair: LIFECYCLE,
  DiscoverVersions: EVERYONE,
  Encrypt: KEY_USE,
  Decrypt: KEY_USE,
  Sign: KEY_USE,
  SignatureVerify: KEY_USE,
  MAC: KEY_USE,
  MACVerify: KEY_USE,
  RNGRetrieve: APPLICATION_SERVICE,
  RNGSeed: APPLICATION_SERVICE,
  Hash: APPLICATION_SERVICE,
  CreateSplitKey: KEY_USE,
  JoinSplitKey: KEY_USE,
  // Import brings objects in as they were (a restore by the operator); Export takes material out.
  Import: ['all', '-', '-', '-'],
  Export: NOBODY,
  Log: EVERYONE,
  Login: NOBODY,
  Logout: NOBODY,
  DelegatedLogin: NOBODY,
  AdjustAttribute: LIFECYCLE,
  SetAttribute: LIFECYCLE,
  SetEndpointRole: EVERYONE,
  PKCS_11: NOBODY,
  Interop: EVERYONE,
  ReProvision: NOBODY,
  SetDefaults: NOBODY,
  SetConstraints: NOBODY,
  GetConstraints: NOBODY,
  QueryAsynchronousRequests: OWN_SESSION,
  Process: NOBODY,
  Ping: EVERYONE,
};

/** Operations that act on no existing object (they make one, or serve the session): the table shows them allowed or not. */
export const OBJECTLESS: ReadonlySet<keyof typeof Operation> = new Set<keyof typeof Operation>([
  'Create', 'CreateKeyPair', 'Register', 'Import', 'Query', 'DiscoverVersions', 'Log', 'SetEndpointRole', 'Interop',
  'RNGRetrieve', 'RNGSeed', 'Hash', 'Poll', 'Cancel', 'Ping', 'QueryAsynchronousRequests',
]);

const RANK: Readonly<Record<Scope, number>> = { '-': 0, own: 1, all: 2 };

/** The widest scope any of `roles` has for `operation` (an Operation enumeration key). */
export function scopeFor(operation: keyof typeof Operation, roles: ReadonlySet<Role>): Scope {
  const row = ROLE_TABLE[operation];
  let best: Scope = '-';
  ROLE_COLUMNS.forEach((role, i) => {
    if (roles.has(role) && RANK[row[i]!] > RANK[best]) best = row[i]!;
  });
  return best;
}
