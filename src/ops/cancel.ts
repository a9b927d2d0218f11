/**
 * Cancel: withdraw an operation answered Operation Pending (src/server/pending-operations.ts).
 * Canceled while it waits to run; Unable to Cancel once it runs (a key being generated is finished
 * and kept); Completed or Failed once it has finished; Unavailable for a value that names no
 * operation of this caller, the value the spec gives for "the specified correlation value did not
 * match any recently pending or completed asynchronous operations". A request waiting for a second
 * officer's approval is withdrawn until it runs. The request's correlation value
 * is echoed, as the response requires.
 */
import { ttlv } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { CancellationResult, Operation } from '../spec/generated/enums';
import { req } from '../kmip/tree';
import type { OperationHandler } from '../objects/context';

export const cancelHandler: OperationHandler = {
  operation: Operation.Cancel,
  async handle(payload, ctx) {
    const correlation = req.bytes(payload, Tag.AsynchronousCorrelationValue);
    const inMemory = ctx.pending?.cancel(ctx.client.name, correlation) ?? CancellationResult.Unavailable;
    // Not one of this process's: perhaps a request waiting for approval (dual control), kept in the store.
    const result = inMemory !== CancellationResult.Unavailable ? inMemory : ((await ctx.approvals?.cancel(ctx.client.name, correlation)) ?? CancellationResult.Unavailable);
    return [ttlv.byteString(Tag.AsynchronousCorrelationValue, Buffer.from(correlation)), ttlv.enumeration(Tag.CancellationResult, result)];
  },
};
