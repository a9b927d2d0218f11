/** MAC: HMAC (SHA-1/224/256/384/512, SHA3, MD5) or CMAC (AES, 3DES) over Data with a symmetric key. */
import { ttlv } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { Operation } from '../spec/generated/enums';
import { req } from '../kmip/tree';
import { KmipError, Reason } from '../server/errors';
import type { OperationHandler } from '../server/registry';
import { computeMac, resolveMac } from '../crypto/mac';
import { effectiveParams } from '../crypto/params';
import { rejectParts } from './crypto-parts';
import { consumeUsage, loadKeyFor } from './crypto-key';
import { rawKeyMaterial } from './key-block';

export const macHandler: OperationHandler = {
  operation: Operation.MAC,
  async handle(payload, ctx) {
    rejectParts(payload, 'MAC');
    const key = await loadKeyFor(ctx, payload, 'macGenerate');
    const data = req.bytes(payload, Tag.Data);
    const material = rawKeyMaterial(key.block);
    if (!material) throw new KmipError(Reason.KeyFormatTypeNotSupported, 'the key material is not in a raw or transparent symmetric form');
    const mac = computeMac(resolveMac(effectiveParams(payload, key.rec.attributes), key.algorithm), material, data);
    await consumeUsage(ctx, key.uid, data.length);
    return [ttlv.textString(Tag.UniqueIdentifier, key.uid), ttlv.byteString(Tag.MACData, mac)];
  },
};
