/**
 * Delete Attribute: 1.x names the instance by Attribute Name and Index (0 when absent) and gets
 * the deleted instance back; 2.x names one instance by its Current Attribute value, or every
 * instance by Attribute Reference.
 */
import type { TtlvItem, TtlvStructure } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { Operation } from '../spec/generated/enums';
import { readAttributeReference } from '../kmip/attributes';
import { child, req } from '../kmip/tree';
import type { OperationHandler } from '../objects/context';
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
  requestedIndex,
} from '../objects/attribute-edit';
import { nowSeconds } from '../objects/managed-object';

/** The instances the request deletes. */
function selected(payload: TtlvStructure, rec: ManagedObjectRecord): StoredAttribute[] {
  const index = requestedIndex(payload);
  if (index !== undefined) {
    req.text(payload, Tag.AttributeName); // Missing Data when absent
    const name = readAttributeReference(child(payload, Tag.AttributeName) as TtlvItem);
    return [instanceAt(rec, name, index)];
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
    const gone = selected(payload, rec);
    const first = gone[0] as StoredAttribute;
    checkClientChange('delete', first.name, rec, undefined, nowSeconds(ctx));
    const kept = rec.attributes.filter((a) => !gone.some((g) => g.name === a.name && g.index === a.index));
    await commitAttributes(ctx, rec, kept);
    return attributeResponse(rec.uid, first);
  },
};
