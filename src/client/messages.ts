/**
 * Request Messages out and Response Messages in, as bytes: for KmipClient, and for callers that
 * build their own batch items (tests, the load generator) and read every field of the answer.
 */
import { decodeTtlv } from '../../ttlv/decode';
import { encodeTtlv } from '../../ttlv/encode';
import { ItemType, ttlv, type TtlvItem, type TtlvStructure } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import type { ProtocolVersion } from '../spec/versions';
import { readResponseMessage, type ResponseBatchItem } from '../kmip/message';
import { KmipProtocolError } from './errors';

/** One batch item of a request: the operation and its Request Payload's members. */
export interface BatchItem {
  readonly operation: number;
  readonly payload: readonly TtlvItem[];
}

export type BatchItemResult = ResponseBatchItem;

export interface RequestOptions {
  /** Request Header fields placed after the Protocol Version (Authentication, Batch Error Continuation Option, ...). */
  readonly header?: readonly TtlvItem[];
  /** Time Stamp, seconds since the epoch. */
  readonly timeStamp?: bigint;
}

/** A Request Message in binary TTLV: the header (version, the extra fields, Time Stamp, Batch Count), then one Batch Item each. */
export function encodeRequest(version: ProtocolVersion, items: readonly BatchItem[], opts: RequestOptions = {}): Uint8Array {
  const header: TtlvItem[] = [
    ttlv.structure(Tag.ProtocolVersion, [ttlv.integer(Tag.ProtocolVersionMajor, version.major), ttlv.integer(Tag.ProtocolVersionMinor, version.minor)]),
    ...(opts.header ?? []),
  ];
  if (opts.timeStamp !== undefined) header.push(ttlv.dateTime(Tag.TimeStamp, opts.timeStamp));
  header.push(ttlv.integer(Tag.BatchCount, items.length));
  return encodeTtlv(
    ttlv.structure(Tag.RequestMessage, [
      ttlv.structure(Tag.RequestHeader, header),
      ...items.map((i) => ttlv.structure(Tag.BatchItem, [ttlv.enumeration(Tag.Operation, i.operation), ttlv.structure(Tag.RequestPayload, [...i.payload])])),
    ]),
  );
}

export interface DecodedResponse {
  /** The whole message as decoded, for fields the typed reading leaves out. */
  readonly root: TtlvStructure;
  readonly version: ProtocolVersion;
  readonly items: readonly BatchItemResult[];
}

/** Reads a Response Message; anything else (or a malformed one) is a KmipProtocolError. */
export function decodeResponse(bytes: Uint8Array): DecodedResponse {
  try {
    const root = decodeTtlv(bytes, { maxMessageBytes: Math.max(bytes.length, 8) });
    const { version, items } = readResponseMessage(root);
    if (root.type !== ItemType.Structure) throw new Error('not a structure');
    return { root, version, items };
  } catch (e) {
    throw new KmipProtocolError(`unreadable response: ${(e as Error).message}`);
  }
}
