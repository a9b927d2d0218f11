/**
 * MAC Verify: Valid when the MAC over Data matches MAC Data exactly (compared in constant time), in
 * one request or in parts (Init Indicator, Correlation Value, Final Indicator). The MAC Data comes
 * with the final part, or with the first (its Data is MACed too): the spec makes it "No for
 * multi-part", and clients send it where they have it. Every part passes the key gate again.
 */
import { timingSafeEqual } from 'node:crypto';
import { ttlv, type TtlvItem } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { Operation, ValidityIndicator } from '../spec/generated/enums';
import { opt, req } from '../kmip/tree';
import { KmipError, Reason } from '../kmip/errors';
import type { OperationHandler } from '../objects/context';
import { computeMac, resolveMac, startMac } from '../crypto/mac';
import { effectiveParams } from '../crypto/params';
import { advanceStream, closeStream, openSession, resumeSession } from '../crypto/streams';
import { finalValue, readPart, unknownCorrelation } from '../objects/crypto-parts';
import { loadKeyFor } from '../objects/crypto-key';
import { rawKeyMaterial } from '../objects/key-block';

const EMPTY = new Uint8Array(0);

function validity(uid: string, mac: Buffer, given: Uint8Array): TtlvItem[] {
  const valid = mac.length === given.length && timingSafeEqual(mac, given);
  mac.fill(0);
  return [
    ttlv.textString(Tag.UniqueIdentifier, uid),
    ttlv.enumeration(Tag.ValidityIndicator, valid ? ValidityIndicator.Valid : ValidityIndicator.Invalid),
  ];
}

export const macVerifyHandler: OperationHandler = {
  operation: Operation.MACVerify,
  async handle(payload, ctx) {
    const part = readPart(payload, 'MAC Verify');
    const key = await loadKeyFor(ctx, payload, 'macVerify');
    const data = opt.bytes(payload, Tag.Data) ?? EMPTY;
    const now = ctx.clock.now();

    if (part.kind === 'next') {
      const { run } = resumeSession(part.correlation, ctx.client.name, key.uid, 'macVerify', now, unknownCorrelation(ctx, 'MAC Verify'));
      if (!part.final) {
        run.mac.update(data);
        advanceStream(part.correlation, data.length);
        return [ttlv.textString(Tag.UniqueIdentifier, key.uid), ttlv.byteString(Tag.CorrelationValue, Buffer.from(part.correlation))];
      }
      try {
        const given = finalValue(opt.bytes(payload, Tag.MACData) ?? run.expected, 'MAC Data');
        run.mac.update(data);
        return validity(key.uid, run.mac.finish(), given);
      } finally {
        closeStream(part.correlation);
      }
    }

    const material = rawKeyMaterial(key.block);
    if (!material) throw new KmipError(Reason.KeyFormatTypeNotSupported, 'the key material is not in a raw or transparent symmetric form');
    const info = resolveMac(effectiveParams(payload, key.rec.attributes), key.algorithm);
    if (part.kind === 'start') {
      const run = startMac(info, material);
      run.update(data);
      const expected = opt.bytes(payload, Tag.MACData);
      const id = openSession({ kind: 'macVerify', mac: run, ...(expected ? { expected: Buffer.from(expected) } : {}) }, ctx.client.name, key.uid, now, data.length);
      return [ttlv.textString(Tag.UniqueIdentifier, key.uid), ttlv.byteString(Tag.CorrelationValue, id)];
    }
    if (opt.bytes(payload, Tag.Data) === undefined) throw new KmipError(Reason.MissingData, 'MAC Verify needs the Data');
    return validity(key.uid, computeMac(info, material, data), req.bytes(payload, Tag.MACData));
  },
};
