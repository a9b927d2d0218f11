/**
 * Cancel: cancel an outstanding asynchronous operation. This server answers every request
 * synchronously, so no Asynchronous Correlation Value ever names a pending or recently completed
 * operation of its own: the Cancellation Result is Unavailable, the value the spec gives for "the
 * specified correlation value did not match any recently pending or completed asynchronous
 * operations". The request's correlation value is echoed, as the response requires.
 */
import { ttlv } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { CancellationResult, Operation } from '../spec/generated/enums';
import { req } from '../kmip/tree';
import type { OperationHandler } from '../server/registry';

export const cancelHandler: OperationHandler = {
  operation: Operation.Cancel,
  async handle(payload) {
    const correlation = req.bytes(payload, Tag.AsynchronousCorrelationValue);
    return [
      ttlv.byteString(Tag.AsynchronousCorrelationValue, Buffer.from(correlation)),
      ttlv.enumeration(Tag.CancellationResult, CancellationResult.Unavailable),
    ];
  },
};
