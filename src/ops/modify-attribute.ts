/**
 * Modify Attribute: a new value for an existing instance. 1.x names the instance by Attribute
 * Index (0 when absent); 2.x by its Current Attribute value, which may be left out when the
 * object has just one instance.
 */
import { Operation } from '../spec/generated/enums';
import type { OperationHandler } from '../objects/context';
import { KmipError, Reason } from '../kmip/errors';
import type { StoredAttribute } from '../store/object-store';
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
  readNewAttribute,
  requestedIndex,
  without,
} from '../objects/attribute-edit';
import { checkNameUnique, nowSeconds } from '../objects/managed-object';
import { correctedUsageLimits } from '../objects/usage-limits';

export const modifyAttributeHandler: OperationHandler = {
  operation: Operation.ModifyAttribute,
  async handle(payload, ctx) {
    const rec = await loadForChange(payload, ctx);
    const next = readNewAttribute(payload);
    const index = requestedIndex(payload);
    let target: StoredAttribute;
    if (index !== undefined) {
      target = instanceAt(rec, next.name, index);
    } else {
      const current = readCurrentAttribute(payload);
      if (current && current.name !== next.name) {
        throw new KmipError(Reason.InvalidField, 'Current Attribute and New Attribute name different attributes');
      }
      if (current) target = instanceEqualTo(rec, current);
      else {
        const all = instancesOf(rec, next.name);
        if (all.length === 0) throw attributeNotFound(next.name);
        if (all.length > 1) throw new KmipError(Reason.MultiValuedAttribute, `${next.name} has several instances: name one with Current Attribute`);
        target = all[0] as StoredAttribute;
      }
    }
    checkClientChange('modify', next.name, rec, undefined, nowSeconds(ctx));
    const remaining = without(rec.attributes, target);
    if (next.name === 'Name') await checkNameUnique(ctx, rec.owner, next.value, { uid: rec.uid, remaining });
    const value = next.name === 'Usage Limits' ? correctedUsageLimits(next.value, target.value) : next.value;
    const changed: StoredAttribute = { name: target.name, index: target.index, value };
    await commitAttributes(ctx, rec, [...remaining, changed]);
    return attributeResponse(rec.uid, changed);
  },
};
