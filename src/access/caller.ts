/**
 * Who a caller is under the access policy: its roles (matched on its certificate), its groups (from
 * the certificate, or the file's member lists), and whether a dual-control rule covers what it asks.
 */
import { ItemType } from '../../ttlv/types';
import { ObjectType } from '../spec/generated/enums';
import type { ManagedObjectRecord } from '../store/object-store';
import { ROLES, type AccessPolicy, type Caller, type DualControlRule, type Matcher, type Role } from './policy';

export function matches(m: Matcher, caller: Caller): boolean {
  const cert = caller.certificate;
  switch (m.kind) {
    case 'identity':
      return caller.name === m.value;
    case 'cn':
      return cert?.cn === m.value;
    case 'sha256':
      return cert?.fingerprint?.toLowerCase() === m.value;
    case 'san':
      // `san:URI:urn:x` names the SAN with its type; `san:urn:x` any SAN of that value.
      return (cert?.sans ?? []).some((s) => s === m.value || s.slice(s.indexOf(':') + 1) === m.value);
  }
}

/** The caller's roles: every assigned role a matcher of which matches; `user` when none does. */
export function rolesOf(policy: AccessPolicy, caller: Caller): ReadonlySet<Role> {
  const out = new Set<Role>();
  for (const role of ROLES) if ((policy.roles.get(role) ?? []).some((m) => matches(m, caller))) out.add(role);
  if (out.size === 0) out.add('user');
  return out;
}

export function isSecurityOfficer(policy: AccessPolicy, caller: Caller): boolean {
  return rolesOf(policy, caller).has('securityOfficer');
}

/** The caller's groups: from its certificate (OU or SAN URIs under the prefix) and the file's member lists. */
export function groupsOf(policy: AccessPolicy, caller: Caller): readonly string[] {
  const out = new Set<string>();
  const g = policy.groups;
  const cert = caller.certificate;
  if (g.from === 'ou') for (const ou of cert?.ous ?? []) out.add(ou);
  if (g.from === 'sanUri' && g.sanUriPrefix !== undefined) {
    for (const s of cert?.sans ?? []) {
      if (s.startsWith('URI:') && s.startsWith(g.sanUriPrefix, 4) && s.length > 4 + g.sanUriPrefix.length) out.add(s.slice(4 + g.sanUriPrefix.length));
    }
  }
  for (const [name, list] of g.members) if (list.some((m) => matches(m, caller))) out.add(name);
  return [...out];
}

/** The Object Group values of an object. */
export function objectGroupsOf(rec: Pick<ManagedObjectRecord, 'attributes'>): string[] {
  return rec.attributes.filter((a) => a.name === 'Object Group' && a.value.type === ItemType.TextString).map((a) => a.value.value as string);
}

const OBJECT_TYPE_NAME: ReadonlyMap<number, string> = new Map(Object.entries(ObjectType).map(([k, v]) => [v, k]));

/** Whether any dual-control rule names `operation` at all (a cheap test before the object is read). */
export function mayRequireApproval(policy: AccessPolicy | undefined, operation: string): boolean {
  return policy !== undefined && policy.dualControl.some((r) => r.operations.includes(operation));
}

/**
 * The dual-control rule that makes `operation` by `caller` on `record` wait for a second officer's
 * approval, or undefined. `operation`: an Operation enumeration name (`Destroy`) or a server
 * operation (`KekRetire`); `record`: the object it acts on, when there is one. A rule naming an
 * Object Group or object types covers only objects that have them; no policy: nothing needs approval.
 */
export function requiresApproval(
  policy: AccessPolicy | undefined,
  caller: Caller,
  operation: string,
  record?: Pick<ManagedObjectRecord, 'objectType' | 'attributes'>,
): DualControlRule | undefined {
  if (policy === undefined) return undefined;
  void caller; // Every caller alike: an officer's own request needs another officer too.
  return policy.dualControl.find((rule) => {
    if (!rule.operations.includes(operation)) return false;
    if (rule.objectGroup !== undefined && (record === undefined || !objectGroupsOf(record).includes(rule.objectGroup))) return false;
    if (rule.objectTypes !== undefined) {
      const type = record === undefined ? undefined : OBJECT_TYPE_NAME.get(record.objectType);
      if (type === undefined || !rule.objectTypes.includes(type)) return false;
    }
    return true;
  });
}
