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
