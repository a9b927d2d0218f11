/**
 * Import (1.4+): an object with the Unique Identifier and the attributes it had elsewhere (an
 * Export from another server). Per the spec the attribute rules on who sets what do not apply:
 * every attribute takes the supplied value. An existing object is replaced only when Replace
 * Existing is true.
 *
 * Import names the Unique Identifier itself, so it would tell whoever may call it which identifiers
 * exist: it is an administrator operation (as is Export, which hands out an object with all its
 * attributes). Anyone else is refused before the identifier is looked at.
 */
import { ItemType, ttlv } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { Operation, State } from '../spec/generated/enums';
import { readRequestAttributes } from '../kmip/attributes';
import { opt, req } from '../kmip/tree';
import { effectiveState } from '../lifecycle/effective-state';
import { isStateValue, type StateValue } from '../lifecycle/state-machine';
import type { OperationHandler } from '../objects/context';
import { KmipError, Reason } from '../kmip/errors';
import { noteAdministratorOverride, protectBody, requireAdministrator, setAttribute, toStoredAttributes, withState } from '../objects/managed-object';
import { readRegisteredObject } from '../objects/registered-object';
import { withholdDigest } from '../objects/digest-index';

export const importHandler: OperationHandler = {
  operation: Operation.Import,
  async handle(payload, ctx) {
    requireAdministrator(ctx, 'Import');
    const uid = req.text(payload, Tag.UniqueIdentifier);
    if (uid.length === 0 || uid.length > 256) throw new KmipError(Reason.InvalidField, 'Unique Identifier must be 1 to 256 characters');
    const objectType = req.enumeration(payload, Tag.ObjectType);
    const replace = opt.boolean(payload, Tag.ReplaceExisting) ?? false;
    const { body } = readRegisteredObject(payload, objectType, ctx);
    const existing = await ctx.store.get(uid);
    if (existing && existing.owner !== ctx.client.name) noteAdministratorOverride(ctx, existing.owner);
    if (existing) {
      if (!replace) throw new KmipError(Reason.ObjectAlreadyExists, `object ${uid} already exists`);
      if (existing.objectType !== objectType) throw new KmipError(Reason.InvalidObjectType, 'the existing object is of another type');
    }
    let attributes = toStoredAttributes(readRequestAttributes(payload));
    attributes = setAttribute(attributes, 'Unique Identifier', ttlv.textString(Tag.UniqueIdentifier, uid));
    attributes = setAttribute(attributes, 'Object Type', ttlv.enumeration(Tag.ObjectType, objectType));
    const given = attributes.find((a) => a.name === 'State')?.value;
    const stated = given?.type === ItemType.Enumeration && isStateValue(given.value) ? (given.value as StateValue) : State.PreActive;
    const initial = withState(attributes, effectiveState(stated, attributes, ctx.clock.now()));
    const state = initial.state;
    // A secret object's Digest is the server's to compute from the material, and not stored (digest-index.ts).
    const withheld = await withholdDigest(ctx.keys, objectType, body, initial.attributes);
    const protectedMaterial = await protectBody(ctx, uid, body);
    if (existing) await ctx.store.update(uid, { state, ...withheld, sealedDigest: null, protectedMaterial, expectedRevision: existing.revision });
    else await ctx.store.insert({ uid, objectType, state, owner: ctx.client.name, ...withheld, protectedMaterial });
    ctx.idPlaceholder = uid;
    ctx.touched.push(uid);
    return [ttlv.textString(Tag.UniqueIdentifier, uid)];
  },
};
