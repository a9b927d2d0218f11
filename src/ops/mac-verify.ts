/**
 * MAC Verify: Valid when the MAC over Data matches MAC Data exactly (compared in constant time), in
 * one request or in parts (src/objects/multi-part.ts). The MAC Data comes with the final part, or
 * with the first (its Data is MACed too): the spec makes it "No for multi-part", and clients send
 * it where they have it. Every part passes the key gate again.
 */
import { timingSafeEqual } from 'node:crypto';
import type { TtlvItem } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { Operation } from '../spec/generated/enums';
import { opt, req } from '../kmip/tree';
import { computeMac, startMac } from '../crypto/mac';
import { finalValue, firstValue, macSetup, validity } from '../objects/crypto-steps';
import { keyFor, multiPartHandler } from '../objects/multi-part';

function compare(mac: Buffer, given: Uint8Array): TtlvItem[] {
  const valid = mac.length === given.length && timingSafeEqual(mac, given);
  mac.fill(0);
  return [validity(valid)];
}

export const macVerifyHandler = multiPartHandler({
  operation: Operation.MACVerify,
  name: 'MAC Verify',
  stream: 'macVerify',
  key: keyFor('macVerify'),
  missingData: 'MAC Verify needs the Data',
  prepare: (r) => macSetup(r, 'verify'),
  once: ({ info, material }, r) => compare(computeMac(info, material, r.data), req.bytes(r.payload, Tag.MACData)),
  start: ({ info, material }, r) => ({ run: { kind: 'macVerify', state: startMac(info, material), expected: firstValue(r.payload, Tag.MACData) } }),
  finish({ state, expected }, r) {
    const given = finalValue(opt.bytes(r.payload, Tag.MACData) ?? expected, 'MAC Data');
    state.update(r.data);
    return compare(state.finish(), given);
  },
});
