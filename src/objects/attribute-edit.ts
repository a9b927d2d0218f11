/**
 * What Add, Modify, Delete, Set and Adjust Attribute share: reading the attribute a request names
 * in either major version's form, finding instances, and storing the changed set (with Last
 * Change Date, the server-maintained flags, and the state its dates imply).
 */
import { ItemType, ttlv, type TtlvItem, type TtlvStructure } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { canonicalAttribute, readAttributeReference, readRequestAttribute, type IndexedAttribute } from '../kmip/attributes';
import { asStructure, child, opt, req } from '../kmip/tree';
import { effectiveState } from '../lifecycle/effective-state';
import type { StateValue } from '../lifecycle/state-machine';
import type { ManagedObjectRecord, StoredAttribute } from '../store/object-store';
import type { OpContext } from './context';
import { KmipError, Reason } from '../kmip/errors';
import { isDestroyed, loadObject, requestedUid, sameValue, setAttribute, touchLastChange, withState } from './managed-object';
import { checkCryptoperiodChange } from './cryptoperiod';

/** The object a request changes: destroyed objects keep their metadata as it was. */
export async function loadForChange(payload: TtlvStructure, ctx: OpContext): Promise<ManagedObjectRecord> {
  const rec = await loadObject(ctx, requestedUid(payload, ctx));
  if (isDestroyed(rec.state)) throw new KmipError(Reason.ObjectDestroyed, `object ${rec.uid} is destroyed`);
  return rec;
}

/** The one attribute inside a New Attribute / Current Attribute structure (a 1.x Attribute the request adapter wrapped, too). */
function innerAttribute(s: TtlvStructure): IndexedAttribute {
  if (s.value.length !== 1) throw new KmipError(Reason.InvalidField, `${s.value.length === 0 ? 'an empty' : 'more than one'} attribute given`);
  return readRequestAttribute(s.value[0] as TtlvItem);
}

/** The New Attribute (a 1.x client's Attribute, wrapped by the request adapter). */
export function readNewAttribute(payload: TtlvStructure): IndexedAttribute {
  return innerAttribute(req.structure(payload, Tag.NewAttribute));
}

/**
 * The Attribute Index naming the instance changed: only a 1.x client's request has one (the
 * request adapter writes 0 where the client left it out); 2.x names the instance by its value.
 */
export function requestedIndex(payload: TtlvStructure): number | undefined {
  return opt.integer(payload, Tag.AttributeIndex);
}

/** 2.x Current Attribute, where given. */
export function readCurrentAttribute(payload: TtlvStructure): IndexedAttribute | undefined {
  const item = child(payload, Tag.CurrentAttribute);
  return item === undefined ? undefined : innerAttribute(asStructure(item));
}

/** 2.x Attribute Reference (1.x Attribute Name), where given. */
export function readReference(payload: TtlvStructure): string | undefined {
  const item = child(payload, Tag.AttributeReference) ?? child(payload, Tag.AttributeName);
  return item === undefined ? undefined : readAttributeReference(item);
}

export function instancesOf(rec: ManagedObjectRecord, name: string): StoredAttribute[] {
  return rec.attributes.filter((a) => a.name === name);
}

export function attributeNotFound(name: string): KmipError {
  return new KmipError(Reason.AttributeNotFound, `the object has no ${name}`);
}

/** The instance at a 1.x `index`; absence of the attribute and of the index are told apart. */
export function instanceAt(rec: ManagedObjectRecord, name: string, index: number): StoredAttribute {
  const all = instancesOf(rec, name);
  if (all.length === 0) throw attributeNotFound(name);
  const found = all.find((a) => a.index === index);
  // Index Out of Bounds is the 1.x reason; 2.x clients get Attribute Instance Not Found (errors.ts).
  if (!found) throw new KmipError(Reason.IndexOutOfBounds, `${name} has no instance ${index}`);
  return found;
}

/** The instance whose value equals a 2.x `current`. */
export function instanceEqualTo(rec: ManagedObjectRecord, current: IndexedAttribute): StoredAttribute {
  const all = instancesOf(rec, current.name);
  if (all.length === 0) throw attributeNotFound(current.name);
  const found = all.find((a) => sameValue(a.value, current.value));
  if (!found) throw new KmipError(Reason.AttributeInstanceNotFound, `no ${current.name} instance has that value`);
  return found;
}

export function without(attrs: readonly StoredAttribute[], instance: StoredAttribute): StoredAttribute[] {
  return attrs.filter((a) => !(a.name === instance.name && a.index === instance.index));
}

function boolOf(attrs: readonly StoredAttribute[], name: string): boolean | undefined {
  const v = attrs.find((a) => a.name === name)?.value;
  return v?.type === ItemType.Boolean ? v.value : undefined;
}

/**
 * Always Sensitive stays true only while Sensitive has always been true; Never Extractable only
 * while Extractable has always been false (spec: both set by the server when the flag changes).
 */
function maintainFlags(attrs: StoredAttribute[]): StoredAttribute[] {
  let out = attrs;
  if (boolOf(out, 'Sensitive') === false && boolOf(out, 'Always Sensitive') === true) {
    out = setAttribute(out, 'Always Sensitive', ttlv.boolean(Tag.AlwaysSensitive, false));
  }
  if (boolOf(out, 'Extractable') === true && boolOf(out, 'Never Extractable') === true) {
    out = setAttribute(out, 'Never Extractable', ttlv.boolean(Tag.NeverExtractable, false));
  }
  return out;
}

/** Stores the object's new attribute set; a date the client set may move its state (lifecycle table). */
export async function commitAttributes(ctx: OpContext, rec: ManagedObjectRecord, attrs: StoredAttribute[]): Promise<void> {
  if (ctx.cryptoperiods) checkCryptoperiodChange(ctx.cryptoperiods, rec.objectType, rec.attributes, attrs);
  const attributes = touchLastChange(ctx, maintainFlags(attrs));
  const state = effectiveState(rec.state as StateValue, attributes, ctx.clock.now());
  const expectedRevision = rec.revision;
  await ctx.store.update(rec.uid, state !== rec.state ? { ...withState(attributes, state), expectedRevision } : { attributes, expectedRevision });
}

/** The response: the identifier and the instance changed (Add, Modify, Delete); only 1.x shows the instance (kmip/response-adapter.ts). */
export function attributeResponse(uid: string, instance?: StoredAttribute): TtlvItem[] {
  const out: TtlvItem[] = [ttlv.textString(Tag.UniqueIdentifier, uid)];
  if (instance) out.push(canonicalAttribute(instance));
  return out;
}
