/**
 * RNG Retrieve: bytes from OpenSSL's CSPRNG (CTR_DRBG over AES-256). RNG Seed: Node offers no way
 * to add entropy to OpenSSL's generator, so the seed is accepted and none of it is used: the
 * response says so with Data Length 0 rather than claiming bytes it did not use.
 */
import { ttlv } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { Operation } from '../spec/generated/enums';
import { req } from '../kmip/tree';
import { secureRandomBytes } from '../crypto/random-pool';
import { KmipError, Reason } from '../kmip/errors';
import type { OperationHandler } from '../objects/context';

/** Bounds one response's size: larger amounts are for several requests, not one allocation. */
const MAX_RNG_BYTES = 64 * 1024;

export const rngRetrieveHandler: OperationHandler = {
  operation: Operation.RNGRetrieve,
  async handle(payload, ctx) {
    const n = req.integer(payload, Tag.DataLength);
    if (n <= 0) throw new KmipError(Reason.InvalidField, 'Data Length must be positive');
    if (n > MAX_RNG_BYTES) throw new KmipError(Reason.InvalidField, `Data Length may be at most ${MAX_RNG_BYTES} bytes`);
    const bytes = secureRandomBytes(n);
    ctx.secrets.push(bytes);
    return [ttlv.byteString(Tag.Data, bytes)];
  },
};

export const rngSeedHandler: OperationHandler = {
  operation: Operation.RNGSeed,
  async handle(payload) {
    req.bytes(payload, Tag.Data);
    return [ttlv.integer(Tag.DataLength, 0)];
  },
};
