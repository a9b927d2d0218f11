/**
 * Builds KMIP request messages and reads responses for tests, at the tree level, using the
 * project's codec. Works for 1.x and 2.x.
 */
import { decodeTtlv } from '../../ttlv/decode';
import { encodeTtlv } from '../../ttlv/encode';
import { ItemType, ttlv, type TtlvItem, type TtlvStructure } from '../../ttlv/types';
import { Tag } from '../../src/spec/generated/tags';
import { CryptographicAlgorithm, KeyFormatType, ObjectType, ResultStatus } from '../../src/spec/generated/enums';
import type { ProtocolVersion } from '../../src/spec/versions';
import { attributeToV1, attributeToV2, type KmipAttribute } from '../../src/kmip/attributes';

export interface BatchItemRequest {
  readonly operation: number;
  readonly payload: readonly TtlvItem[];
}

export function requestMessage(v: ProtocolVersion, items: readonly BatchItemRequest[], header: readonly TtlvItem[] = []): Uint8Array {
  return encodeTtlv(
    ttlv.structure(Tag.RequestMessage, [
      ttlv.structure(Tag.RequestHeader, [
        ttlv.structure(Tag.ProtocolVersion, [
          ttlv.integer(Tag.ProtocolVersionMajor, v.major),
          ttlv.integer(Tag.ProtocolVersionMinor, v.minor),
        ]),
        ...header,
        ttlv.integer(Tag.BatchCount, items.length),
      ]),
      ...items.map((i) =>
        ttlv.structure(Tag.BatchItem, [
          ttlv.enumeration(Tag.Operation, i.operation),
          ttlv.structure(Tag.RequestPayload, [...i.payload]),
        ]),
      ),
    ]),
  );
}

/** Attributes for a new object in the version's own form. */
export function attributesFor(v: ProtocolVersion, attrs: readonly KmipAttribute[]): TtlvItem {
  if (v.major >= 2) return ttlv.structure(Tag.Attributes, attrs.map(attributeToV2));
  return ttlv.structure(Tag.TemplateAttribute, attrs.map((a) => attributeToV1(a)));
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
  const root = decodeTtlv(bytes);
  if (root.type !== ItemType.Structure || root.tag !== Tag.ResponseMessage) throw new Error('not a Response Message');
  const header = find(root, Tag.ResponseHeader) as TtlvStructure;
  const pv = find(header, Tag.ProtocolVersion) as TtlvStructure;
  const version = {
    major: (find(pv, Tag.ProtocolVersionMajor) as { value: number }).value,
    minor: (find(pv, Tag.ProtocolVersionMinor) as { value: number }).value,
  };
  const items = root.value
    .filter((c): c is TtlvStructure => c.tag === Tag.BatchItem && c.type === ItemType.Structure)
    .map((bi) => ({
      operation: (find(bi, Tag.Operation) as { value: number } | undefined)?.value,
      status: (find(bi, Tag.ResultStatus) as { value: number }).value,
      reason: (find(bi, Tag.ResultReason) as { value: number } | undefined)?.value,
      message: (find(bi, Tag.ResultMessage) as { value: string } | undefined)?.value,
      payload: find(bi, Tag.ResponsePayload) as TtlvStructure | undefined,
    }));
  return { root, version, items };
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
