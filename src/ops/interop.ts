/**
 * Interop (2.x): a test harness marks the Begin, End or Reset of an interoperability test case.
 * The server has nothing to set up or tear down per case, so it acknowledges each marker; the
 * per-item audit record keeps the trace.
 */
import { Tag } from '../spec/generated/tags';
import { InteropFunction, Operation } from '../spec/generated/enums';
import { opt, req } from '../kmip/tree';
import type { OperationHandler } from '../objects/context';
import { KmipError, Reason } from '../kmip/errors';

const FUNCTIONS: ReadonlySet<number> = new Set(Object.values(InteropFunction));

export const interopHandler: OperationHandler = {
  operation: Operation.Interop,
  async handle(payload) {
    const fn = req.enumeration(payload, Tag.InteropFunction);
    if (!FUNCTIONS.has(fn)) throw new KmipError(Reason.InvalidField, 'unknown Interop Function');
    opt.text(payload, Tag.InteropIdentifier); // type-checked when present
    return [];
  },
};
