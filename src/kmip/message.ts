/**
 * Request and Response messages: the header and the batch, read from and written to the generic
 * tree by tag (no byte sniffing). Payloads stay undecoded trees until dispatch.
 */
import { ItemType, ttlv, type TtlvItem, type TtlvStructure } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { AsynchronousIndicator, ResultStatus } from '../spec/generated/enums';
import { compareVersions, type ProtocolVersion } from '../spec/versions';
import { KmipError, Reason, type ReasonValue } from './errors';
import { asStructure, child, children, opt, req } from './tree';

/** Versions we speak, newest first (Discover Versions answers in this order). */
export const SUPPORTED_VERSIONS: readonly ProtocolVersion[] = [
  { major: 2, minor: 1 },
  { major: 2, minor: 0 },
  { major: 1, minor: 4 },
  { major: 1, minor: 3 },
  { major: 1, minor: 2 },
  { major: 1, minor: 1 },
  { major: 1, minor: 0 },
];

export function isSupportedVersion(v: ProtocolVersion): boolean {
  return SUPPORTED_VERSIONS.some((s) => s.major === v.major && s.minor === v.minor);
}

/** For a version we do not speak: the newest one we do that is not newer (else the oldest). */
export function nearestSupportedVersion(v: ProtocolVersion): ProtocolVersion {
  return SUPPORTED_VERSIONS.find((s) => compareVersions(s, v) <= 0) ?? SUPPORTED_VERSIONS[SUPPORTED_VERSIONS.length - 1]!;
}

export interface RequestHeader {
  readonly version: ProtocolVersion;
  readonly maximumResponseSize?: number;
  readonly batchErrorContinuationOption?: number;
  readonly batchOrderOption?: boolean;
  readonly asynchronousIndicator?: boolean;
  readonly clientCorrelationValue?: string;
  readonly serverCorrelationValue?: string;
  readonly authentication?: TtlvStructure;
  readonly timeStamp?: bigint;
  readonly batchCount: number;
}

export interface RequestBatchItem {
  readonly operation: number;
  readonly uniqueBatchItemId?: Uint8Array;
  readonly payload: TtlvStructure;
  readonly messageExtensions: readonly TtlvStructure[];
}

export interface RequestMessage {
  readonly header: RequestHeader;
  readonly items: readonly RequestBatchItem[];
}

export function readProtocolVersion(s: TtlvStructure): ProtocolVersion {
  return { major: req.integer(s, Tag.ProtocolVersionMajor), minor: req.integer(s, Tag.ProtocolVersionMinor) };
}

/**
 * Reads just enough of a message to answer in the client's version, even when the rest is
 * malformed. Returns undefined when not even that can be read.
 */
export function peekVersion(root: TtlvItem): ProtocolVersion | undefined {
  try {
    if (root.tag !== Tag.RequestMessage || root.type !== ItemType.Structure) return undefined;
    const header = child(root, Tag.RequestHeader);
    if (!header || header.type !== ItemType.Structure) return undefined;
    const pv = child(header, Tag.ProtocolVersion);
    if (!pv || pv.type !== ItemType.Structure) return undefined;
    return readProtocolVersion(pv);
  } catch {
    return undefined;
  }
}

export function readRequestMessage(root: TtlvItem): RequestMessage {
  if (root.tag !== Tag.RequestMessage) {
    throw new KmipError(Reason.InvalidMessage, 'message is not a Request Message');
  }
  const msg = asStructure(root);
  const h = req.structure(msg, Tag.RequestHeader);
  const version = readProtocolVersion(req.structure(h, Tag.ProtocolVersion));
  const batchCount = req.integer(h, Tag.BatchCount);
  const asyncItem = child(h, Tag.AsynchronousIndicator);
  const header: RequestHeader = {
    version,
    batchCount,
    maximumResponseSize: opt.integer(h, Tag.MaximumResponseSize),
    batchErrorContinuationOption: opt.enumeration(h, Tag.BatchErrorContinuationOption),
    batchOrderOption: opt.boolean(h, Tag.BatchOrderOption),
    // Boolean in 1.x; an Enumeration in 2.x, where Mandatory and Optional both say the client
    // accepts an asynchronous answer (Optional leaves the choice to the server), Prohibited not.
    asynchronousIndicator:
      asyncItem === undefined
        ? undefined
        : asyncItem.type === ItemType.Boolean
          ? asyncItem.value
          : asyncItem.type === ItemType.Enumeration
            ? asyncItem.value === AsynchronousIndicator.Mandatory || asyncItem.value === AsynchronousIndicator.Optional
            : undefined,
    clientCorrelationValue: opt.text(h, Tag.ClientCorrelationValue),
    serverCorrelationValue: opt.text(h, Tag.ServerCorrelationValue),
    authentication: opt.structure(h, Tag.Authentication),
    timeStamp: opt.dateTime(h, Tag.TimeStamp),
  };
  const items = children(msg, Tag.BatchItem).map((bi): RequestBatchItem => {
    const s = asStructure(bi);
    const payload = opt.structure(s, Tag.RequestPayload) ?? ttlv.structure(Tag.RequestPayload, []);
    return {
      operation: req.enumeration(s, Tag.Operation),
      uniqueBatchItemId: opt.bytes(s, Tag.UniqueBatchItemID),
      payload,
      messageExtensions: children(s, Tag.MessageExtension).map(asStructure),
    };
  });
  if (items.length === 0) throw new KmipError(Reason.InvalidMessage, 'request has no Batch Item');
  if (items.length !== batchCount) {
    throw new KmipError(Reason.InvalidMessage, `Batch Count is ${batchCount} but the message has ${items.length} items`);
  }
  return { header, items };
}

export interface ResponseBatchItem {
  readonly operation?: number;
  readonly uniqueBatchItemId?: Uint8Array;
  readonly status: number;
  readonly reason?: ReasonValue;
  readonly message?: string;
  /** Set with Result Status Operation Pending: what the client polls with. */
  readonly asyncCorrelationValue?: Uint8Array;
  readonly payload?: readonly TtlvItem[];
}

export interface ResponseHeaderFields {
  readonly version: ProtocolVersion;
  readonly timeStamp: bigint;
  readonly clientCorrelationValue?: string;
  readonly serverCorrelationValue?: string;
}

export function encodeResponseItem(item: ResponseBatchItem): TtlvStructure {
  const out: TtlvItem[] = [];
  if (item.operation !== undefined) out.push(ttlv.enumeration(Tag.Operation, item.operation));
  if (item.uniqueBatchItemId !== undefined) out.push(ttlv.byteString(Tag.UniqueBatchItemID, item.uniqueBatchItemId));
  out.push(ttlv.enumeration(Tag.ResultStatus, item.status));
  if (item.status !== ResultStatus.Success) {
    if (item.reason !== undefined) out.push(ttlv.enumeration(Tag.ResultReason, item.reason));
    if (item.message !== undefined) out.push(ttlv.textString(Tag.ResultMessage, item.message));
  }
  if (item.asyncCorrelationValue !== undefined) out.push(ttlv.byteString(Tag.AsynchronousCorrelationValue, item.asyncCorrelationValue));
  if (item.payload !== undefined) out.push(ttlv.structure(Tag.ResponsePayload, [...item.payload]));
  return ttlv.structure(Tag.BatchItem, out);
}

export function encodeResponseMessage(header: ResponseHeaderFields, items: readonly TtlvStructure[]): TtlvStructure {
  const h: TtlvItem[] = [
    ttlv.structure(Tag.ProtocolVersion, [
      ttlv.integer(Tag.ProtocolVersionMajor, header.version.major),
      ttlv.integer(Tag.ProtocolVersionMinor, header.version.minor),
    ]),
    ttlv.dateTime(Tag.TimeStamp, header.timeStamp),
  ];
  // Correlation values exist from 1.4; echo them only to clients that can read them.
  if (compareVersions(header.version, '1.4') >= 0) {
    if (header.clientCorrelationValue !== undefined) {
      h.push(ttlv.textString(Tag.ClientCorrelationValue, header.clientCorrelationValue));
    }
    if (header.serverCorrelationValue !== undefined) {
      h.push(ttlv.textString(Tag.ServerCorrelationValue, header.serverCorrelationValue));
    }
  }
  h.push(ttlv.integer(Tag.BatchCount, items.length));
  return ttlv.structure(Tag.ResponseMessage, [ttlv.structure(Tag.ResponseHeader, h), ...items]);
}

/**
 * The other direction, for the messages the server sends (Notify, Put: src/notify/): a Request
 * Message with one item per operation, and the reading of the client's Response Message.
 */
export interface OutgoingItem {
  readonly operation: number;
  readonly payload: readonly TtlvItem[];
}

export function encodeRequestMessage(header: { readonly version: ProtocolVersion; readonly timeStamp: bigint }, items: readonly OutgoingItem[]): TtlvStructure {
  const h: TtlvItem[] = [
    ttlv.structure(Tag.ProtocolVersion, [
      ttlv.integer(Tag.ProtocolVersionMajor, header.version.major),
      ttlv.integer(Tag.ProtocolVersionMinor, header.version.minor),
    ]),
    ttlv.dateTime(Tag.TimeStamp, header.timeStamp),
    ttlv.integer(Tag.BatchCount, items.length),
  ];
  return ttlv.structure(Tag.RequestMessage, [
    ttlv.structure(Tag.RequestHeader, h),
    ...items.map((i) =>
      ttlv.structure(Tag.BatchItem, [ttlv.enumeration(Tag.Operation, i.operation), ttlv.structure(Tag.RequestPayload, [...i.payload])]),
    ),
  ]);
}

export interface ReceivedResponse {
  readonly version: ProtocolVersion;
  readonly items: readonly ResponseBatchItem[];
}

/** Reads a Response Message; anything that is not one is Invalid Message. */
export function readResponseMessage(root: TtlvItem): ReceivedResponse {
  if (root.tag !== Tag.ResponseMessage) throw new KmipError(Reason.InvalidMessage, 'message is not a Response Message');
  const msg = asStructure(root);
  const h = req.structure(msg, Tag.ResponseHeader);
  const version = readProtocolVersion(req.structure(h, Tag.ProtocolVersion));
  const batchCount = req.integer(h, Tag.BatchCount);
  const items = children(msg, Tag.BatchItem).map((bi): ResponseBatchItem => {
    const s = asStructure(bi);
    const payload = opt.structure(s, Tag.ResponsePayload);
    return {
      operation: opt.enumeration(s, Tag.Operation),
      uniqueBatchItemId: opt.bytes(s, Tag.UniqueBatchItemID),
      status: req.enumeration(s, Tag.ResultStatus),
      reason: opt.enumeration(s, Tag.ResultReason) as ReasonValue | undefined,
      message: opt.text(s, Tag.ResultMessage),
      // Operation Pending's handle for Poll and Cancel.
      asyncCorrelationValue: opt.bytes(s, Tag.AsynchronousCorrelationValue),
      payload: payload?.value,
    };
  });
  if (items.length !== batchCount) {
    throw new KmipError(Reason.InvalidMessage, `Batch Count is ${batchCount} but the message has ${items.length} items`);
  }
  return { version, items };
}
