/**
 * Sign: a signature over Data with a private key (RSA PKCS#1 v1.5 / PSS, ECDSA, EdDSA, DSA; ML-DSA and
 * SLH-DSA in one request: src/objects/pqc-steps.ts), in one
 * request or in parts (src/objects/multi-part.ts); or over Digested Data, a digest the client made
 * (1.4 on, one request; RSA and ECDSA: src/crypto/digest-signature.ts). Every part passes the key
 * gate again (state, dates, usage mask, Usage Limits for its bytes); the stream holds just the
 * digest state, and the private key object is made only for the part that signs.
 */
import { ttlv, type TtlvItem } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { Operation } from '../spec/generated/enums';
import { keyObjectFromBlock } from '../crypto/asymmetric-keys';
import { signDigest } from '../crypto/digest-signature';
import { signData, startSign } from '../crypto/signature';
import { digestSetup, signatureSetup } from '../objects/crypto-steps';
import { keyFor, multiPartHandler } from '../objects/multi-part';
import { pqcSignStep } from '../objects/pqc-steps';

const signatureData = (signature: Uint8Array): TtlvItem[] => [ttlv.byteString(Tag.SignatureData, signature)];

export const signHandler = multiPartHandler({
  operation: Operation.Sign,
  name: 'Sign',
  stream: 'sign',
  key: keyFor('sign'),
  usage: 'ends stream',
  missingData: 'Sign needs the Data to sign',
  async digested(r, digest) {
    const pqc = await pqcSignStep(r, digest);
    if (pqc) return pqc;
    const { keyObject, setup, hash } = digestSetup(r, digest, 'sign');
    return signatureData(await signDigest(r.ctx.keys, keyObject, setup, hash, digest));
  },
  byKey: (r) => pqcSignStep(r),
  prepare: (r) => signatureSetup(r, 'sign'),
  once: ({ keyObject, setup }, r) => signatureData(signData(keyObject, setup, r.data)),
  start: ({ setup }) => ({ run: { kind: 'sign', state: startSign(setup) } }),
  finish({ state }, r) {
    state.update(r.data);
    return signatureData(state.finish(keyObjectFromBlock(r.key.block, 'private')));
  },
});
