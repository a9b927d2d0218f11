/** Destroy: the key material goes; the object's metadata stays, with its Destroy Date. */
import { ttlv } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { Operation } from '../spec/generated/enums';
import type { OperationHandler } from '../objects/context';
import { applyEvent, loadObject, nowSeconds, requestedUid } from '../objects/managed-object';
import { sealWithheldDigest } from '../objects/digest-index';
import { transition, type StateValue } from '../lifecycle/state-machine';

export const destroyHandler: OperationHandler = {
  operation: Operation.Destroy,
  async handle(payload, ctx) {
    const uid = requestedUid(payload, ctx);
    const rec = await loadObject(ctx, uid);
    transition(rec.state as StateValue, 'destroy'); // refused here, before the HSM is asked for anything
    const extra = [{ name: 'Destroy Date', value: ttlv.dateTime(Tag.DestroyDate, nowSeconds(ctx)) }];
    await applyEvent(ctx, rec, 'destroy', extra, await sealWithheldDigest(ctx, rec));
    return [ttlv.textString(Tag.UniqueIdentifier, uid)];
  },
};
