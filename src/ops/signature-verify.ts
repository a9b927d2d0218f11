/** Signature Verify: Valid or Invalid for a signature over Data, with a public key. */
import { ttlv } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { Operation, ValidityIndicator } from '../spec/generated/enums';
import { opt, req } from '../kmip/tree';
import { KmipError, Reason } from '../server/errors';
import type { OperationHandler } from '../server/registry';
import { keyObjectFromBlock } from '../crypto/asymmetric-keys';
import { effectiveParams } from '../crypto/params';
import { resolveSignature, verifyData } from '../crypto/signature';
import { rejectParts } from './crypto-parts';
import { loadKeyFor } from './crypto-key';

export const signatureVerifyHandler: OperationHandler = {
  operation: Operation.SignatureVerify,
  async handle(payload, ctx) {
    rejectParts(payload, 'Signature Verify');
    if (opt.bytes(payload, Tag.DigestedData) !== undefined && opt.bytes(payload, Tag.Data) === undefined) {
      throw new KmipError(Reason.FeatureNotSupported, 'verifying over Digested Data is not supported; send the Data');
    }
    const key = await loadKeyFor(ctx, payload, 'verify');
    const data = req.bytes(payload, Tag.Data);
    const signature = req.bytes(payload, Tag.SignatureData);
    const keyObject = keyObjectFromBlock(key.block, 'public');
    const setup = resolveSignature(keyObject, effectiveParams(payload, key.rec.attributes), 'verify');
    const valid = verifyData(keyObject, setup, data, signature);
    return [
      ttlv.textString(Tag.UniqueIdentifier, key.uid),
      ttlv.enumeration(Tag.ValidityIndicator, valid ? ValidityIndicator.Valid : ValidityIndicator.Invalid),
    ];
  },
};
