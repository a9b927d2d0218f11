/**
 * Export (1.4+): like Get, the object in the requested format and wrapping, and with it all of
 * its attributes, so another server can Import it as it is. An administrator operation (see
 * import.ts).
 */
import { ttlv } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { Operation } from '../spec/generated/enums';
import { canonicalAttributeList } from '../kmip/attributes';
import type { OperationHandler } from '../objects/context';
import { bodyForClient, markServed } from '../objects/served-object';
import { asKmipAttributes, loadObject, requestedUid, requireAdministrator } from '../objects/managed-object';
import { attributesWithDigest } from '../objects/digest-index';

export const exportHandler: OperationHandler = {
  operation: Operation.Export,
  async handle(payload, ctx) {
    requireAdministrator(ctx, 'Export');
    const uid = requestedUid(payload, ctx);
    const rec = await loadObject(ctx, uid);
    const body = await bodyForClient(ctx, rec, payload);
    markServed(ctx, rec);
    const attrs = asKmipAttributes(await attributesWithDigest(ctx, rec));
    return [
      ttlv.enumeration(Tag.ObjectType, rec.objectType),
      ttlv.textString(Tag.UniqueIdentifier, uid),
      canonicalAttributeList(attrs),
      body,
    ];
  },
};
