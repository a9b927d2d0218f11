/**
 * Hash: a digest of Data (MD5, SHA-1, SHA-2, SHA-512/t, SHA3); no key involved. In one request or
 * in parts (Init Indicator, Correlation Value, Final Indicator); a stream belongs to the client
 * that started it.
 */
import { createHash } from 'node:crypto';
import { ttlv, type TtlvItem } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { Operation } from '../spec/generated/enums';
import { enumValueInfo } from '../spec/registry';
import { opt, req } from '../kmip/tree';
import { KmipError, Reason } from '../kmip/errors';
import type { OperationHandler } from '../objects/context';
import { readCryptoParams } from '../crypto/params';
import { advanceStream, closeStream, openSession, resumeSession } from '../crypto/streams';
import { HASHES, HASH_BY_ALGORITHM, type HashInfo } from '../crypto/tables';
import { readPart, unknownCorrelation } from '../objects/crypto-parts';

const EMPTY = new Uint8Array(0);
/** Hash streams are bound to no key. */
const NO_KEY = '';

function hashInfo(payload: Parameters<OperationHandler['handle']>[0]): HashInfo {
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

export const hashHandler: OperationHandler = {
  operation: Operation.Hash,
  async handle(payload, ctx) {
    const part = readPart(payload, 'Hash');
    const data = opt.bytes(payload, Tag.Data) ?? EMPTY;
    const now = ctx.clock.now();
    let digest: Buffer;
    if (part.kind === 'next') {
      // Later parts continue with the algorithm the first part chose.
      const { run } = resumeSession(part.correlation, ctx.client.name, NO_KEY, 'hash', now, unknownCorrelation(ctx, 'Hash'));
      run.hash.update(data);
      if (!part.final) {
        advanceStream(part.correlation, data.length);
        return [ttlv.byteString(Tag.CorrelationValue, Buffer.from(part.correlation))];
      }
      closeStream(part.correlation);
      digest = run.hash.digest();
    } else {
      const info = hashInfo(payload);
      if (part.kind === 'start') {
        const hash = createHash(info.node).update(data);
        return [ttlv.byteString(Tag.CorrelationValue, openSession({ kind: 'hash', hash }, ctx.client.name, NO_KEY, now, data.length))];
      }
      if (opt.bytes(payload, Tag.Data) === undefined) throw new KmipError(Reason.MissingData, 'Hash needs the Data');
      digest = createHash(info.node).update(data).digest();
    }
    // Hashed data may be secret (a key being fingerprinted); the digest is not, but costs nothing to wipe.
    ctx.secrets.push(digest);
    const out: TtlvItem[] = [ttlv.byteString(Tag.Data, digest)];
    return out;
  },
};
