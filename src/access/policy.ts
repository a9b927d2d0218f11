/**
 * The access policy file (config `accessPolicy`): roles by certificate, groups from the
 * certificate, named operation policies (1.x Operation Policy Name) and dual-control rules. Read
 * and validated whole; every error names the key it is about (`accessPolicy.roles.auditor[0]`),
 * so an operator's mistake is one clear line. The file is data only: what a role may do is the
 * table in role-table.ts.
 */
import fs from 'node:fs';
import { ObjectType, Operation } from '../spec/generated/enums';

export const ROLES = ['administrator', 'securityOfficer', 'auditor'] as const;
/** The roles a file assigns; everyone else is a `user`. */
export type AssignedRole = (typeof ROLES)[number];
export type Role = AssignedRole | 'user';

/** What the policy reads of a caller's certificate: the identity, its CN, OUs, SANs and fingerprint. */
export interface CallerCertificate {
  readonly cn?: string;
  readonly ous: readonly string[];
  /** Each as Node prints it: `DNS:host`, `URI:urn:x`, `email:a@b`. */
  readonly sans: readonly string[];
  /** SHA-256 of the DER certificate, lower-case hex. */
  readonly fingerprint?: string;
}

export interface Caller {
  /** The identity objects are owned by (server/peer-identity.ts). */
  readonly name: string;
  readonly certificate?: CallerCertificate;
}

/** `cn:NAME`, `san:VALUE` (with or without its `URI:`/`DNS:` prefix), `sha256:HEX`, or a plain identity name. */
export type Matcher =
  | { readonly kind: 'cn' | 'san' | 'sha256' | 'identity'; readonly value: string };

export interface GroupRules {
  /** Where a certificate names its groups: its OUs, or its SAN URIs under `sanUriPrefix`. */
  readonly from?: 'ou' | 'sanUri';
  readonly sanUriPrefix?: string;
  /** Groups the file lists members of, whatever the certificate says. */
  readonly members: ReadonlyMap<string, readonly Matcher[]>;
}

/** A grantee: one identity or every member of a group. */
export type Grantee = { readonly identity: string } | { readonly group: string };

export interface PolicyGrant {
  readonly to: Grantee;
  /** Operation enumeration names (src/spec/generated/enums.ts Operation keys). */
  readonly operations: readonly string[];
}

/** A dual-control rule: the operations it covers, narrowed by Object Group and object types when given. */
export interface DualControlRule {
  /** Where the file gives it (`accessPolicy.dualControl[2]`): named in refusals, the audit and the approvals table. */
  readonly key: string;
  readonly operations: readonly string[];
  readonly objectGroup?: string;
  /** ObjectType enumeration names (`PrivateKey`). */
  readonly objectTypes?: readonly string[];
}

export interface AccessPolicy {
  readonly roles: ReadonlyMap<AssignedRole, readonly Matcher[]>;
  readonly groups: GroupRules;
  /** Operation Policy Name -> its grants. */
  readonly operationPolicies: ReadonlyMap<string, readonly PolicyGrant[]>;
  readonly dualControl: readonly DualControlRule[];
}

/** Operations the server runs outside KMIP that a dual-control rule may name (`kmip-server kek retire`). */
export const KEK_RETIRE = 'KekRetire';
export const SERVER_OPERATIONS = [KEK_RETIRE] as const;

/**
 * Operations no dual-control rule may name. A request waiting for approval is kept in the store as
 * sent (table `approvals`), so one whose payload carries key material or data would wait there in
 * the clear; Poll and Cancel deliver and withdraw the waiting requests themselves.
 */
const NOT_GATEABLE: Readonly<Record<string, string>> = {
  Register: 'its request carries key material, which would wait in the store in the clear',
  Import: 'its request carries key material, which would wait in the store in the clear',
  Put: 'it is sent by a server, not a client',
  Encrypt: 'its request carries data, which would wait in the store in the clear',
  Decrypt: 'its request carries data, which would wait in the store in the clear',
  Sign: 'its request carries data, which would wait in the store in the clear',
  SignatureVerify: 'its request carries data, which would wait in the store in the clear',
  MAC: 'its request carries data, which would wait in the store in the clear',
  MACVerify: 'its request carries data, which would wait in the store in the clear',
  Hash: 'its request carries data, which would wait in the store in the clear',
  RNGSeed: 'its request carries seed material, which would wait in the store in the clear',
  DeriveKey: 'its request may carry derivation data, which would wait in the store in the clear',
  Poll: 'it delivers an approved request\'s outcome',
  Cancel: 'it withdraws a request waiting for approval',
  DiscoverVersions: 'it touches no object',
  Query: 'it touches no object',
};

export class AccessPolicyError extends Error {
  override readonly name = 'AccessPolicyError';
  constructor(
    readonly key: string,
    /** What is wrong, without the key. */
    readonly detail: string,
  ) {
    super(`config: ${key}: ${detail}`);
  }
}

const OPERATION_NAMES: ReadonlySet<string> = new Set(Object.keys(Operation));
const OBJECT_TYPE_NAMES: ReadonlySet<string> = new Set(Object.keys(ObjectType));
const TOP_KEYS = ['roles', 'groups', 'operationPolicies', 'dualControl'];

/** Reads and validates the file `path`; `key` is the config key that names it (for messages). */
export function loadAccessPolicy(path: string, key = 'accessPolicy'): AccessPolicy {
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (e) {
    throw new AccessPolicyError(key, `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new AccessPolicyError(key, `${path} is not JSON: ${(e as Error).message}`);
  }
  return parseAccessPolicy(raw, key);
}

export function parseAccessPolicy(raw: unknown, key = 'accessPolicy'): AccessPolicy {
  const top = object(raw, key);
  for (const k of Object.keys(top)) if (!TOP_KEYS.includes(k)) throw new AccessPolicyError(`${key}.${k}`, `unknown key (expected one of ${TOP_KEYS.join(', ')})`);
  const roles = new Map<AssignedRole, readonly Matcher[]>();
  if (top['roles'] !== undefined) {
    const r = object(top['roles'], `${key}.roles`);
    for (const [name, list] of Object.entries(r)) {
      if (!(ROLES as readonly string[]).includes(name)) throw new AccessPolicyError(`${key}.roles.${name}`, `unknown role (expected one of ${ROLES.join(', ')}; everyone else is a user)`);
      roles.set(name as AssignedRole, matchers(list, `${key}.roles.${name}`));
    }
  }
  const rules = dualControl(top['dualControl'], `${key}.dualControl`);
  // Nobody could approve: every request a rule covers would wait for ever.
  if (rules.length > 0 && (roles.get('securityOfficer') ?? []).length === 0) {
    throw new AccessPolicyError(`${key}.roles.securityOfficer`, 'is empty, but dualControl rules need security officers to approve');
  }
  return {
    roles,
    groups: groupRules(top['groups'], `${key}.groups`),
    operationPolicies: operationPolicies(top['operationPolicies'], `${key}.operationPolicies`),
    dualControl: rules,
  };
}

function object(v: unknown, key: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new AccessPolicyError(key, 'must be an object');
  return v as Record<string, unknown>;
}

function strings(v: unknown, key: string): string[] {
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string' || s.length === 0)) throw new AccessPolicyError(key, 'must be an array of non-empty strings');
  return v as string[];
}

/** `policy` with `names` (plain identities: the config's `adminIdentities`) added to its administrators. */
export function withAdministrators(policy: AccessPolicy, names: readonly string[]): AccessPolicy {
  if (names.length === 0) return policy;
  const roles = new Map(policy.roles);
  roles.set('administrator', [...(roles.get('administrator') ?? []), ...names.map((value) => ({ kind: 'identity' as const, value }))]);
  return { ...policy, roles };
}

export function parseMatcher(s: string, key: string): Matcher {
  const colon = s.indexOf(':');
  const prefix = colon > 0 ? s.slice(0, colon) : '';
  const value = s.slice(colon + 1);
  if (prefix === 'cn' || prefix === 'san') return { kind: prefix, value: nonEmpty(value, key) };
  if (prefix === 'sha256') {
    const hex = value.replace(/:/g, '').toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(hex)) throw new AccessPolicyError(key, 'a sha256: matcher takes the certificate\'s SHA-256 fingerprint (64 hex digits)');
    return { kind: 'sha256', value: hex };
  }
  return { kind: 'identity', value: s };
}

function nonEmpty(v: string, key: string): string {
  if (v.length === 0) throw new AccessPolicyError(key, 'names nothing after its prefix');
  return v;
}

function matchers(v: unknown, key: string): Matcher[] {
  return strings(v, key).map((s, i) => parseMatcher(s, `${key}[${i}]`));
}

function groupRules(v: unknown, key: string): GroupRules {
  if (v === undefined) return { members: new Map() };
  const g = object(v, key);
  for (const k of Object.keys(g)) if (!['from', 'sanUriPrefix', 'members'].includes(k)) throw new AccessPolicyError(`${key}.${k}`, 'unknown key (expected from, sanUriPrefix, members)');
  const from = g['from'];
  if (from !== undefined && from !== 'ou' && from !== 'sanUri') throw new AccessPolicyError(`${key}.from`, 'must be "ou" or "sanUri"');
  const prefix = g['sanUriPrefix'];
  if (prefix !== undefined && (typeof prefix !== 'string' || prefix.length === 0)) throw new AccessPolicyError(`${key}.sanUriPrefix`, 'must be a non-empty string');
  if (from === 'sanUri' && prefix === undefined) throw new AccessPolicyError(`${key}.sanUriPrefix`, 'is required when groups come from SAN URIs (the prefix before the group name)');
  const members = new Map<string, readonly Matcher[]>();
  if (g['members'] !== undefined) {
    for (const [name, list] of Object.entries(object(g['members'], `${key}.members`))) members.set(name, matchers(list, `${key}.members.${name}`));
  }
  return { ...(from !== undefined ? { from } : {}), ...(prefix !== undefined ? { sanUriPrefix: prefix as string } : {}), members };
}

/** Operation names as the enumeration spells them; `extra` adds the server's own (dual control). */
export function operationNames(v: unknown, key: string, extra: readonly string[] = []): string[] {
  const list = strings(v, key);
  list.forEach((op, i) => {
    if (!OPERATION_NAMES.has(op) && !extra.includes(op)) throw new AccessPolicyError(`${key}[${i}]`, `"${op}" is not an operation (spelled as the KMIP enumeration: Get, GetAttributes, ReKey...)`);
  });
  return list;
}

export function parseGrantee(s: string, key: string): Grantee {
  if (s.startsWith('identity:') && s.length > 9) return { identity: s.slice(9) };
  if (s.startsWith('group:') && s.length > 6) return { group: s.slice(6) };
  throw new AccessPolicyError(key, 'must be "identity:NAME" or "group:NAME"');
}

function operationPolicies(v: unknown, key: string): Map<string, readonly PolicyGrant[]> {
  const out = new Map<string, readonly PolicyGrant[]>();
  if (v === undefined) return out;
  for (const [name, p] of Object.entries(object(v, key))) {
    const pk = `${key}.${name}`;
    const body = object(p, pk);
    for (const k of Object.keys(body)) if (k !== 'grants') throw new AccessPolicyError(`${pk}.${k}`, 'unknown key (expected grants)');
    if (!Array.isArray(body['grants'])) throw new AccessPolicyError(`${pk}.grants`, 'must be an array');
    out.set(
      name,
      (body['grants'] as unknown[]).map((g, i) => {
        const gk = `${pk}.grants[${i}]`;
        const o = object(g, gk);
        if (typeof o['to'] !== 'string') throw new AccessPolicyError(`${gk}.to`, 'must be "identity:NAME" or "group:NAME"');
        return { to: parseGrantee(o['to'], `${gk}.to`), operations: operationNames(o['operations'], `${gk}.operations`) };
      }),
    );
  }
  return out;
}

function dualControl(v: unknown, key: string): DualControlRule[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new AccessPolicyError(key, 'must be an array of rules');
  return v.map((r, i) => {
    const rk = `${key}[${i}]`;
    const o = object(r, rk);
    for (const k of Object.keys(o)) if (!['operations', 'objectGroup', 'objectTypes'].includes(k)) throw new AccessPolicyError(`${rk}.${k}`, 'unknown key (expected operations, objectGroup, objectTypes)');
    const operations = operationNames(o['operations'], `${rk}.operations`, SERVER_OPERATIONS);
    if (operations.length === 0) throw new AccessPolicyError(`${rk}.operations`, 'must be a non-empty array of operation names');
    operations.forEach((op, j) => {
      const why = NOT_GATEABLE[op];
      if (why !== undefined) throw new AccessPolicyError(`${rk}.operations[${j}]`, `${op} cannot need approval: ${why}`);
    });
    if (operations.includes(KEK_RETIRE) && (o['objectGroup'] !== undefined || o['objectTypes'] !== undefined)) {
      throw new AccessPolicyError(rk, `${KEK_RETIRE} names no object: a rule for it takes no objectGroup or objectTypes`);
    }
    const rule: { key: string; operations: string[]; objectGroup?: string; objectTypes?: string[] } = { key: rk, operations };
    if (o['objectGroup'] !== undefined) {
      if (typeof o['objectGroup'] !== 'string' || o['objectGroup'].length === 0) throw new AccessPolicyError(`${rk}.objectGroup`, 'must be a non-empty string');
      rule.objectGroup = o['objectGroup'];
    }
    if (o['objectTypes'] !== undefined) {
      const types = strings(o['objectTypes'], `${rk}.objectTypes`);
      types.forEach((t, j) => {
        if (!OBJECT_TYPE_NAMES.has(t)) throw new AccessPolicyError(`${rk}.objectTypes[${j}]`, `"${t}" is not an Object Type (spelled as the enumeration: PrivateKey, SymmetricKey...)`);
      });
      rule.objectTypes = types;
    }
    return rule;
  });
}
