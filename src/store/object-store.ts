/**
 * The store port: what handlers need from persistence. SQLite implements it (sqlite.ts), the
 * embedded default; PostgreSQL too (postgres-store.ts), for several server nodes on one database.
 *
 * The store never sees plaintext key material: `protectedMaterial` is what the KeyProtector
 * returned (ciphertext under the HSM's key-encryption key). Nor a value derived from it that an
 * offline attacker could test guesses against: the Digest of secret material stays out of
 * `attributes`, and `digestMac` (its HMAC under the HSM's index key) stands in for it in Locate.
 */
import type { TtlvItem } from '../../ttlv/types';
import type { ProtectedMaterial } from '../keys/key-protector';

/** One attribute instance. `value.tag` is the attribute's own tag (2.x form). */
export interface StoredAttribute {
  /** Spec name ("Cryptographic Algorithm") or custom name ("x-Department"). */
  readonly name: string;
  /** Instance index among values of the same name, from 0. */
  readonly index: number;
  readonly value: TtlvItem;
}

export interface NewObject {
  readonly uid: string;
  readonly objectType: number;
  readonly state: number;
  readonly owner: string;
  readonly attributes: readonly StoredAttribute[];
  /** Null once destroyed (metadata stays, material goes) or for objects without material. */
  readonly protectedMaterial: ProtectedMaterial | null;
  /**
   * The blind index of a Digest withheld from `attributes` (secret material, ops/digest-index.ts):
   * KeyProtector.indexMac of it. Null or absent: no Digest is withheld.
   */
  readonly digestMac?: Uint8Array | null;
  /**
   * A withheld Digest encrypted by the KeyProtector, kept once the material it is computed from is
   * destroyed. Null or absent while the material is there.
   */
  readonly sealedDigest?: ProtectedMaterial | null;
}

export interface ManagedObjectRecord extends NewObject {
  /** Monotonic creation order; Locate's deterministic order. */
  readonly seq: number;
  /** Grows by exactly one with every committed update of the object. */
  readonly revision: number;
  readonly digestMac: Uint8Array | null;
  readonly sealedDigest: ProtectedMaterial | null;
}

/**
 * A change computed from a record that was read. `expectedRevision` is that record's revision:
 * if another write committed in between (another connection, another worker), the update is
 * refused whole with StoreError CONFLICT instead of overwriting that write, and the request runs
 * again on the new state (server/handle-message.ts). `null` overwrites unconditionally (undo).
 */
export interface ObjectUpdate {
  readonly expectedRevision: number | null;
  readonly state?: number;
  /** Replaces the whole attribute set when given. */
  readonly attributes?: readonly StoredAttribute[];
  /** `null` drops the material (Destroy). */
  readonly protectedMaterial?: ProtectedMaterial | null;
  readonly digestMac?: Uint8Array | null;
  readonly sealedDigest?: ProtectedMaterial | null;
}

/**
 * A server-set, single-valued attribute (Fresh) given a new value by a write that no response
 * waits for: see ObjectStore.deferAttribute. Applied only where the object has the attribute, so
 * that applying it twice, or on top of any other change, gives the same result.
 */
export interface DeferredAttribute {
  readonly name: string;
  readonly value: TtlvItem;
}

/** A deferred write as its caller holds it. */
export interface DeferredWrite {
  /**
   * True once the change is on disk (synced), false if it never will be: cancelled, or its commit
   * or sync failed. Never rejects: nobody is waiting for it on the request path.
   */
  readonly durable: Promise<boolean>;
  /** Drops the change if it has not been committed yet (an Undo batch rolling back). */
  cancel(): void;
}

/** One Locate condition: every condition must hold (AND); each matches any instance of `name`. */
export type LocateCondition =
  | { readonly kind: 'equals'; readonly name: string; readonly value: TtlvItem }
  /** Equal to any of `values` (one value written in several accepted forms). */
  | { readonly kind: 'equalsAny'; readonly name: string; readonly values: readonly TtlvItem[] }
  /** Dates and numbers: inclusive range on the attribute's numeric value. */
  | { readonly kind: 'range'; readonly name: string; readonly min?: bigint; readonly max?: bigint }
  /** Integer mask attributes: every bit of `bits` set in the stored value. */
  | { readonly kind: 'maskContains'; readonly name: string; readonly bits: number }
  /** The object has no instance of `name` (on-line objects have no Archive Date). */
  | { readonly kind: 'absent'; readonly name: string }
  /**
   * A Digest: equal to `value` in the attributes (public material), or withheld with `mac` as its
   * index (secret material; `mac` is the index MAC of `value`).
   */
  | { readonly kind: 'digest'; readonly name: 'Digest'; readonly value: TtlvItem; readonly mac: Uint8Array };

/** An owner's objects, and the others its grants (by identifier or Object Group) or Operation Policy Names reach. */
export interface LocateReach {
  readonly owner: string;
  readonly uids: readonly string[];
  readonly objectGroups: readonly string[];
  readonly policyNames: readonly string[];
}

export interface LocateQuery {
  /** Restrict to objects of this owner; undefined = all owners (administrators). */
  readonly owner?: string;
  /** Restrict to what one caller may reach under an access policy (src/access/); with `owner` both apply. */
  readonly reach?: LocateReach;
  readonly objectType?: number;
  readonly states?: readonly number[];
  readonly conditions: readonly LocateCondition[];
  readonly offset?: number;
  readonly limit?: number;
  /** Creation order ('newest' first is what most clients expect of "the" key by name). */
  readonly order?: 'newest' | 'oldest';
}

/**
 * Schema 5's conversion, which needs the HSM and so runs once the server has one, before it serves
 * (ops/digest-index.ts sealClearDigests): objects written before it still hold the Digest of their
 * secret material in the clear.
 */
export interface DigestSealing {
  /** Whether the conversion is still to do (the store was written before schema 5). */
  needsDigestSealing(): boolean;
  /** Up to `limit` records with `seq` above `afterSeq`, in creation order. */
  recordsAfter(afterSeq: number, limit: number): Promise<ManagedObjectRecord[]>;
  writeBatch(ops: ReadonlyArray<{ uid: string; update: ObjectUpdate }>): Promise<void>;
  /**
   * Rewrites the whole file (VACUUM) and empties the write-ahead log, so that no free page, page
   * slack or old WAL frame keeps a value the conversion removed; then marks it done. (An engine
   * across the network answers when it is done.)
   */
  finishDigestSealing(): void | Promise<void>;
}

export interface ObjectStore {
  /** Durable when the promise resolves (the commit is fsync'd). */
  insert(obj: NewObject): Promise<void>;
  /** Durable when the promise resolves. Throws StoreError NOT_FOUND if the uid is unknown. */
  update(uid: string, change: ObjectUpdate): Promise<void>;
  /** Several writes made durable together, all or nothing. */
  writeBatch(ops: ReadonlyArray<{ insert: NewObject } | { uid: string; update: ObjectUpdate }>): Promise<void>;
  /**
   * Sets `attribute` on the object without the caller waiting for a commit or a sync: for a change
   * no response depends on being durable (Fresh turning false once an object was served: if a
   * crash loses it, the object reads as Fresh once more, the conservative direction). It rides the
   * next group commit (or starts one a moment later). Until it is committed, get() already shows
   * it (same process). It runs last
   * in its transaction, on the object as committed by then, so it neither conflicts with a
   * concurrent change nor overwrites one; committed, it moves the revision on, so an update
   * computed from a read before it is refused (CONFLICT) rather than putting the old value back.
   */
  deferAttribute(uid: string, attribute: DeferredAttribute): DeferredWrite;
  /** Removes an object entirely; only for undoing a batch (Batch Error Continuation Option Undo). */
  remove(uid: string): Promise<void>;
  /**
   * Reads are asynchronous so that an engine across the network can serve them; an engine that
   * answers from memory (SQLite's row cache) resolves at once, at the cost of one microtask. The
   * record may be stale by the time the caller acts on it: an update computed from it carries its
   * revision (ObjectUpdate.expectedRevision), which is what keeps read-then-write correct.
   */
  get(uid: string): Promise<ManagedObjectRecord | undefined>;
  locate(query: LocateQuery): Promise<string[]>;
  close(): void;
}

export class StoreError extends Error {
  override readonly name = 'StoreError';
  constructor(
    readonly code: 'NOT_FOUND' | 'EXISTS' | 'SCHEMA' | 'IO' | 'CONFLICT',
    message: string,
    /** The object concerned, where there is one (CONFLICT always names it). */
    readonly uid?: string,
  ) {
    super(message);
  }
}
