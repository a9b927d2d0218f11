/**
 * Get Attribute List: references to the attributes an object has (kmip/response-adapter.ts names
 * them as the client's version does and leaves out those it lacks).
 */
import { ttlv } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { Operation } from '../spec/generated/enums';
import { encodeAttributeReference } from '../kmip/attributes';
import { CANONICAL_VERSION } from '../kmip/canonical';
import type { OperationHandler } from '../objects/context';
import { asKmipAttributes, loadObject, requestedUid } from '../objects/managed-object';
import { attributesForListing } from '../objects/digest-index';

export const getAttributeListHandler: OperationHandler = {
  operation: Operation.GetAttributeList,
  async handle(payload, ctx) {
    const uid = requestedUid(payload, ctx);
    const rec = await loadObject(ctx, uid);
    const names = [...new Set(asKmipAttributes(attributesForListing(rec)).map((a) => a.name))];
    return [ttlv.textString(Tag.UniqueIdentifier, uid), ...names.map((n) => encodeAttributeReference(n, CANONICAL_VERSION))];
  },
};
