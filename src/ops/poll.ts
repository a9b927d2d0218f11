/**
 * Poll: the status of an asynchronous operation. This server answers every request synchronously
 * (Query reports Asynchronous Capability false and it never returns Operation Pending), so no
 * Asynchronous Correlation Value names an outstanding operation: Poll answers as the spec says for
 * that case, Item Not Found in 1.x ("No outstanding operation with the specified Asynchronous
 * Correlation Value exists") and Invalid Asynchronous Correlation Value in 2.x.
 */
import { Tag } from '../spec/generated/tags';
import { Operation } from '../spec/generated/enums';
import { req } from '../kmip/tree';
import { Reason } from '../server/errors';
import type { OperationHandler } from '../server/registry';
import { versionedError } from './managed-object';

export const pollHandler: OperationHandler = {
  operation: Operation.Poll,
  async handle(payload, ctx) {
    req.bytes(payload, Tag.AsynchronousCorrelationValue);
    throw versionedError(
      ctx,
      [Reason.InvalidAsynchronousCorrelationValue, Reason.ItemNotFound],
      'no asynchronous operation is outstanding with this Asynchronous Correlation Value (this server answers every request synchronously)',
    );
  },
};
