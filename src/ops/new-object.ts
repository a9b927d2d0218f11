/**
 * Shared by Create and Register (and later Re-key): validate the client's attributes against the
 * attribute rules, add the server-set ones, protect the body, store, set the ID Placeholder.
 */
import { ttlv, type TtlvItem, type TtlvStructure } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { ObjectType, State } from '../spec/generated/enums';
import { attributeByName, attributeInVersion } from '../spec/registry';
import type { KmipAttribute } from '../kmip/attributes';
import { effectiveState } from '../lifecycle/effective-state';
import type { StoredAttribute } from '../store/object-store';
import type { OpContext } from '../server/context';
import { KmipError, Reason } from '../server/errors';
import { newUniqueIdentifier, nowSeconds, protectBody, setAttribute, toStoredAttributes } from './managed-object';

/** Attributes only the server sets: a client that sends one gets an error, not a silent override. */
const SERVER_ONLY = new Set([
  'Unique Identifier',
  'Object Type',
  'State',
  'Initial Date',
  'Last Change Date',
  'Original Creation Date',
  'Destroy Date',
  'Compromise Date',
  'Archive Date',
  'Revocation Reason',
  'Fresh',
  'Digest',
  'Key Value Present',
  'Always Sensitive',
  'Never Extractable',
  'Short Unique Identifier',
]);

export function checkClientAttributes(attrs: readonly KmipAttribute[], ctx: OpContext, objectType: number): void {
  for (const a of attrs) {
    const rule = attributeByName(a.name);
    if (rule === undefined) continue; // custom x-/y- attributes: the client's own
    if (!attributeInVersion(rule, ctx.version)) {
      throw new KmipError(Reason.InvalidAttribute, `${a.name} does not exist in this protocol version`);
    }
    if (SERVER_ONLY.has(a.name) && !(a.name === 'Object Type' && sameEnum(a.value, objectType))) {
      throw new KmipError(Reason.AttributeReadOnly, `${a.name} is set by the server`);
    }
  }
}

function sameEnum(v: TtlvItem, n: number): boolean {
  return v.value === n;
}

export interface NewObjectInput {
  readonly objectType: number;
  readonly body: TtlvStructure;
  readonly clientAttributes: readonly KmipAttribute[];
  /** Attributes derived from the body (algorithm, length, digest...). */
  readonly derived: readonly KmipAttribute[];
  /** Create-style operations set Original Creation Date; Register does not. */
  readonly originalCreation: boolean;
}

export async function storeNewObject(ctx: OpContext, input: NewObjectInput): Promise<{ uid: string; attributes: StoredAttribute[] }> {
  const uid = newUniqueIdentifier();
  const now = nowSeconds(ctx);
  const clientAttrs = input.clientAttributes.filter((a) => a.name !== 'Object Type');
  let attributes = toStoredAttributes([...input.derived, ...clientAttrs]);
  attributes = setAttribute(attributes, 'Unique Identifier', ttlv.textString(Tag.UniqueIdentifier, uid));
  attributes = setAttribute(attributes, 'Object Type', ttlv.enumeration(Tag.ObjectType, input.objectType));
  attributes = setAttribute(attributes, 'Initial Date', ttlv.dateTime(Tag.InitialDate, now));
  attributes = setAttribute(attributes, 'Last Change Date', ttlv.dateTime(Tag.LastChangeDate, now));
  if (input.originalCreation) {
    attributes = setAttribute(attributes, 'Original Creation Date', ttlv.dateTime(Tag.OriginalCreationDate, now));
  }
  // Opaque objects have no lifecycle of use, but every object has a State attribute.
  const state = effectiveState(State.PreActive, attributes, ctx.clock.now());
  attributes = setAttribute(attributes, 'State', ttlv.enumeration(Tag.State, state));
  const protectedMaterial = await protectBody(ctx, uid, input.body);
  await ctx.store.insert({ uid, objectType: input.objectType, state, owner: ctx.client.name, attributes, protectedMaterial });
  ctx.idPlaceholder = uid;
  ctx.touched.push(uid);
  return { uid, attributes };
}

export function isKnownObjectType(t: number): boolean {
  return Object.values(ObjectType).includes(t as (typeof ObjectType)[keyof typeof ObjectType]);
}
