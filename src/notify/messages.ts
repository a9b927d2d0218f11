/**
 * The messages the server sends to a client's endpoint (KMIP 1.x §5, 2.x §7 "Server-to-Client
 * Operations"), built in the endpoint's version, and the reading of its answer.
 *
 * Notify: Unique Identifier and the attributes that changed, "at least the Last Change Date".
 * 1.x lists Attribute structures (a deleted instance by name and index, without a value); 2.x has
 * one Attributes structure and names an attribute with no instance left by Attribute Reference.
 * Put: Unique Identifier, Put Function, Replaced Unique Identifier (with Replace), the object, and
 * its attributes.
 */
import { decodeTtlv } from '../../ttlv/decode';
import { encodeTtlv } from '../../ttlv/encode';
import { ttlv, type TtlvItem, type TtlvStructure } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { Operation, PutFunction, ResultStatus } from '../spec/generated/enums';
import type { ProtocolVersion } from '../spec/versions';
import { encodeAttributeList, encodeAttributeReference, visibleInVersion } from '../kmip/attributes';
import { encodeRequestMessage, readResponseMessage } from '../kmip/message';
import { pruneForVersion } from '../kmip/version-filter';
import { KmipError, Reason, type ReasonValue } from '../kmip/errors';
import type { StoredAttribute } from '../store/object-store';
import { diffAttributes } from './attribute-diff';

const LAST_CHANGE = 'Last Change Date';

/** The Notify payload for a write; undefined when nothing the endpoint's version can name changed. */
export function notifyPayload(
  uid: string,
  before: readonly StoredAttribute[],
  after: readonly StoredAttribute[],
  v: ProtocolVersion,
): TtlvItem[] | undefined {
  const diff = diffAttributes(before, after);
  const news = (a: StoredAttribute) => a.name !== LAST_CHANGE && visibleInVersion(a, v);
  const changed = diff.changed.filter(news);
  const deleted = diff.deleted.filter(news);
  if (changed.length === 0 && deleted.length === 0) return undefined;
  const lastChange = after.filter((a) => a.name === LAST_CHANGE);
  const out: TtlvItem[] = [ttlv.textString(Tag.UniqueIdentifier, uid)];
  if (v.major >= 2) {
    // 2.x addresses no instance by index: every instance of a changed attribute goes as it is now.
    const names = new Set([...changed, ...deleted].map((a) => a.name));
    out.push(...encodeAttributeList([...after.filter((a) => names.has(a.name)), ...lastChange], v));
    for (const name of names) {
      if (!after.some((a) => a.name === name)) out.push(encodeAttributeReference(name, v));
    }
  } else {
    out.push(...encodeAttributeList([...changed, ...lastChange], v));
    for (const d of deleted) out.push(deletedV1(d));
  }
  return out;
}

function deletedV1(a: StoredAttribute): TtlvStructure {
  const fields: TtlvItem[] = [ttlv.textString(Tag.AttributeName, a.name)];
  if (a.index > 0) fields.push(ttlv.integer(Tag.AttributeIndex, a.index));
  return ttlv.structure(Tag.Attribute, fields);
}

/** The Put payload for a replacement; `body` is the object as Get returns it. */
export function putPayload(
  uid: string,
  replacedUid: string,
  body: TtlvStructure,
  attributes: readonly StoredAttribute[],
  v: ProtocolVersion,
): TtlvItem[] {
  return [
    ttlv.textString(Tag.UniqueIdentifier, uid),
    ttlv.enumeration(Tag.PutFunction, PutFunction.Replace),
    ttlv.textString(Tag.ReplacedUniqueIdentifier, replacedUid),
    body,
    ...encodeAttributeList(attributes, v),
  ];
}

/** One Request Message, Batch Count 1, with nothing newer than the endpoint's version in it. */
export function requestBytes(operation: number, payload: readonly TtlvItem[], v: ProtocolVersion, nowMs: number): Uint8Array {
  const tree = encodeRequestMessage({ version: v, timeStamp: BigInt(Math.floor(nowMs / 1000)) }, [{ operation, payload }]);
  return encodeTtlv(pruneForVersion(tree, v));
}

export interface EndpointAnswer {
  readonly status: number;
  readonly reason?: ReasonValue;
  readonly message?: string;
}

/**
 * The endpoint's answer to one message. A Response Message with one item for the operation is an
 * answer (success or not); anything else is a protocol failure, thrown as Invalid Message.
 */
export function readAnswer(bytes: Uint8Array, operation: number, maxMessageBytes: number): EndpointAnswer {
  const response = readResponseMessage(decodeTtlv(bytes, { maxMessageBytes }));
  const item = response.items[0];
  if (response.items.length !== 1 || item === undefined) throw new KmipError(Reason.InvalidMessage, 'the answer does not hold exactly one batch item');
  if (item.operation !== undefined && item.operation !== operation) {
    throw new KmipError(Reason.InvalidMessage, `the answer is for operation ${item.operation}, not ${operation}`);
  }
  return { status: item.status, reason: item.reason, message: item.message };
}

export function isSuccess(answer: EndpointAnswer): boolean {
  return answer.status === ResultStatus.Success;
}

/** The server-to-client operations this server sends (Query Operations lists them). */
export const SENT_OPERATIONS: readonly number[] = [Operation.Notify, Operation.Put];
