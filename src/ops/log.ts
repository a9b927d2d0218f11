/**
 * Log (2.x): the client asks the server to place a message in its log. The message is
 * client-controlled text: it is length-limited here, and stays out of result messages.
 * OpContext offers handlers no log sink yet, so the message is checked and acknowledged; the
 * batch item's audit record shows the Log operation.
 */
import { Tag } from '../spec/generated/tags';
import { Operation } from '../spec/generated/enums';
import { req } from '../kmip/tree';
import type { OperationHandler } from '../server/registry';
import { KmipError, Reason } from '../server/errors';

/** Longer messages are refused rather than truncated, so the log never holds a partial one. */
export const MAX_LOG_MESSAGE_CHARS = 4096;

export const logHandler: OperationHandler = {
  operation: Operation.Log,
  async handle(payload) {
    const message = req.text(payload, Tag.LogMessage);
    if (message.length > MAX_LOG_MESSAGE_CHARS) {
      throw new KmipError(Reason.InvalidField, `Log Message is longer than ${MAX_LOG_MESSAGE_CHARS} characters`);
    }
    return [];
  },
};
