/**
 * MAC: HMAC (SHA-1/224/256/384/512, SHA3, MD5) or CMAC (AES, 3DES) over Data with a symmetric key,
 * in one request or in parts (src/objects/multi-part.ts). Every part passes the key gate again and
 * counts against Usage Limits.
 */
import { ttlv, type TtlvItem } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { Operation } from '../spec/generated/enums';
import { computeMac, startMac } from '../crypto/mac';
import { macSetup } from '../objects/crypto-steps';
import { keyFor, multiPartHandler } from '../objects/multi-part';

const macData = (mac: Uint8Array): TtlvItem[] => [ttlv.byteString(Tag.MACData, mac)];

export const macHandler = multiPartHandler({
  operation: Operation.MAC,
  name: 'MAC',
  stream: 'mac',
  key: keyFor('macGenerate'),
  usage: 'ends stream',
  missingData: 'MAC needs the Data',
  prepare: (r) => macSetup(r, 'mac'),
  once: ({ info, material }, r) => macData(computeMac(info, material, r.data)),
  start: ({ info, material }) => ({ run: { kind: 'mac', state: startMac(info, material) } }),
  finish({ state }, r) {
    state.update(r.data);
    return macData(state.finish());
  },
});
