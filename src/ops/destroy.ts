/** Destroy: the key material goes; the object's metadata stays, with its Destroy Date. */
import { ttlv } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { Operation } from '../spec/generated/enums';
import type { OperationHandler } from '../server/registry';
import { applyEvent, loadObject, nowSeconds, requestedUid } from './managed-object';

export const destroyHandler: OperationHandler = {
  operation: Operation.Destroy,
  async handle(payload, ctx) {
    const uid = requestedUid(payload, ctx);
    const rec = await loadObject(ctx, uid);
    await applyEvent(ctx, rec, 'destroy', [{ name: 'Destroy Date', value: ttlv.dateTime(Tag.DestroyDate, nowSeconds(ctx)) }], true);
    return [ttlv.textString(Tag.UniqueIdentifier, uid)];
  },
};
