/**
 * The grants port: who may do which operations on an object, or on every object of an Object
 * Group, beyond its owner (src/access/). Grants live beside the objects in the store, so every
 * engine keeps them with the same durability, and a grant changed by another process (the
 * `kmip-server grant` command) is what the next request reads: the server reads grants on every
 * request item instead of caching them, so a revocation takes effect at once on every connection.
 */

/** What a grant is on: one object, or every object carrying an Object Group. */
export type GrantTarget = { readonly objectUid: string } | { readonly objectGroup: string };
/** Who a grant is to: one identity, or every member of a group (src/access/caller.ts groupsOf). */
export type GrantGrantee = { readonly identity: string } | { readonly group: string };

export interface GrantRecord {
  readonly target: GrantTarget;
  readonly to: GrantGrantee;
  /** Operation enumeration names (`Get`, `GetAttributes`), sorted. */
  readonly operations: readonly string[];
  /** Milliseconds since the epoch of the last change. */
  readonly changedAt: number;
  /** Who last changed it (the operator's account, or the identity that granted). */
  readonly changedBy: string;
}

export interface GrantChange {
  readonly target: GrantTarget;
  readonly to: GrantGrantee;
  readonly operations: readonly string[];
  readonly by: string;
}

export interface GrantStore {
  /** The grants to `identity` or to any of `groups`: read fresh, every call. */
  grantsTo(identity: string, groups: readonly string[]): Promise<GrantRecord[]>;
  /** Adds operations to the grant of `to` on `target` (made when there is none); durable when it resolves. Returns the grant as it is now. */
  grant(change: GrantChange): Promise<GrantRecord>;
  /**
   * Takes operations away (all of them when `operations` is empty); a grant left with none is
   * deleted. Returns the grant as it is now, or undefined when none is left. Durable when it resolves.
   */
  revoke(change: GrantChange): Promise<GrantRecord | undefined>;
  /** Every grant, for `kmip-server grant list`. */
  list(): Promise<GrantRecord[]>;
}

export function describeTarget(t: GrantTarget): string {
  return 'objectUid' in t ? `object ${t.objectUid}` : `Object Group "${t.objectGroup}"`;
}

export function describeGrantee(g: GrantGrantee): string {
  return 'identity' in g ? `identity "${g.identity}"` : `group "${g.group}"`;
}

/** A grant as both engines keep it: one row per target and grantee, operations comma-separated. */
export interface GrantRow {
  object_uid: string | null;
  object_group: string | null;
  to_identity: string | null;
  to_group: string | null;
  operations: string;
  changed_at: number | string;
  changed_by: string;
}

export const GRANT_COLUMNS = 'object_uid, object_group, to_identity, to_group, operations, changed_at, changed_by';

/** The row key of a grant: target and grantee, '' where the column is null. */
export function grantKey(target: GrantTarget, to: GrantGrantee): [string, string, string, string] {
  return [
    'objectUid' in target ? target.objectUid : '',
    'objectGroup' in target ? target.objectGroup : '',
    'identity' in to ? to.identity : '',
    'group' in to ? to.group : '',
  ];
}

export function grantOfRow(r: GrantRow): GrantRecord {
  return {
    target: r.object_uid !== null ? { objectUid: r.object_uid } : { objectGroup: r.object_group! },
    to: r.to_identity !== null ? { identity: r.to_identity } : { group: r.to_group! },
    operations: r.operations.split(','),
    // PostgreSQL answers a BIGINT as text.
    changedAt: Number(r.changed_at),
    changedBy: r.changed_by,
  };
}
