/**
 * Delete Attribute: 1.x names the instance by Attribute Name and Index (0 when absent) and gets
 * the deleted instance back; 2.x names one instance by its Current Attribute value, or every
 * instance by Attribute Reference.
 */
import type { TtlvItem, TtlvStructure } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { Operation } from '../spec/generated/enums';
import { readAttributeReference } from '../kmip/attributes';
import { child, opt, req } from '../kmip/tree';
import type { OperationHandler } from '../objects/context';
import type { OpContext } from '../objects/context';
import { KmipError, Reason } from '../kmip/errors';
import type { ManagedObjectRecord, StoredAttribute } from '../store/object-store';
import { checkClientChange } from '../objects/attribute-policy';
import {
  attributeNotFound,
  attributeResponse,
  commitAttributes,
  instanceAt,
  instanceEqualTo,
  instancesOf,
  loadForChange,
  readCurrentAttribute,
  readReference,
} from '../objects/attribute-edit';
import { nowSeconds } from '../objects/managed-object';

/** The instances the request deletes. */
function selected(payload: TtlvStructure, ctx: OpContext, rec: ManagedObjectRecord): StoredAttribute[] {
  if (ctx.version.major < 2) {
    req.text(payload, Tag.AttributeName); // Missing Data when absent
    const name = readAttributeReference(child(payload, Tag.AttributeName) as TtlvItem);
    return [instanceAt(rec, name, opt.integer(payload, Tag.AttributeIndex) ?? 0)];
  }
  const current = readCurrentAttribute(payload);
  if (current) return [instanceEqualTo(rec, current)];
  const name = readReference(payload);
  if (name === undefined) throw new KmipError(Reason.MissingData, 'name the attribute by Current Attribute or Attribute Reference');
  const all = instancesOf(rec, name);
  if (all.length === 0) throw attributeNotFound(name);
  return all;
}

export const deleteAttributeHandler: OperationHandler = {
  operation: Operation.DeleteAttribute,
  async handle(payload, ctx) {
    const rec = await loadForChange(payload, ctx);
    const gone = selected(payload, ctx, rec);
    const first = gone[0] as StoredAttribute;
    checkClientChange('delete', first.name, rec, ctx.version, nowSeconds(ctx));
    const kept = rec.attributes.filter((a) => !gone.some((g) => g.name === a.name && g.index === a.index));
    await commitAttributes(ctx, rec, kept);
    return attributeResponse(rec.uid, first);
  },
};
