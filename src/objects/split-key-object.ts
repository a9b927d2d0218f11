/**
 * The Split Key managed object (KMIP 2.8 / 1.x 2.2.5): Split Key Parts, Key Part Identifier, Split
 * Key Threshold, Split Key Method, Prime Field Size (Polynomial Sharing Prime Field only) and a Key
 * Block whose Key Material is this part's share. The Key Block keeps the format, algorithm and
 * length of the key that was split, so Join Split Key can rebuild it.
 */
import { ItemType, ttlv, type TtlvItem, type TtlvStructure } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { child, opt, req } from '../kmip/tree';
import { KmipError, Reason } from '../kmip/errors';
import { checkSplitParams, type SplitParams } from '../crypto/secret-sharing';
import { keyBlock, keyBlockOf, rawKeyMaterial } from './key-block';

export interface SplitKeyPart {
  readonly params: SplitParams;
  /** Key Part Identifier (1..parts). */
  readonly x: number;
  readonly block: TtlvStructure;
  readonly share: Uint8Array;
}

/** Split Key Parts / Threshold / Method / Prime Field Size as a request or body gives them. */
export function readSplitParams(s: TtlvStructure): SplitParams {
  const primeItem = child(s, Tag.PrimeFieldSize);
  if (primeItem !== undefined && primeItem.type !== ItemType.BigInteger) throw new KmipError(Reason.InvalidField, 'Prime Field Size must be a Big Integer');
  const params: SplitParams = {
    parts: req.integer(s, Tag.SplitKeyParts),
    threshold: req.integer(s, Tag.SplitKeyThreshold),
    method: req.enumeration(s, Tag.SplitKeyMethod),
    ...(primeItem?.type === ItemType.BigInteger ? { prime: primeItem.value } : {}),
  };
  checkSplitParams(params);
  return params;
}

/** A Split Key body for one share; `like` is the split key's block (format, algorithm, length). */
export function splitKeyBody(params: SplitParams, x: number, like: { format: number; algorithm?: number; length?: number }, share: Uint8Array): TtlvStructure {
  const items: TtlvItem[] = [
    ttlv.integer(Tag.SplitKeyParts, params.parts),
    ttlv.integer(Tag.KeyPartIdentifier, x),
    ttlv.integer(Tag.SplitKeyThreshold, params.threshold),
    ttlv.enumeration(Tag.SplitKeyMethod, params.method),
  ];
  if (params.prime !== undefined) items.push(ttlv.bigInteger(Tag.PrimeFieldSize, params.prime));
  items.push(keyBlock(like.format, share, like.algorithm, like.length));
  return ttlv.structure(Tag.SplitKey, items);
}

/** A Split Key body's parameters and Key Part Identifier, checked (a metadata-only part has no more). */
export function readSplitParts(body: TtlvStructure): { params: SplitParams; x: number } {
  const params = readSplitParams(body);
  const x = req.integer(body, Tag.KeyPartIdentifier);
  if (x < 1 || x > params.parts) throw new KmipError(Reason.InvalidField, 'Key Part Identifier must be between 1 and Split Key Parts');
  return { params, x };
}

/** Reads and checks a Split Key body (Register, Join Split Key). */
export function readSplitKey(body: TtlvStructure): SplitKeyPart {
  const { params, x } = readSplitParts(body);
  const block = keyBlockOf(body);
  if (!block) throw new KmipError(Reason.MissingData, 'the Split Key has no Key Block');
  if (child(block, Tag.KeyWrappingData)) throw new KmipError(Reason.KeyFormatTypeNotSupported, 'a wrapped split key part cannot be used here');
  if (!child(block, Tag.KeyValue)) throw new KmipError(Reason.KeyValueNotPresent, 'this split key part was registered without its Key Value');
  const share = rawKeyMaterial(block);
  if (!share) throw new KmipError(Reason.KeyFormatTypeNotSupported, 'the Split Key part is not a Byte String of key material');
  return { params, x, block, share };
}

/** Format, algorithm and length of a key block. */
export function blockShape(block: TtlvStructure): { format: number; algorithm?: number; length?: number } {
  const algorithm = opt.enumeration(block, Tag.CryptographicAlgorithm);
  const length = opt.integer(block, Tag.CryptographicLength);
  return {
    format: req.enumeration(block, Tag.KeyFormatType),
    ...(algorithm !== undefined ? { algorithm } : {}),
    ...(length !== undefined ? { length } : {}),
  };
}
