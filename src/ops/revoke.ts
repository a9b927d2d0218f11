/**
 * Revoke: a compromise reason moves the object to Compromised (or Destroyed Compromised) and
 * records the Compromise Date; any other reason deactivates it and records the Deactivation Date.
 */
import { ttlv, type TtlvItem } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { Operation, RevocationReasonCode } from '../spec/generated/enums';
import type { KmipAttribute } from '../kmip/attributes';
import { opt, req } from '../kmip/tree';
import type { OperationHandler } from '../objects/context';
import { applyEvent, loadObject, nowSeconds, requestedUid } from '../objects/managed-object';

const COMPROMISE_CODES: ReadonlySet<number> = new Set([RevocationReasonCode.KeyCompromise, RevocationReasonCode.CACompromise]);

export const revokeHandler: OperationHandler = {
  operation: Operation.Revoke,
  async handle(payload, ctx) {
    const uid = requestedUid(payload, ctx);
    const reason = req.structure(payload, Tag.RevocationReason);
    const code = req.enumeration(reason, Tag.RevocationReasonCode);
    const rec = await loadObject(ctx, uid);
    const now = nowSeconds(ctx);
    const extra: KmipAttribute[] = [{ name: 'Revocation Reason', value: reason }];
    if (COMPROMISE_CODES.has(code)) {
      const occurred: TtlvItem = ttlv.dateTime(
        Tag.CompromiseOccurrenceDate,
        opt.dateTime(payload, Tag.CompromiseOccurrenceDate) ?? now,
      );
      extra.push({ name: 'Compromise Date', value: ttlv.dateTime(Tag.CompromiseDate, now) });
      extra.push({ name: 'Compromise Occurrence Date', value: occurred });
      await applyEvent(ctx, rec, 'revokeCompromise', extra);
    } else {
      extra.push({ name: 'Deactivation Date', value: ttlv.dateTime(Tag.DeactivationDate, now) });
      await applyEvent(ctx, rec, 'revoke', extra);
    }
    return [ttlv.textString(Tag.UniqueIdentifier, uid)];
  },
};
