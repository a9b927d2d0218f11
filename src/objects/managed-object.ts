/**
 * What every handler does with managed objects: find one the caller may see, bring its state up to
 * date, read and change attributes, and move its material through the HSM.
 */
import { decodeTtlv } from '../../ttlv/decode';
import { encodeTtlv } from '../../ttlv/encode';
import { ItemType, ttlv, type TtlvItem, type TtlvStructure } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { State } from '../spec/generated/enums';
import type { IndexedAttribute, KmipAttribute } from '../kmip/attributes';
import { asText, child, withTag } from '../kmip/tree';
import { effectiveState } from '../lifecycle/effective-state';
import { transition, type LifecycleEvent, type StateValue } from '../lifecycle/state-machine';
import type { ManagedObjectRecord, StoredAttribute } from '../store/object-store';
import type { KeyProtector, ProtectedMaterial } from '../keys/key-protector';
import type { Clock, OpContext } from './context';
import { KmipError, Reason } from '../kmip/errors';
import { secureRandomBytes } from '../crypto/random-pool';
import { isMultiValued } from './attribute-policy';

/**
 * A new object's Unique Identifier: a UUID version 7 (RFC 9562), the creation time in
 * milliseconds followed by 74 random bits. Time-ordered identifiers go in at the end of the
 * store's unique index instead of at a random leaf: a commit of 32 Creates writes about a quarter
 * fewer pages (measured). It tells the creation time to whoever sees the identifier, which only
 * the owner does, and the owner can read Initial Date anyway.
 */
export function newUniqueIdentifier(): string {
  const b = secureRandomBytes(16);
  b.writeUIntBE(Date.now(), 0, 6);
  b[6] = 0x70 | (b[6]! & 0x0f); // version 7
  b[8] = 0x80 | (b[8]! & 0x3f); // variant 10
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Operations only an administrator identity may call; anyone else learns nothing of the objects. */
export function requireAdministrator(ctx: OpContext, operation: string): void {
  // Under an access policy the role table already decided (access/role-table.ts).
  if (ctx.access !== undefined) return;
  if (!ctx.client.isAdmin) throw new KmipError(Reason.PermissionDenied, `${operation} is an administrator operation`);
}

/**
 * Whether the caller may reach `rec`: its owner may, and an administrator may reach any object;
 * under an access policy, what the caller's roles and grants allow for this operation.
 * Reaching another identity's object by role or grant is noted for the item's audit record, so the
 * trail tells such an action from an owner's own.
 */
export function mayReach(ctx: OpContext, rec: Pick<ManagedObjectRecord, 'uid' | 'owner' | 'attributes'>): boolean {
  if (ctx.access !== undefined) {
    const how = ctx.access.reach(rec);
    if (how === 'role') noteAdministratorOverride(ctx, rec.owner);
    if (how === 'grant') noteGrantUse(ctx, rec.owner);
    return how !== undefined;
  }
  if (rec.owner === ctx.client.name) return true;
  if (!ctx.client.isAdmin) return false;
  noteAdministratorOverride(ctx, rec.owner);
  return true;
}

/** Records in the item's audit detail that an administrator acted on an object `owner` owns. */
export function noteAdministratorOverride(ctx: OpContext, owner: string): void {
  const detail = ctx.auditDetail;
  detail.administratorOverride = true;
  const owners = (detail.objectOwners ??= []);
  if (!owners.includes(owner)) owners.push(owner);
}

/** Records in the item's audit detail that a grant let the caller act on an object `owner` owns. */
function noteGrantUse(ctx: OpContext, owner: string): void {
  const detail = ctx.auditDetail;
  detail.granted = true;
  const owners = (detail.objectOwners ??= []);
  if (!owners.includes(owner)) owners.push(owner);
}

/** The time for a Date-Time item (whole seconds): a handler passes its context, the server its core. */
export function nowSeconds(from: { readonly clock: Clock }): bigint {
  return BigInt(Math.floor(from.clock.now() / 1000));
}

/**
 * The Unique Identifier a request names, or the batch's ID Placeholder when it names none.
 * 2.x also allows the Unique Identifier enumeration "ID Placeholder" (and Integer references,
 * which we do not offer).
 */
export function requestedUid(payload: TtlvStructure, ctx: OpContext): string {
  const item = child(payload, Tag.UniqueIdentifier);
  // A 1.x client's enumeration never gets here: the request adapter refuses it as 1.x has no such form.
  if (item === undefined || item.type === ItemType.Enumeration) {
    if (ctx.idPlaceholder === undefined) {
      throw new KmipError(Reason.MissingData, 'no Unique Identifier given and no ID Placeholder is set');
    }
    return ctx.idPlaceholder;
  }
  return asText(item);
}

/**
 * Loads an object the caller may see, its State as its dates make it now. A read does not write:
 * the lifecycle scheduler (src/scheduler/) persists a date's State change at its time; a handler
 * that writes the object writes the settled State with its own change.
 */
export async function loadObject(ctx: OpContext, uid: string): Promise<ManagedObjectRecord> {
  const rec = await ctx.store.get(uid);
  // The audit record names what the client asked for, refused or not.
  ctx.touched.push(uid);
  // Another owner's object answers exactly like a missing one: existence is not revealed.
  if (rec === undefined || !mayReach(ctx, rec)) {
    // Object Not Found is the 2.x reason; 1.x clients get Item Not Found (errors.ts).
    throw new KmipError(Reason.ObjectNotFound, `object ${uid} not found`);
  }
  const settled = effectiveState(rec.state as StateValue, rec.attributes, ctx.clock.now());
  if (settled === rec.state) return rec;
  return { ...rec, ...withState(rec.attributes, settled) };
}

/** A state as the store writes it: the `state` column and the attribute set that carries it. */
export interface StateFields {
  readonly state: StateValue;
  readonly attributes: StoredAttribute[];
}

/**
 * The one place an object's state is written. The store keeps it twice: the `state` column, which
 * Locate filters on, and the State attribute, which Get Attributes answers. Every write of a state
 * (a new object, a date that moved it, a lifecycle event) takes both from here, so the two cannot
 * drift: no other code sets the State attribute (test/consistency/state-writes.test.ts).
 */
export function withState(attributes: readonly StoredAttribute[], state: StateValue): StateFields {
  return { state, attributes: setAttribute(attributes, 'State', ttlv.enumeration(Tag.State, state)) };
}

/** A destroyed object's withheld Digest: sealed, with its index, or gone (both null). */
export interface DigestAfterDestroy {
  readonly sealedDigest: ProtectedMaterial | null;
  readonly digestMac: Uint8Array | null;
}

/** Applies a lifecycle event: the state table decides; State and Last Change Date follow. */
export async function applyEvent(
  ctx: OpContext,
  rec: ManagedObjectRecord,
  event: LifecycleEvent,
  extra: readonly KmipAttribute[] = [],
  /** Drops the material (Destroy); what stands for its withheld Digest afterwards (ops/digest-index.ts sealWithheldDigest). */
  dropMaterial: false | DigestAfterDestroy = false,
): Promise<ManagedObjectRecord> {
  const { state, attributes: withNewState } = withState(rec.attributes, transition(rec.state as StateValue, event));
  let attributes = withNewState;
  for (const a of extra) attributes = setAttribute(attributes, a.name, a.value);
  attributes = touchLastChange(ctx, attributes);
  const expectedRevision = rec.revision;
  // With the material goes what it alone could tell: the Digest the store withholds is sealed (ops/digest-index.ts).
  const change = dropMaterial ? { state, attributes, protectedMaterial: null, ...dropMaterial, expectedRevision } : { state, attributes, expectedRevision };
  await ctx.store.update(rec.uid, change);
  if (dropMaterial) return { ...rec, state, attributes, protectedMaterial: null, ...dropMaterial, revision: rec.revision + 1 };
  return { ...rec, state, attributes, revision: rec.revision + 1 };
}

export function getAttribute(attrs: readonly StoredAttribute[], name: string): TtlvItem | undefined {
  return attrs.find((a) => a.name === name)?.value;
}

export function getAttributes(attrs: readonly StoredAttribute[], name: string): TtlvItem[] {
  return attrs.filter((a) => a.name === name).map((a) => a.value);
}

/** Replaces every instance of `name` with one value. */
export function setAttribute(attrs: readonly StoredAttribute[], name: string, value: TtlvItem): StoredAttribute[] {
  return [...attrs.filter((a) => a.name !== name), { name, index: 0, value }];
}

/** Adds an instance of a multi-valued attribute, at the next index. */
export function addAttributeInstance(attrs: readonly StoredAttribute[], name: string, value: TtlvItem): StoredAttribute[] {
  const next = attrs.filter((a) => a.name === name).reduce((m, a) => Math.max(m, a.index + 1), 0);
  return [...attrs, { name, index: next, value }];
}

export function touchLastChange(ctx: OpContext, attrs: readonly StoredAttribute[]): StoredAttribute[] {
  return setAttribute(attrs, 'Last Change Date', ttlv.dateTime(Tag.LastChangeDate, nowSeconds(ctx)));
}

/** Canonical attributes of a stored object, with their instance indexes (1.x Attribute Index). */
export function asKmipAttributes(attrs: readonly StoredAttribute[]): IndexedAttribute[] {
  return attrs.map((a) => ({ name: a.name, index: a.index, value: a.value }));
}

/** Two attribute values are the same when they encode alike (tags aside). */
export function sameValue(a: TtlvItem, b: TtlvItem): boolean {
  return Buffer.from(encodeTtlv(withTag(a, 0x420000))).equals(Buffer.from(encodeTtlv(withTag(b, 0x420000))));
}

/** Archived objects carry an Archive Date; Recover deletes it (spec: Archive Date). */
export function isArchived(rec: ManagedObjectRecord): boolean {
  return rec.attributes.some((a) => a.name === 'Archive Date');
}

/** Operations that use an object's material need it on-line: an archived one must be recovered first. */
export function requireOnline(rec: ManagedObjectRecord): void {
  if (isArchived(rec)) throw new KmipError(Reason.ObjectArchived, `object ${rec.uid} is archived; recover it first`);
}

const LIVE_STATES: readonly number[] = [State.PreActive, State.Active, State.Deactivated, State.Compromised];

/**
 * Names are unique within a key management domain (spec: Name); here the domain is the owner's
 * objects that are not destroyed, so one identity cannot learn another's names by collision.
 * Checked when a client adds or changes a Name (new objects may repeat one: see new-object.ts).
 * `self`: the object being changed and its attributes as they will be, without the instance
 * being replaced.
 */
export async function checkNameUnique(
  ctx: OpContext,
  owner: string,
  name: TtlvItem,
  self?: { readonly uid: string; readonly remaining: readonly StoredAttribute[] },
): Promise<void> {
  const others = (await ctx.store.locate({ owner, states: LIVE_STATES, conditions: [{ kind: 'equals', name: 'Name', value: name }] }))
    .filter((uid) => uid !== self?.uid);
  const onSelf = self?.remaining.some((a) => a.name === 'Name' && sameValue(a.value, name)) ?? false;
  if (others.length > 0 || onSelf) throw new KmipError(Reason.NonUniqueNameAttribute, 'an object with this Name already exists');
}

/** Turns request attributes into stored instances, multi-valued ones indexed in order. */
export function toStoredAttributes(attrs: readonly KmipAttribute[]): StoredAttribute[] {
  let out: StoredAttribute[] = [];
  for (const a of attrs) {
    out = isMultiValued(a.name) ? addAttributeInstance(out, a.name, a.value) : setAttribute(out, a.name, a.value);
  }
  return out;
}

/** Encrypts the object's body (its managed-object structure) under the HSM's KEK. */
export async function protectBody(ctx: OpContext, uid: string, body: TtlvStructure) {
  const plain = encodeTtlv(body);
  try {
    return await ctx.keys.protect(uid, plain);
  } finally {
    plain.fill(0);
  }
}

/**
 * Decrypts an object's body for the duration of the request. The decrypted bytes are zeroed at
 * once; the decoded tree's Byte Strings (its own copies) are registered in `ctx.secrets`, which the
 * message handler zeroes as soon as the response is encoded.
 */
export function readBody(ctx: OpContext, rec: ManagedObjectRecord): Promise<TtlvStructure> {
  return unprotectBody(ctx.keys, rec, ctx.secrets);
}

/** readBody outside a request (start-up conversions): the caller zeroes `secrets` when done. */
export async function unprotectBody(keys: KeyProtector, rec: ManagedObjectRecord, secrets: Uint8Array[]): Promise<TtlvStructure> {
  if (rec.protectedMaterial === null) {
    throw new KmipError(Reason.ObjectDestroyed, `object ${rec.uid} has no key material`);
  }
  const plain = await keys.unprotect(rec.uid, rec.protectedMaterial);
  try {
    const body = decodeTtlv(plain);
    if (body.type !== ItemType.Structure) throw new KmipError(Reason.GeneralFailure, 'stored object is damaged');
    collectByteStrings(body, secrets);
    return body;
  } finally {
    plain.fill(0);
  }
}

function collectByteStrings(item: TtlvItem, into: Uint8Array[]): void {
  if (item.type === ItemType.ByteString) into.push(item.value);
  else if (item.type === ItemType.Structure) for (const c of item.value) collectByteStrings(c, into);
}

export function isDestroyed(state: number): boolean {
  return state === State.Destroyed || state === State.DestroyedCompromised;
}
