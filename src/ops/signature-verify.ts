/**
 * Signature Verify: Valid or Invalid for a signature over Data, with a public key, in one request
 * or in parts (Init Indicator, Correlation Value, Final Indicator). The Signature Data comes with
 * the final part, or with the first (whose Data is verified too). Digested Data (1.4 on) comes in
 * one request. Every part passes the key gate again.
 */
import { ttlv, type TtlvItem } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { Operation, ValidityIndicator } from '../spec/generated/enums';
import { opt, req } from '../kmip/tree';
import { KmipError, Reason } from '../kmip/errors';
import type { OperationHandler } from '../objects/context';
import { keyObjectFromBlock } from '../crypto/asymmetric-keys';
import { effectiveParams } from '../crypto/params';
import { resolveSignature, startVerify, verifyData } from '../crypto/signature';
import { advanceStream, closeStream, openSession, resumeSession } from '../crypto/streams';
import { checkDigest, verifyDigest } from '../crypto/digest-signature';
import { badDigest, digestedData, finalValue, readPart, unknownCorrelation } from '../objects/crypto-parts';
import { loadKeyFor } from '../objects/crypto-key';

const EMPTY = new Uint8Array(0);

function validity(uid: string, valid: boolean): TtlvItem[] {
  return [
    ttlv.textString(Tag.UniqueIdentifier, uid),
    ttlv.enumeration(Tag.ValidityIndicator, valid ? ValidityIndicator.Valid : ValidityIndicator.Invalid),
  ];
}

export const signatureVerifyHandler: OperationHandler = {
  operation: Operation.SignatureVerify,
  async handle(payload, ctx) {
    const part = readPart(payload, 'Signature Verify');
    const digested = digestedData(payload, part, ctx, 'Signature Verify');
    const key = await loadKeyFor(ctx, payload, 'verify');
    if (digested !== undefined) {
      const keyObject = keyObjectFromBlock(key.block, 'public');
      const setup = resolveSignature(keyObject, effectiveParams(payload, key.rec.attributes), 'verify');
      const hash = checkDigest(keyObject, setup, digested, badDigest(ctx));
      return validity(key.uid, await verifyDigest(ctx.keys, keyObject, setup, hash, digested, req.bytes(payload, Tag.SignatureData)));
    }
    const data = opt.bytes(payload, Tag.Data) ?? EMPTY;
    const now = ctx.clock.now();

    if (part.kind === 'next') {
      const { run } = resumeSession(part.correlation, ctx.client.name, key.uid, 'verify', now, unknownCorrelation(ctx, 'Signature Verify'));
      if (!part.final) {
        run.verifier.update(data);
        advanceStream(part.correlation, data.length);
        return [ttlv.textString(Tag.UniqueIdentifier, key.uid), ttlv.byteString(Tag.CorrelationValue, Buffer.from(part.correlation))];
      }
      try {
        const signature = finalValue(opt.bytes(payload, Tag.SignatureData) ?? run.expected, 'Signature Data');
        run.verifier.update(data);
        return validity(key.uid, run.verifier.finish(keyObjectFromBlock(key.block, 'public'), signature));
      } finally {
        closeStream(part.correlation);
      }
    }

    const keyObject = keyObjectFromBlock(key.block, 'public');
    const setup = resolveSignature(keyObject, effectiveParams(payload, key.rec.attributes), 'verify');
    if (part.kind === 'start') {
      const verifier = startVerify(setup);
      verifier.update(data);
      const expected = opt.bytes(payload, Tag.SignatureData);
      const id = openSession({ kind: 'verify', verifier, ...(expected ? { expected: Buffer.from(expected) } : {}) }, ctx.client.name, key.uid, now, data.length);
      return [ttlv.textString(Tag.UniqueIdentifier, key.uid), ttlv.byteString(Tag.CorrelationValue, id)];
    }
    if (opt.bytes(payload, Tag.Data) === undefined) throw new KmipError(Reason.MissingData, 'Signature Verify needs the Data');
    return validity(key.uid, verifyData(keyObject, setup, data, req.bytes(payload, Tag.SignatureData)));
  },
};
