/**
 * Poll: the outcome of an operation answered Operation Pending (src/server/pending-operations.ts).
 * While it runs, Poll answers Operation Pending again with the same Asynchronous Correlation Value;
 * once it has finished, Poll answers with the original operation's result: its status, reason,
 * message and payload. A value that names no operation of this caller (never issued, forgotten,
 * another identity's, or the server restarted) answers as the spec says for that case: Item Not Found
 * in 1.x ("No outstanding operation with the specified Asynchronous Correlation Value exists") and
 * Invalid Asynchronous Correlation Value in 2.x. A request that waited for a second officer's
 * approval (dual control) is found in the store: Operation Pending until decided, then its outcome.
 */
import { Tag } from '../spec/generated/tags';
import { Operation, ResultStatus } from '../spec/generated/enums';
import { req } from '../kmip/tree';
import { KmipError, Reason } from '../kmip/errors';
import type { OperationHandler } from '../objects/context';
import { AnswerAs } from '../objects/pending-operations';

export const pollHandler: OperationHandler = {
  operation: Operation.Poll,
  async handle(payload, ctx) {
    const value = req.bytes(payload, Tag.AsynchronousCorrelationValue);
    const answer = ctx.pending?.poll(ctx.client.name, value) ?? (await ctx.approvals?.poll(ctx.client, value));
    if (answer === undefined) {
      throw new KmipError(Reason.InvalidAsynchronousCorrelationValue, 'no asynchronous operation is outstanding with this Asynchronous Correlation Value', undefined, Reason.ItemNotFound);
    }
    if (answer.state === 'pending') throw new AnswerAs({ status: ResultStatus.OperationPending }, value);
    if (answer.outcome.status !== ResultStatus.Success) throw new AnswerAs(answer.outcome);
    return [...(answer.outcome.payload ?? [])];
  },
};
