/**
 * Hash: a digest of Data (MD5, SHA-1, SHA-2, SHA-512/t, SHA3); no key involved. In one request or
 * in parts (src/objects/multi-part.ts); a stream belongs to the client that started it, and later
 * parts continue with the algorithm the first part chose.
 */
import { createHash } from 'node:crypto';
import { ttlv, type TtlvItem, type TtlvStructure } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { Operation } from '../spec/generated/enums';
import { enumValueInfo } from '../spec/registry';
import { req } from '../kmip/tree';
import { KmipError, Reason } from '../kmip/errors';
import type { OpContext } from '../objects/context';
import { readCryptoParams } from '../crypto/params';
import { HASHES, HASH_BY_ALGORITHM, type HashInfo } from '../crypto/tables';
import { multiPartHandler, noKey } from '../objects/multi-part';

function hashInfo(payload: TtlvStructure): HashInfo {
  const params = readCryptoParams(req.structure(payload, Tag.CryptographicParameters));
  const algorithm =
    params.hashingAlgorithm ?? (params.cryptographicAlgorithm === undefined ? undefined : HASH_BY_ALGORITHM[params.cryptographicAlgorithm]);
  if (algorithm === undefined) throw new KmipError(Reason.MissingData, 'Hash needs a Hashing Algorithm in the Cryptographic Parameters');
  const info = HASHES[algorithm];
  if (!info) {
    throw new KmipError(Reason.InvalidField, `Hashing Algorithm ${enumValueInfo('HashingAlgorithm', algorithm)?.name ?? algorithm} is not supported`);
  }
  return info;
}

/** Hashed data may be secret (a key being fingerprinted); the digest is not, but costs nothing to wipe. */
function digestField(ctx: OpContext, digest: Buffer): TtlvItem[] {
  ctx.secrets.push(digest);
  return [ttlv.byteString(Tag.Data, digest)];
}

export const hashHandler = multiPartHandler({
  operation: Operation.Hash,
  name: 'Hash',
  stream: 'hash',
  key: noKey,
  missingData: 'Hash needs the Data',
  prepare: (r) => hashInfo(r.payload),
  once: (info, r) => digestField(r.ctx, createHash(info.node).update(r.data).digest()),
  start: (info) => ({ run: { kind: 'hash', state: createHash(info.node) } }),
  finish: ({ state }, r) => digestField(r.ctx, state.update(r.data).digest()),
});
