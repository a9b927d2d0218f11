/** Get Attribute List: the names (1.x) or references (2.x) of the attributes an object has. */
import { ttlv } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { Operation } from '../spec/generated/enums';
import { encodeAttributeReference, visibleInVersion } from '../kmip/attributes';
import type { OperationHandler } from '../objects/context';
import { asKmipAttributes, loadObject, requestedUid } from '../objects/managed-object';
import { attributesForListing } from '../objects/digest-index';

export const getAttributeListHandler: OperationHandler = {
  operation: Operation.GetAttributeList,
  async handle(payload, ctx) {
    const uid = requestedUid(payload, ctx);
    const rec = await loadObject(ctx, uid);
    const names = [...new Set(asKmipAttributes(attributesForListing(rec)).filter((a) => visibleInVersion(a, ctx.version)).map((a) => a.name))];
    return [ttlv.textString(Tag.UniqueIdentifier, uid), ...names.map((n) => encodeAttributeReference(n, ctx.version))];
  },
};
