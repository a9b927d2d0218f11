/**
 * Signature Verify: Valid or Invalid for a signature over Data, with a public key, in one request
 * or in parts (src/objects/multi-part.ts). The Signature Data comes with the final part, or with
 * the first (whose Data is verified too). Digested Data (1.4 on) comes in one request. Every part
 * passes the key gate again.
 */
import { opt, req } from '../kmip/tree';
import { Tag } from '../spec/generated/tags';
import { Operation } from '../spec/generated/enums';
import { keyObjectFromBlock } from '../crypto/asymmetric-keys';
import { verifyDigest } from '../crypto/digest-signature';
import { startVerify, verifyData } from '../crypto/signature';
import { digestSetup, finalValue, firstValue, signatureSetup, validity } from '../objects/crypto-steps';
import { keyFor, multiPartHandler } from '../objects/multi-part';
import { pqcVerifyStep } from '../objects/pqc-steps';

export const signatureVerifyHandler = multiPartHandler({
  operation: Operation.SignatureVerify,
  name: 'Signature Verify',
  stream: 'verify',
  key: keyFor('verify'),
  missingData: 'Signature Verify needs the Data',
  async digested(r, digest) {
    const pqc = pqcVerifyStep(r, digest);
    if (pqc) return pqc;
    const { keyObject, setup, hash } = digestSetup(r, digest, 'verify');
    return [validity(await verifyDigest(r.ctx.keys, keyObject, setup, hash, digest, req.bytes(r.payload, Tag.SignatureData)))];
  },
  byKey: (r) => pqcVerifyStep(r),
  prepare: (r) => signatureSetup(r, 'verify'),
  once: ({ keyObject, setup }, r) => [validity(verifyData(keyObject, setup, r.data, req.bytes(r.payload, Tag.SignatureData)))],
  start: ({ setup }, r) => ({ run: { kind: 'verify', state: startVerify(setup), expected: firstValue(r.payload, Tag.SignatureData) } }),
  finish({ state, expected }, r) {
    const signature = finalValue(opt.bytes(r.payload, Tag.SignatureData) ?? expected, 'Signature Data');
    state.update(r.data);
    return [validity(state.finish(keyObjectFromBlock(r.key.block, 'public'), signature))];
  },
});
