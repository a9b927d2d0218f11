/**
 * Log (2.x): the client asks the server to place a message in its log. The message goes into the
 * item's audit record (`clientMessage`), beside who sent it. It is client-controlled text: it is
 * length-limited here, written as a JSON string (it cannot forge a line of its own), and stays out
 * of result messages.
 */
import { Tag } from '../spec/generated/tags';
import { Operation } from '../spec/generated/enums';
import { req } from '../kmip/tree';
import type { OperationHandler } from '../objects/context';
import { KmipError, Reason } from '../kmip/errors';

/** Longer messages are refused rather than truncated, so the log never holds a partial one. */
const MAX_LOG_MESSAGE_CHARS = 4096;

export const logHandler: OperationHandler = {
  operation: Operation.Log,
  async handle(payload, ctx) {
    const message = req.text(payload, Tag.LogMessage);
    if (message.length > MAX_LOG_MESSAGE_CHARS) {
      throw new KmipError(Reason.InvalidField, `Log Message is longer than ${MAX_LOG_MESSAGE_CHARS} characters`);
    }
    ctx.auditDetail.clientMessage = message;
    return [];
  },
};
