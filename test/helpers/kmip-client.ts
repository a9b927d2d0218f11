/**
 * Builds KMIP request messages and reads responses for tests, at the tree level, through the
 * client library's message functions. Works for 1.x and 2.x.
 */
import { ItemType, ttlv, type TtlvItem, type TtlvStructure } from '../../ttlv/types';
import { Tag } from '../../src/spec/generated/tags';
import { CryptographicAlgorithm, KeyFormatType, ObjectType, ResultStatus } from '../../src/spec/generated/enums';
import type { ProtocolVersion } from '../../src/spec/versions';
import { decodeResponse, encodeRequest, newObjectAttributes, type BatchItem, type KmipAttribute } from '../../src/client';

export type BatchItemRequest = BatchItem;

/** A Request Message; `header`: Request Header fields after the Protocol Version. No Time Stamp, so the bytes are the same each time. */
export function requestMessage(v: ProtocolVersion, items: readonly BatchItemRequest[], header: readonly TtlvItem[] = []): Uint8Array {
  return encodeRequest(v, items, { header });
}

/** Attributes for a new object in the version's own form. */
export function attributesFor(v: ProtocolVersion, attrs: readonly KmipAttribute[]): TtlvItem {
  return newObjectAttributes(v, attrs);
}

export interface BatchItemResponse {
  readonly operation?: number;
  readonly status: number;
  readonly reason?: number;
  readonly message?: string;
  readonly payload?: TtlvStructure;
}

export interface ParsedResponse {
  readonly root: TtlvStructure;
  readonly version: ProtocolVersion;
  readonly items: BatchItemResponse[];
}

function find(s: TtlvStructure, tag: number): TtlvItem | undefined {
  return s.value.find((c) => c.tag === tag);
}

export function parseResponse(bytes: Uint8Array): ParsedResponse {
  const { root, version, items } = decodeResponse(bytes);
  return {
    root,
    version,
    items: items.map((i) => ({
      operation: i.operation,
      status: i.status,
      reason: i.reason,
      message: i.message,
      payload: i.payload === undefined ? undefined : ttlv.structure(Tag.ResponsePayload, [...i.payload]),
    })),
  };
}

/** The one batch item's payload, failing the test with the server's reason otherwise. */
export function successPayload(r: ParsedResponse): TtlvStructure {
  const item = r.items[0];
  if (!item) throw new Error('response has no batch item');
  if (item.status !== ResultStatus.Success) throw new Error(`operation failed: reason ${item.reason}: ${item.message}`);
  return item.payload ?? ttlv.structure(Tag.ResponsePayload, []);
}

export function textOf(s: TtlvStructure, tag: number): string | undefined {
  const i = find(s, tag);
  return i && i.type === ItemType.TextString ? i.value : undefined;
}

export function allOf(s: TtlvStructure, tag: number): TtlvItem[] {
  return s.value.filter((c) => c.tag === tag);
}

export { find };

/** A 1.x Register payload: an AES key in Raw format, no further attributes. */
export function registerAesPayload(key: Uint8Array): TtlvItem[] {
  return [
    ttlv.enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
    ttlv.structure(Tag.TemplateAttribute, []),
    ttlv.structure(Tag.SymmetricKey, [
      ttlv.structure(Tag.KeyBlock, [
        ttlv.enumeration(Tag.KeyFormatType, KeyFormatType.Raw),
        ttlv.structure(Tag.KeyValue, [ttlv.byteString(Tag.KeyMaterial, key)]),
        ttlv.enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES),
        ttlv.integer(Tag.CryptographicLength, key.length * 8),
      ]),
    ]),
  ];
}

/** The key bytes of a Get payload holding a Symmetric Key. */
export function symmetricKeyMaterial(getPayload: TtlvStructure): Buffer {
  const sk = find(getPayload, Tag.SymmetricKey) as TtlvStructure;
  const kb = find(sk, Tag.KeyBlock) as TtlvStructure;
  const kv = find(kb, Tag.KeyValue) as TtlvStructure;
  return Buffer.from((find(kv, Tag.KeyMaterial) as { value: Uint8Array }).value);
}
