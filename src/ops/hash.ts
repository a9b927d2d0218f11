/** Hash: a digest of Data (MD5, SHA-1, SHA-2, SHA-512/t, SHA3); no key involved. */
import { createHash } from 'node:crypto';
import { ttlv } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { Operation } from '../spec/generated/enums';
import { enumValueInfo } from '../spec/registry';
import { req } from '../kmip/tree';
import { KmipError, Reason } from '../server/errors';
import type { OperationHandler } from '../server/registry';
import { readCryptoParams } from '../crypto/params';
import { HASHES, HASH_BY_ALGORITHM } from '../crypto/tables';
import { rejectParts } from './crypto-parts';

export const hashHandler: OperationHandler = {
  operation: Operation.Hash,
  async handle(payload, ctx) {
    rejectParts(payload, 'Hash');
    const params = readCryptoParams(req.structure(payload, Tag.CryptographicParameters));
    const algorithm =
      params.hashingAlgorithm ?? (params.cryptographicAlgorithm === undefined ? undefined : HASH_BY_ALGORITHM[params.cryptographicAlgorithm]);
    if (algorithm === undefined) throw new KmipError(Reason.MissingData, 'Hash needs a Hashing Algorithm in the Cryptographic Parameters');
    const info = HASHES[algorithm];
    if (!info) {
      throw new KmipError(Reason.InvalidField, `Hashing Algorithm ${enumValueInfo('HashingAlgorithm', algorithm)?.name ?? algorithm} is not supported`);
    }
    const data = req.bytes(payload, Tag.Data);
    // Hashed data may be secret (a key being fingerprinted); the digest is not, but costs nothing to wipe.
    const digest = createHash(info.node).update(data).digest();
    ctx.secrets.push(digest);
    return [ttlv.byteString(Tag.Data, digest)];
  },
};
