/**
 * MAC: HMAC (SHA-1/224/256/384/512, SHA3, MD5) or CMAC (AES, 3DES) over Data with a symmetric key,
 * in one request or in parts (Init Indicator, Correlation Value, Final Indicator). Every part
 * passes the key gate again and counts against Usage Limits.
 */
import { ttlv, type TtlvItem } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { Operation } from '../spec/generated/enums';
import { opt } from '../kmip/tree';
import { KmipError, Reason } from '../kmip/errors';
import type { OperationHandler } from '../objects/context';
import { computeMac, resolveMac, startMac } from '../crypto/mac';
import { effectiveParams } from '../crypto/params';
import { advanceStream, closeStream, openSession, resumeSession } from '../crypto/streams';
import { consumeOrEnd, readPart, unknownCorrelation } from '../objects/crypto-parts';
import { consumeUsage, loadKeyFor } from '../objects/crypto-key';
import { rawKeyMaterial } from '../objects/key-block';

const EMPTY = new Uint8Array(0);

export const macHandler: OperationHandler = {
  operation: Operation.MAC,
  async handle(payload, ctx) {
    const part = readPart(payload, 'MAC');
    const key = await loadKeyFor(ctx, payload, 'macGenerate');
    const data = opt.bytes(payload, Tag.Data) ?? EMPTY;
    const out: TtlvItem[] = [ttlv.textString(Tag.UniqueIdentifier, key.uid)];
    const now = ctx.clock.now();

    if (part.kind === 'next') {
      const { run } = resumeSession(part.correlation, ctx.client.name, key.uid, 'mac', now, unknownCorrelation(ctx, 'MAC'));
      run.mac.update(data);
      if (!part.final) {
        advanceStream(part.correlation, data.length);
        await consumeOrEnd(ctx, key.uid, data.length, part.correlation);
        out.push(ttlv.byteString(Tag.CorrelationValue, Buffer.from(part.correlation)));
        return out;
      }
      closeStream(part.correlation);
      const mac = run.mac.finish();
      await consumeUsage(ctx, key.uid, data.length);
      out.push(ttlv.byteString(Tag.MACData, mac));
      return out;
    }

    const material = rawKeyMaterial(key.block);
    if (!material) throw new KmipError(Reason.KeyFormatTypeNotSupported, 'the key material is not in a raw or transparent symmetric form');
    const info = resolveMac(effectiveParams(payload, key.rec.attributes), key.algorithm);
    if (part.kind === 'start') {
      // The key goes into OpenSSL's MAC context for the life of the stream; our copy is wiped
      // with the response, like every decrypted body.
      const run = startMac(info, material);
      run.update(data);
      const id = openSession({ kind: 'mac', mac: run }, ctx.client.name, key.uid, now, data.length);
      await consumeOrEnd(ctx, key.uid, data.length, id);
      out.push(ttlv.byteString(Tag.CorrelationValue, id));
      return out;
    }
    if (opt.bytes(payload, Tag.Data) === undefined) throw new KmipError(Reason.MissingData, 'MAC needs the Data');
    const mac = computeMac(info, material, data);
    await consumeUsage(ctx, key.uid, data.length);
    out.push(ttlv.byteString(Tag.MACData, mac));
    return out;
  },
};
