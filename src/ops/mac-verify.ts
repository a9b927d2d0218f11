/** MAC Verify: Valid when the MAC over Data matches MAC Data exactly (compared in constant time). */
import { timingSafeEqual } from 'node:crypto';
import { ttlv } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { Operation, ValidityIndicator } from '../spec/generated/enums';
import { req } from '../kmip/tree';
import { KmipError, Reason } from '../server/errors';
import type { OperationHandler } from '../server/registry';
import { computeMac, resolveMac } from '../crypto/mac';
import { effectiveParams } from '../crypto/params';
import { rejectParts } from './crypto-parts';
import { loadKeyFor } from './crypto-key';
import { rawKeyMaterial } from './key-block';

export const macVerifyHandler: OperationHandler = {
  operation: Operation.MACVerify,
  async handle(payload, ctx) {
    rejectParts(payload, 'MAC Verify');
    const key = await loadKeyFor(ctx, payload, 'macVerify');
    const data = req.bytes(payload, Tag.Data);
    const given = req.bytes(payload, Tag.MACData);
    const material = rawKeyMaterial(key.block);
    if (!material) throw new KmipError(Reason.KeyFormatTypeNotSupported, 'the key material is not in a raw or transparent symmetric form');
    const mac = computeMac(resolveMac(effectiveParams(payload, key.rec.attributes), key.algorithm), material, data);
    const valid = mac.length === given.length && timingSafeEqual(mac, given);
    mac.fill(0);
    return [
      ttlv.textString(Tag.UniqueIdentifier, key.uid),
      ttlv.enumeration(Tag.ValidityIndicator, valid ? ValidityIndicator.Valid : ValidityIndicator.Invalid),
    ];
  },
};
