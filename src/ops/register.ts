/** Register: a client-supplied object (keys, secret data, opaque objects, certificates, 1.x templates). */
import { ttlv } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { Operation } from '../spec/generated/enums';
import type { OperationHandler } from '../objects/context';
import { registerObject } from '../objects/registered-object';
export const registerHandler: OperationHandler = {
  operation: Operation.Register,
  async handle(payload, ctx) {
    return [ttlv.textString(Tag.UniqueIdentifier, await registerObject(payload, ctx))];
  },
};
