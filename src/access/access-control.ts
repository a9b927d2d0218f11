/**
 * The access policy at work: for each request item, the caller's roles and groups, what the role
 * table lets it do with the operation, and (for a user) the grants that reach other identities'
 * objects. The server builds one ItemAccess per item; handlers ask it through mayReach and Locate
 * (objects/managed-object.ts, ops/locate.ts). Absent a policy file none of this runs and the
 * server keeps its `adminIdentities` rule.
 */
import fs from 'node:fs';
import { createHash, randomUUID } from 'node:crypto';
import { ItemType } from '../../ttlv/types';
import type { AuditSink } from '../audit/audit-log';
import { Operation } from '../spec/generated/enums';
import { KmipError, Reason } from '../kmip/errors';
import type { GrantRecord, GrantStore } from '../store/grants';
import type { LocateReach, ManagedObjectRecord } from '../store/object-store';
import { groupsOf, objectGroupsOf, rolesOf } from './caller';
import { loadAccessPolicy, withAdministrators, type AccessPolicy, type Caller, type Grantee, type Role } from './policy';
import { scopeFor, type Scope } from './role-table';

type OperationName = keyof typeof Operation;
const OPERATION_NAME: ReadonlyMap<number, OperationName> = new Map(Object.entries(Operation).map(([k, v]) => [v, k as OperationName]));

export function operationName(operation: number): OperationName | undefined {
  return OPERATION_NAME.get(operation);
}

/** The server's access policy, replaced whole on SIGHUP, and the grants in the store. */
export class AccessControl {
  constructor(
    private current: AccessPolicy,
    private readonly grants: GrantStore,
  ) {}

  policy(): AccessPolicy {
    return this.current;
  }

  replace(policy: AccessPolicy): void {
    this.current = policy;
  }

  /**
   * SIGHUP: the access policy file read again and put in place whole (dual control's rules with
   * it), audited either way; a file that fails validation leaves the policy as it was. Returns the
   * failure's one line, or undefined.
   */
  reload(from: { readonly file: string; readonly administrators: readonly string[] }, audit: AuditSink): string | undefined {
    const file = from.file;
    try {
      const text = fs.readFileSync(file);
      this.replace(withAdministrators(loadAccessPolicy(file), from.administrators));
      const sha256 = createHash('sha256').update(text).digest('hex');
      audit.record({ event: 'access-policy', correlationId: randomUUID(), resultStatus: 'Success', reason: `access policy ${file} reloaded (sha256 ${sha256})` });
      return undefined;
    } catch (e) {
      const message = `${(e as Error).message}; the access policy in force is unchanged`;
      audit.record({ event: 'access-policy', correlationId: randomUUID(), resultStatus: 'OperationFailed', reason: message });
      return message;
    }
  }

  /**
   * What `caller` may do in one item of `operation`: Permission Denied when no role of its may
   * call it at all; otherwise its reach, with the grants read now (a revocation another process
   * committed a moment ago is seen here).
   */
  async forItem(caller: Caller, operation: number): Promise<ItemAccess> {
    const policy = this.current;
    const name = operationName(operation);
    const roles = rolesOf(policy, caller);
    const scope: Scope = name === undefined ? '-' : scopeFor(name, roles);
    if (scope === '-') {
      throw new KmipError(Reason.PermissionDenied, `${name ?? `operation ${operation}`} is not allowed to the ${[...roles].join(', ')} role${roles.size > 1 ? 's' : ''}`);
    }
    const groups = groupsOf(policy, caller);
    const grants = scope === 'own' ? await this.grants.grantsTo(caller.name, groups) : [];
    return new ItemAccess(policy, caller, name!, roles, groups, scope, grants);
  }
}

export class ItemAccess {
  constructor(
    readonly policy: AccessPolicy,
    readonly caller: Caller,
    readonly operation: OperationName,
    readonly roles: ReadonlySet<Role>,
    readonly groups: readonly string[],
    /** The widest scope the caller's roles have for the operation (never '-': forItem refused it). */
    readonly scope: Scope,
    private readonly grants: readonly GrantRecord[],
  ) {}

  /** Whether the item may act on `rec`, and whether only its role let it (another identity's object). */
  reach(rec: Pick<ManagedObjectRecord, 'uid' | 'owner' | 'attributes'>): 'owner' | 'role' | 'grant' | undefined {
    if (rec.owner === this.caller.name) return 'owner';
    if (this.scope === 'all') return 'role';
    return this.granted(rec) ? 'grant' : undefined;
  }

  private granted(rec: Pick<ManagedObjectRecord, 'uid' | 'attributes'>): boolean {
    const op = this.operation;
    const groups = objectGroupsOf(rec);
    const byStore = this.grants.some(
      (g) => g.operations.includes(op) && ('objectUid' in g.target ? g.target.objectUid === rec.uid : groups.includes(g.target.objectGroup)),
    );
    if (byStore) return true;
    return policyNamesOf(rec).some((name) => this.policyGrants(name, op));
  }

  /** Whether the file's operation policy `name` grants `op` to the caller (1.x Operation Policy Name). */
  private policyGrants(name: string, op: string): boolean {
    return (this.policy.operationPolicies.get(name) ?? []).some((g) => g.operations.includes(op) && this.isGrantee(g.to));
  }

  private isGrantee(to: Grantee): boolean {
    return 'identity' in to ? to.identity === this.caller.name : this.groups.includes(to.group);
  }

  /** Locate's restriction: undefined when the role reaches every object. */
  locateReach(): LocateReach | undefined {
    if (this.scope === 'all') return undefined;
    const op = this.operation;
    const mine = this.grants.filter((g) => g.operations.includes(op));
    return {
      owner: this.caller.name,
      uids: mine.flatMap((g) => ('objectUid' in g.target ? [g.target.objectUid] : [])),
      objectGroups: mine.flatMap((g) => ('objectGroup' in g.target ? [g.target.objectGroup] : [])),
      policyNames: [...this.policy.operationPolicies.keys()].filter((name) => this.policyGrants(name, op)),
    };
  }
}

function policyNamesOf(rec: Pick<ManagedObjectRecord, 'attributes'>): string[] {
  return rec.attributes.filter((a) => a.name === 'Operation Policy Name' && a.value.type === ItemType.TextString).map((a) => a.value.value as string);
}
