/**
 * Encrypt and Decrypt share everything but the direction: key gate, parameters (request, else the
 * key's attribute), symmetric ciphers one-shot or in parts, and RSA for public/private keys.
 */
import type { TtlvItem, TtlvStructure } from '../../ttlv/types';
import { ttlv } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { ObjectType } from '../spec/generated/enums';
import { opt } from '../kmip/tree';
import { tagInVersion } from '../spec/registry';
import type { OpContext } from './context';
import { KmipError, Reason } from '../kmip/errors';
import { keyObjectFromBlock } from '../crypto/asymmetric-keys';
import { effectiveParams } from '../crypto/params';
import { resolveRsaCipher, rsaDecrypt, rsaEncrypt } from '../crypto/rsa';
import { advanceStream, closeStream, openStream, resumeStream } from '../crypto/streams';
import { unknownCorrelation } from './crypto-parts';
import { checkDataLength, runOnce, setupCipher, startCipher, type Direction } from '../crypto/symmetric';
import { consumeUsage, keepSecret, loadKeyFor, type UsableKey } from './crypto-key';
import { rawKeyMaterial } from './key-block';

const EMPTY = new Uint8Array(0);

interface Outcome {
  readonly data: Uint8Array;
  /** A part of a multi-part operation: its Data is left out when the part gave no output. */
  readonly part?: boolean;
  readonly iv?: Uint8Array;
  readonly correlation?: Uint8Array;
  readonly tag?: Uint8Array;
}

/**
 * Response payload in the spec's field order. Data is optional in the response (1.3 on, the
 * multi-part versions): a part that produced nothing (a block cipher still holding a partial
 * block, or a final part with nothing left) answers without it rather than with an empty Byte
 * String, which clients reading parts take for output.
 */
function response(uid: string, o: Outcome): TtlvItem[] {
  const out: TtlvItem[] = [ttlv.textString(Tag.UniqueIdentifier, uid)];
  if (!(o.part && o.data.length === 0)) out.push(ttlv.byteString(Tag.Data, o.data));
  if (o.iv) out.push(ttlv.byteString(Tag.IVCounterNonce, o.iv));
  if (o.correlation) out.push(ttlv.byteString(Tag.CorrelationValue, o.correlation));
  if (o.tag) out.push(ttlv.byteString(Tag.AuthenticatedEncryptionTag, o.tag));
  return out;
}

export async function runCipherOperation(direction: Direction, payload: TtlvStructure, ctx: OpContext): Promise<TtlvItem[]> {
  const key = await loadKeyFor(ctx, payload, direction);
  const data = opt.bytes(payload, Tag.Data) ?? EMPTY;
  const outcome =
    key.rec.objectType === ObjectType.SymmetricKey ? symmetric(direction, key, payload, data, ctx) : asymmetric(direction, key, payload, data);
  // Plaintext (decrypt) and ciphertext alike leave memory once the response is written.
  keepSecret(ctx, outcome.data);
  // Counted after the work succeeded, so a refused request does not use up the key.
  if (direction === 'encrypt') await consumeUsage(ctx, key.uid, data.length);
  return response(key.uid, outcome);
}

function asymmetric(direction: Direction, key: UsableKey, payload: TtlvStructure, data: Uint8Array): Outcome {
  if (opt.bytes(payload, Tag.CorrelationValue) || opt.boolean(payload, Tag.InitIndicator)) {
    throw new KmipError(Reason.FeatureNotSupported, 'RSA encryption is not offered in parts');
  }
  const params = effectiveParams(payload, key.rec.attributes);
  const kind = key.rec.objectType === ObjectType.PrivateKey ? 'private' : 'public';
  const keyObject = keyObjectFromBlock(key.block, kind);
  if (keyObject.asymmetricKeyType !== 'rsa') {
    throw new KmipError(Reason.InvalidField, `${keyObject.asymmetricKeyType ?? 'this'} keys cannot ${direction}; only RSA keys can`);
  }
  const p = resolveRsaCipher(params);
  return { data: direction === 'encrypt' ? rsaEncrypt(keyObject, p, data) : rsaDecrypt(keyObject, p, data) };
}

function symmetric(direction: Direction, key: UsableKey, payload: TtlvStructure, data: Uint8Array, ctx: OpContext): Outcome {
  const material = rawKeyMaterial(key.block);
  if (!material) throw new KmipError(Reason.KeyFormatTypeNotSupported, 'the key material is not in a raw or transparent symmetric form');
  const correlation = opt.bytes(payload, Tag.CorrelationValue);
  const init = opt.boolean(payload, Tag.InitIndicator) === true;
  const final = opt.boolean(payload, Tag.FinalIndicator) === true;
  const tag = direction === 'decrypt' ? opt.bytes(payload, Tag.AuthenticatedEncryptionTag) : undefined;
  const now = ctx.clock.now();

  if (correlation) {
    // A later part: the cipher set up by the first part continues. With AEAD decryption the parts'
    // plaintext leaves before the final part's tag is checked: that is what multi-part means, and
    // a client must discard it if the final part fails.
    const { run, total } = resumeStream(correlation, ctx.client.name, key.uid, direction, now, unknownCorrelation(ctx, direction === 'encrypt' ? 'Encrypt' : 'Decrypt'));
    const head = run.update(data);
    if (!final) {
      advanceStream(correlation, data.length);
      return { data: head, part: true };
    }
    closeStream(correlation);
    try {
      checkDataLength(run.setup, direction, total + data.length);
      const tail = run.finish(tag);
      const out = Buffer.concat([head, tail.data]);
      tail.data.fill(0);
      return tail.tag ? { data: out, tag: tail.tag, part: true } : { data: out, part: true };
    } finally {
      head.fill(0);
    }
  }

  const params = effectiveParams(payload, key.rec.attributes);
  const algorithm = params.cryptographicAlgorithm ?? key.algorithm;
  if (algorithm === undefined) throw new KmipError(Reason.MissingData, 'the key has no Cryptographic Algorithm');
  const setup = setupCipher(direction, algorithm, params, material.length, opt.bytes(payload, Tag.IVCounterNonce), tag);
  if (setup.cipher.aead && !tagInVersion(Tag.AuthenticatedEncryptionTag, ctx.version)) {
    // Before 1.4 there is no field to carry the tag, so an AEAD result could not be verified.
    throw new KmipError(Reason.InvalidField, `${setup.cipher.label} needs KMIP 1.4 or later (Authenticated Encryption Tag)`);
  }
  const aad = opt.bytes(payload, Tag.AuthenticatedEncryptionAdditionalData);
  const run = startCipher(direction, setup, material, aad, data.length);
  const iv = setup.ivGenerated && setup.iv ? setup.iv : undefined;

  if (init && !final) {
    const out = run.update(data);
    const id = openStream(run, ctx.client.name, key.uid, now, data.length);
    return { data: out, iv, correlation: id, part: true };
  }
  const result = runOnce(run, data, tag);
  return { data: result.data, iv, tag: result.tag };
}
