/** Sign: a signature over Data with a private key (RSA PKCS#1 v1.5 / PSS, ECDSA, EdDSA, DSA). */
import { ttlv } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { Operation } from '../spec/generated/enums';
import { opt, req } from '../kmip/tree';
import { KmipError, Reason } from '../server/errors';
import type { OperationHandler } from '../server/registry';
import { keyObjectFromBlock } from '../crypto/asymmetric-keys';
import { effectiveParams } from '../crypto/params';
import { resolveSignature, signData } from '../crypto/signature';
import { rejectParts } from './crypto-parts';
import { consumeUsage, loadKeyFor } from './crypto-key';

export const signHandler: OperationHandler = {
  operation: Operation.Sign,
  async handle(payload, ctx) {
    rejectParts(payload, 'Sign');
    if (opt.bytes(payload, Tag.DigestedData) !== undefined && opt.bytes(payload, Tag.Data) === undefined) {
      throw new KmipError(Reason.FeatureNotSupported, 'signing Digested Data is not supported; send the Data');
    }
    const key = await loadKeyFor(ctx, payload, 'sign');
    const data = req.bytes(payload, Tag.Data);
    const keyObject = keyObjectFromBlock(key.block, 'private');
    const setup = resolveSignature(keyObject, effectiveParams(payload, key.rec.attributes), 'sign');
    const signature = signData(keyObject, setup, data);
    await consumeUsage(ctx, key.uid, data.length);
    return [ttlv.textString(Tag.UniqueIdentifier, key.uid), ttlv.byteString(Tag.SignatureData, signature)];
  },
};
