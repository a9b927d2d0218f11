/**
 * Sign: a signature over Data with a private key (RSA PKCS#1 v1.5 / PSS, ECDSA, EdDSA, DSA), in one
 * request or in parts; or over Digested Data, a digest the client made (1.4 on, one request; RSA and
 * ECDSA: src/crypto/digest-signature.ts) (Init Indicator, Correlation Value, Final Indicator). Every part passes the
 * key gate again (state, dates, usage mask, Usage Limits for its bytes); the private key itself is
 * read from the store only for the part that signs, and the stream holds just the digest state.
 */
import { ttlv, type TtlvItem } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { Operation } from '../spec/generated/enums';
import { opt } from '../kmip/tree';
import { KmipError, Reason } from '../kmip/errors';
import type { OperationHandler } from '../objects/context';
import { keyObjectFromBlock } from '../crypto/asymmetric-keys';
import { effectiveParams } from '../crypto/params';
import { resolveSignature, signData, startSign } from '../crypto/signature';
import { advanceStream, closeStream, openSession, resumeSession } from '../crypto/streams';
import { checkDigest, signDigest } from '../crypto/digest-signature';
import { badDigest, consumeOrEnd, digestedData, readPart, unknownCorrelation } from '../objects/crypto-parts';
import { consumeUsage, loadKeyFor } from '../objects/crypto-key';

const EMPTY = new Uint8Array(0);

export const signHandler: OperationHandler = {
  operation: Operation.Sign,
  async handle(payload, ctx) {
    const part = readPart(payload, 'Sign');
    const digested = digestedData(payload, part, ctx, 'Sign');
    const key = await loadKeyFor(ctx, payload, 'sign');
    if (digested !== undefined) {
      const keyObject = keyObjectFromBlock(key.block, 'private');
      const setup = resolveSignature(keyObject, effectiveParams(payload, key.rec.attributes), 'sign');
      const hash = checkDigest(keyObject, setup, digested, badDigest(ctx));
      const signature = await signDigest(ctx.keys, keyObject, setup, hash, digested);
      await consumeUsage(ctx, key.uid, digested.length);
      return [ttlv.textString(Tag.UniqueIdentifier, key.uid), ttlv.byteString(Tag.SignatureData, signature)];
    }
    const data = opt.bytes(payload, Tag.Data) ?? EMPTY;
    const out: TtlvItem[] = [ttlv.textString(Tag.UniqueIdentifier, key.uid)];
    const now = ctx.clock.now();

    if (part.kind === 'next') {
      const { run } = resumeSession(part.correlation, ctx.client.name, key.uid, 'sign', now, unknownCorrelation(ctx, 'Sign'));
      if (!part.final) {
        run.signer.update(data);
        advanceStream(part.correlation, data.length);
        await consumeOrEnd(ctx, key.uid, data.length, part.correlation);
        out.push(ttlv.byteString(Tag.CorrelationValue, Buffer.from(part.correlation)));
        return out;
      }
      let signature: Buffer;
      try {
        run.signer.update(data);
        signature = run.signer.finish(keyObjectFromBlock(key.block, 'private'));
      } finally {
        // Closing disposes of any buffered data, so only once the signature is made.
        closeStream(part.correlation);
      }
      await consumeUsage(ctx, key.uid, data.length);
      out.push(ttlv.byteString(Tag.SignatureData, signature));
      return out;
    }

    const keyObject = keyObjectFromBlock(key.block, 'private');
    const setup = resolveSignature(keyObject, effectiveParams(payload, key.rec.attributes), 'sign');
    if (part.kind === 'start') {
      const signer = startSign(setup);
      signer.update(data);
      const id = openSession({ kind: 'sign', signer }, ctx.client.name, key.uid, now, data.length);
      await consumeOrEnd(ctx, key.uid, data.length, id);
      out.push(ttlv.byteString(Tag.CorrelationValue, id));
      return out;
    }
    if (opt.bytes(payload, Tag.Data) === undefined) throw new KmipError(Reason.MissingData, 'Sign needs the Data to sign');
    const signature = signData(keyObject, setup, data);
    await consumeUsage(ctx, key.uid, data.length);
    out.push(ttlv.byteString(Tag.SignatureData, signature));
    return out;
  },
};
