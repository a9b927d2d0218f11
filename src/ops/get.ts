/** Get: the object, in the stored format or a requested Key Format Type where we can convert. */
import { ttlv } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { Operation } from '../spec/generated/enums';
import type { OperationHandler } from '../objects/context';
import { loadObject, requestedUid } from '../objects/managed-object';
import { bodyForClient, markServed } from '../objects/served-object';
export const getHandler: OperationHandler = {
  operation: Operation.Get,
  async handle(payload, ctx) {
    const uid = requestedUid(payload, ctx);
    const rec = await loadObject(ctx, uid);
    const body = await bodyForClient(ctx, rec, payload);
    markServed(ctx, rec);
    return [ttlv.enumeration(Tag.ObjectType, rec.objectType), ttlv.textString(Tag.UniqueIdentifier, uid), body];
  },
};
