/** Activate: Pre-Active to Active; Activation Date becomes now. */
import { ttlv } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { Operation } from '../spec/generated/enums';
import type { OperationHandler } from '../objects/context';
import { applyEvent, loadObject, nowSeconds, requestedUid } from '../objects/managed-object';

export const activateHandler: OperationHandler = {
  operation: Operation.Activate,
  async handle(payload, ctx) {
    const uid = requestedUid(payload, ctx);
    const rec = await loadObject(ctx, uid);
    await applyEvent(ctx, rec, 'activate', [
      { name: 'Activation Date', value: ttlv.dateTime(Tag.ActivationDate, nowSeconds(ctx)) },
    ]);
    return [ttlv.textString(Tag.UniqueIdentifier, uid)];
  },
};
