/**
 * Add Attribute: a new instance of an attribute. A single-valued attribute the object already
 * has is changed with Modify (or 2.x Set) Attribute, not added again.
 */
import { Operation } from '../spec/generated/enums';
import type { OperationHandler } from '../objects/context';
import { KmipError, Reason } from '../kmip/errors';
import { checkClientChange, isMultiValued } from '../objects/attribute-policy';
import { attributeResponse, commitAttributes, instancesOf, loadForChange, readNewAttribute } from '../objects/attribute-edit';
import { addAttributeInstance, checkNameUnique, nowSeconds } from '../objects/managed-object';
import { initialUsageLimits } from '../objects/usage-limits';

export const addAttributeHandler: OperationHandler = {
  operation: Operation.AddAttribute,
  async handle(payload, ctx) {
    const rec = await loadForChange(payload, ctx);
    // 1.x: the request carries no Attribute Index; the server assigns the next one.
    const { name, value: given } = readNewAttribute(payload);
    const value = name === 'Usage Limits' ? initialUsageLimits(given) : given;
    checkClientChange('add', name, rec, undefined, nowSeconds(ctx));
    if (!isMultiValued(name) && instancesOf(rec, name).length > 0) {
      throw new KmipError(Reason.AttributeSingleValued, `${name} takes one value and the object has it`);
    }
    if (name === 'Name') await checkNameUnique(ctx, rec.owner, value, { uid: rec.uid, remaining: rec.attributes });
    const attributes = addAttributeInstance(rec.attributes, name, value);
    await commitAttributes(ctx, rec, attributes);
    return attributeResponse(rec.uid, attributes[attributes.length - 1]);
  },
};
