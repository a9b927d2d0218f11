/**
 * Set Attribute (2.x): gives a single-instance attribute its value, adding it when the object
 * has none and modifying it when it has one. An attribute with several instances is refused.
 */
import { ttlv } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { Operation } from '../spec/generated/enums';
import type { OperationHandler } from '../objects/context';
import { KmipError, Reason } from '../kmip/errors';
import { checkClientChange } from '../objects/attribute-policy';
import { commitAttributes, instancesOf, loadForChange, readNewAttribute } from '../objects/attribute-edit';
import { checkNameUnique, nowSeconds, setAttribute } from '../objects/managed-object';
import { correctedUsageLimits } from '../objects/usage-limits';

export const setAttributeHandler: OperationHandler = {
  operation: Operation.SetAttribute,
  async handle(payload, ctx) {
    const rec = await loadForChange(payload, ctx);
    const { name, value: given } = readNewAttribute(payload);
    const existing = instancesOf(rec, name);
    const value = name === 'Usage Limits' ? correctedUsageLimits(given, existing[0]?.value) : given;
    if (existing.length > 1) throw new KmipError(Reason.MultiValuedAttribute, `${name} has several instances: use Modify Attribute`);
    checkClientChange('set', name, rec, undefined, nowSeconds(ctx));
    const remaining = rec.attributes.filter((a) => a.name !== name);
    if (name === 'Name') await checkNameUnique(ctx, rec.owner, value, { uid: rec.uid, remaining });
    await commitAttributes(ctx, rec, setAttribute(remaining, name, value));
    return [ttlv.textString(Tag.UniqueIdentifier, rec.uid)];
  },
};
