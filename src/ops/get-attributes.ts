/**
 * Get Attributes: the named attributes (all, when none is named; kmip/response-adapter.ts writes them in the client's version's form). With
 * none named, the compatibility profile may narrow "all" to what its clients can read (profiles.ts).
 */
import { ttlv } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { Operation } from '../spec/generated/enums';
import { canonicalAttributeList, isCustomName, readAttributeReference } from '../kmip/attributes';
import type { OperationHandler } from '../objects/context';
import { asKmipAttributes, loadObject, requestedUid } from '../objects/managed-object';
import { attributesWithDigest } from '../objects/digest-index';

export const getAttributesHandler: OperationHandler = {
  operation: Operation.GetAttributes,
  async handle(payload, ctx) {
    const uid = requestedUid(payload, ctx);
    const rec = await loadObject(ctx, uid);
    const refs = payload.value
      .filter((c) => c.tag === Tag.AttributeName || c.tag === Tag.AttributeReference)
      .map(readAttributeReference);
    const readable = ctx.compat.allAttributesReadable;
    // A secret object's Digest is computed from its material (one HSM call), only when it is asked for.
    const wantsDigest = refs.length > 0 ? refs.includes('Digest') : readable === null || readable.has('Digest');
    const all = asKmipAttributes(wantsDigest ? await attributesWithDigest(ctx, rec) : rec.attributes);
    const wanted =
      refs.length > 0 ? all.filter((a) => refs.includes(a.name)) : readable ? all.filter((a) => readable.has(a.name) || isCustomName(a.name)) : all;
    return [ttlv.textString(Tag.UniqueIdentifier, uid), canonicalAttributeList(wanted)];
  },
};
