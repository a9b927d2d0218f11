/** Get Attributes: the named attributes (all, when none is named), in the client's version's form. */
import { ttlv } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { Operation } from '../spec/generated/enums';
import { encodeAttributeList, readAttributeReference } from '../kmip/attributes';
import type { OperationHandler } from '../server/registry';
import { asKmipAttributes, loadObject, requestedUid } from './managed-object';

export const getAttributesHandler: OperationHandler = {
  operation: Operation.GetAttributes,
  async handle(payload, ctx) {
    const uid = requestedUid(payload, ctx);
    const rec = await loadObject(ctx, uid);
    const refs = payload.value
      .filter((c) => c.tag === Tag.AttributeName || c.tag === Tag.AttributeReference)
      .map(readAttributeReference);
    const all = asKmipAttributes(rec.attributes);
    const wanted = refs.length === 0 ? all : all.filter((a) => refs.includes(a.name));
    return [ttlv.textString(Tag.UniqueIdentifier, uid), ...encodeAttributeList(wanted, ctx.version)];
  },
};
