/**
 * Dual control (issue 16 item 4): the access policy file's `dualControl` rules say which requests
 * wait for a second person, a security officer other than the requester, before they run.
 *
 *   "dualControl": [
 *     { "operations": ["Destroy"], "objectGroup": "finance" },
 *     { "operations": ["Get", "Export"], "objectTypes": ["Private Key"] },
 *     { "operations": ["KekRetire"] } ]
 *
 * A rule covers a request when the operation is one of its `operations` and the object the request
 * names matches every condition it gives (`objectGroup`: one of the object's Object Group values;
 * `objectTypes`: the object's type by its spec name). A rule with conditions covers no request that
 * names no object. `KekRetire` is the `kmip-server kek retire` command, not a KMIP operation.
 *
 * Approvers are the policy's security officers (`roles.securityOfficer`, MATCHERs: "cn:NAME",
 * "san:VALUE", "sha256:HEX" or a plain identity name). This file reads only those two keys of the
 * policy file; the rest of the file (roles, groups, grants) belongs to the access policy proper.
 */
import fs from 'node:fs';
import { ENUM_INFO } from '../spec/generated/enums';
import { OPERATIONS } from '../spec/generated/operations';
import { normalizeName } from '../spec/names';
import type { StoredAttribute } from '../store/object-store';
import { ItemType } from '../../ttlv/types';

/** The operation name dual control gives `kmip-server kek retire`. */
export const KEK_RETIRE = 'KekRetire';

/**
 * Operations whose Request Payload carries key material or data to process: a request waiting for
 * approval is kept in the store as sent, and these must not wait there in the clear. The others
 * (Poll, Cancel and the like) deliver the answers themselves, so gating them makes no sense.
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

export interface DualControlRule {
  /** Operation names as the generated table's xmlName ("Destroy", "GetAttributes") or KEK_RETIRE. */
  readonly operations: readonly string[];
  readonly objectGroup?: string;
  readonly objectTypes?: readonly number[];
  /** The rule's place in the file (`dualControl[2]`), for messages and the audit. */
  readonly key: string;
}

export interface IdentityMatcher {
  readonly kind: 'name' | 'sha256';
  readonly value: string;
}

export interface DualControlPolicy {
  readonly rules: readonly DualControlRule[];
  readonly officers: readonly IdentityMatcher[];
}

export interface PolicyIdentity {
  readonly name: string;
  readonly certificateFingerprint?: string;
}

/** What a rule looks at of the object a request names. */
export interface PolicyObject {
  readonly objectType: number;
  readonly attributes: readonly StoredAttribute[];
}

export class PolicyError extends Error {
  override readonly name = 'PolicyError';
  constructor(
    /** The key in the policy file ("dualControl[1].operations[0]"). */
    readonly key: string,
    message: string,
  ) {
    super(`${key}: ${message}`);
  }
}

type Json = string | number | boolean | null | Json[] | { [k: string]: Json };

function isObject(v: Json | undefined): v is { [k: string]: Json } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const OPERATION_BY_NAME = new Map<string, string>();
for (const op of OPERATIONS) {
  OPERATION_BY_NAME.set(op.name, op.xmlName);
  OPERATION_BY_NAME.set(op.xmlName, op.xmlName);
}

function operationName(v: Json, key: string): string {
  if (typeof v !== 'string') throw new PolicyError(key, 'must be an operation name, e.g. "Destroy"');
  if (v === KEK_RETIRE) return v;
  const name = OPERATION_BY_NAME.get(v) ?? OPERATION_BY_NAME.get(normalizeName(v));
  if (name === undefined) throw new PolicyError(key, `"${v}" is no KMIP operation (spec names such as "Destroy", "Get", "Re-key", or "${KEK_RETIRE}")`);
  const why = NOT_GATEABLE[name];
  if (why !== undefined) throw new PolicyError(key, `${v} cannot need approval: ${why}`);
  return name;
}

function objectTypeOf(v: Json, key: string): number {
  const values = ENUM_INFO.ObjectType.values;
  const found = typeof v === 'string' ? values.find((e) => e.name === v || normalizeName(e.name) === normalizeName(v)) : undefined;
  if (found === undefined) throw new PolicyError(key, `must name an Object Type by its spec name, e.g. "${values[0]!.name}"`);
  return found.value;
}

function matcher(v: Json, key: string): IdentityMatcher {
  if (typeof v !== 'string' || v === '') throw new PolicyError(key, 'must be "cn:NAME", "san:VALUE", "sha256:HEX" or an identity name');
  if (v.startsWith('sha256:')) {
    const hex = v.slice(7).replace(/:/g, '').toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(hex)) throw new PolicyError(key, 'a sha256: matcher needs the certificate\'s SHA-256 fingerprint, 64 hex digits');
    return { kind: 'sha256', value: hex };
  }
  // The server names an identity by its certificate's CN or SAN (config identityFrom): either prefix names it.
  const name = v.startsWith('cn:') || v.startsWith('san:') ? v.slice(v.indexOf(':') + 1) : v;
  if (name === '') throw new PolicyError(key, 'names no identity');
  return { kind: 'name', value: name };
}

/** The `dualControl` and `roles.securityOfficer` keys of a parsed policy file. */
export function parseDualControl(raw: Json): DualControlPolicy {
  if (!isObject(raw)) throw new PolicyError('(file)', 'must hold a JSON object');
  const roles = raw['roles'];
  if (roles !== undefined && !isObject(roles)) throw new PolicyError('roles', 'must be an object of role: [MATCHER, ...]');
  const officersRaw = roles?.['securityOfficer'] ?? [];
  if (!Array.isArray(officersRaw)) throw new PolicyError('roles.securityOfficer', 'must be an array of MATCHERs');
  const officers = officersRaw.map((m, i) => matcher(m, `roles.securityOfficer[${i}]`));
  const rulesRaw = raw['dualControl'] ?? [];
  if (!Array.isArray(rulesRaw)) throw new PolicyError('dualControl', 'must be an array of rules ({ operations, objectGroup?, objectTypes? })');
  const rules = rulesRaw.map((r, i): DualControlRule => {
    const key = `dualControl[${i}]`;
    if (!isObject(r)) throw new PolicyError(key, 'must be an object');
    for (const k of Object.keys(r)) if (!['operations', 'objectGroup', 'objectTypes'].includes(k)) throw new PolicyError(`${key}.${k}`, 'unknown key (allowed: operations, objectGroup, objectTypes)');
    const ops = r['operations'];
    if (!Array.isArray(ops) || ops.length === 0) throw new PolicyError(`${key}.operations`, 'must be a non-empty array of operation names');
    const group = r['objectGroup'];
    if (group !== undefined && (typeof group !== 'string' || group === '')) throw new PolicyError(`${key}.objectGroup`, 'must be a non-empty string');
    const types = r['objectTypes'];
    if (types !== undefined && (!Array.isArray(types) || types.length === 0)) throw new PolicyError(`${key}.objectTypes`, 'must be a non-empty array of Object Type names');
    const operations = ops.map((o, j) => operationName(o, `${key}.operations[${j}]`));
    if (operations.includes(KEK_RETIRE) && (group !== undefined || types !== undefined)) {
      throw new PolicyError(key, `${KEK_RETIRE} names no object: a rule for it takes no objectGroup or objectTypes`);
    }
    return {
      key,
      operations,
      ...(group !== undefined ? { objectGroup: group as string } : {}),
      ...(types !== undefined ? { objectTypes: types.map((t, j) => objectTypeOf(t, `${key}.objectTypes[${j}]`)) } : {}),
    };
  });
  if (rules.length > 0 && officers.length === 0) throw new PolicyError('roles.securityOfficer', 'is empty, but dualControl rules need security officers to approve');
  return { rules, officers };
}

/** Reads and checks the policy file; a PolicyError names the key, an unreadable file names the file. */
export function readDualControlPolicy(file: string): DualControlPolicy {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new PolicyError('(file)', `cannot read ${file}: ${(e as Error).message}`);
  }
  let parsed: Json;
  try {
    parsed = JSON.parse(text) as Json;
  } catch (e) {
    throw new PolicyError('(file)', `${file} is not valid JSON: ${(e as Error).message}`);
  }
  return parseDualControl(parsed);
}

function groupsOf(attrs: readonly StoredAttribute[]): string[] {
  return attrs.filter((a) => a.name === 'Object Group' && a.value.type === ItemType.TextString).map((a) => a.value.value as string);
}

function covers(rule: DualControlRule, operation: string, object: PolicyObject | undefined): boolean {
  if (!rule.operations.includes(operation)) return false;
  if (rule.objectGroup === undefined && rule.objectTypes === undefined) return true;
  if (object === undefined) return false;
  if (rule.objectTypes !== undefined && !rule.objectTypes.includes(object.objectType)) return false;
  if (rule.objectGroup !== undefined && !groupsOf(object.attributes).includes(rule.objectGroup)) return false;
  return true;
}

/** Whether any rule names `operation` at all (a cheap test before the object is read). */
export function mayRequireApproval(policy: DualControlPolicy, operation: string): boolean {
  return policy.rules.some((r) => r.operations.includes(operation));
}

/**
 * The rule that makes `identity`'s `operation` (on `object`, when it names one) wait for a second
 * officer's approval; undefined: it runs at once. Every identity is covered, officers included: an
 * officer's own request needs another officer.
 */
export function requiresApproval(policy: DualControlPolicy, _identity: PolicyIdentity, operation: string, object?: PolicyObject): DualControlRule | undefined {
  return policy.rules.find((r) => covers(r, operation, object));
}

/** Whether `identity` is a security officer of the policy. */
export function isSecurityOfficer(policy: DualControlPolicy, identity: PolicyIdentity): boolean {
  const fp = identity.certificateFingerprint?.replace(/:/g, '').toLowerCase();
  return policy.officers.some((m) => (m.kind === 'name' ? m.value === identity.name : fp !== undefined && m.value === fp));
}

/** The Object Type's spec name, for messages. */
export function objectTypeName(value: number): string {
  return ENUM_INFO.ObjectType.values.find((e) => e.value === value)?.name ?? String(value);
}
