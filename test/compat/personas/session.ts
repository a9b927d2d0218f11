/**
 * What a persona script works with: a connection speaking one KMIP version over real mutual TLS,
 * request builders in that version's own form, and readers for the answers. Every response is
 * checked for what any client of that version relies on: the header carries the client's version,
 * the batch has as many items as were sent, and nothing in it is newer than the version.
 */
import { ttlv, ItemType, type TtlvItem, type TtlvStructure } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import {
  CryptographicAlgorithm,
  CredentialType,
  CryptographicUsageMask,
  KeyFormatType,
  NameType,
  ObjectType,
  Operation,
  ResultStatus,
  RevocationReasonCode,
  State,
} from '../../../src/spec/generated/enums';
import type { ProtocolVersion } from '../../../src/spec/versions';
import { attributeFromV1, attributeFromV2, attributeToV1, attributeToV2, encodeAttributeReference, type KmipAttribute } from '../../../src/kmip/attributes';
import { findNewerThan } from '../../../src/kmip/version-filter';
import { tagLabel } from '../../../src/kmip/tree';
import type { KmipTlsClient } from '../../helpers/tls-client';
import { allOf, attributesFor, find, parseResponse, requestMessage, textOf, type BatchItemRequest, type BatchItemResponse, type ParsedResponse } from '../../helpers/kmip-client';

export type Connect = () => Promise<KmipTlsClient>;

const RESPONSE_HEADER_ORDER = [
  Tag.ProtocolVersion,
  Tag.TimeStamp,
  Tag.Nonce,
  Tag.AttestationType,
  Tag.ClientCorrelationValue,
  Tag.ServerCorrelationValue,
  Tag.BatchCount,
];
const BATCH_ITEM_ORDER = [
  Tag.Operation,
  Tag.UniqueBatchItemID,
  Tag.ResultStatus,
  Tag.ResultReason,
  Tag.ResultMessage,
  Tag.AsynchronousCorrelationValue,
  Tag.ResponsePayload,
  Tag.MessageExtension,
];
/** A Key Block as 1.x Table 8 orders it (Key Wrapping Data last). */
export const KEY_BLOCK_ORDER = [
  Tag.KeyFormatType,
  Tag.KeyCompressionType,
  Tag.KeyValue,
  Tag.CryptographicAlgorithm,
  Tag.CryptographicLength,
  Tag.KeyWrappingData,
];

/** Every child is one of `order`'s tags, and they come in that order (repeats allowed). */
export function expectSpecOrder(item: TtlvItem | undefined, order: readonly number[]): void {
  if (item === undefined || item.type !== ItemType.Structure) throw new Error(`expected a Structure to check the order of`);
  let at = 0;
  for (const c of item.value) {
    const i = order.indexOf(c.tag);
    if (i < 0) throw new Error(`${tagLabel(item.tag)} holds ${tagLabel(c.tag)}, which it does not define`);
    if (i < at) throw new Error(`${tagLabel(item.tag)}: ${tagLabel(c.tag)} comes after ${tagLabel(order[at]!)}`);
    at = i;
  }
}

/** What a flow gets: its persona's session, state shared between the persona's flows, the server. */
export interface FlowContext {
  readonly s: PersonaSession;
  /** Values earlier flows of the same persona left for later ones (identifiers, names). */
  readonly state: Map<string, string>;
  /** Stops the server and starts it again on the same data directory (store, token, PKI). */
  restartServer(): Promise<void>;
  /** A further session of the same client identity in another version (e.g. a legacy mode). */
  session(v: ProtocolVersion): PersonaSession;
  /** The client's TLS credentials and the server's port, for checks below KMIP (session resumption). */
  tlsMaterial(): { port: number; ca: Buffer; cert: Buffer; key: Buffer };
  /** A string unique to this run, for names. */
  readonly runId: string;
}

export interface PersonaFlow {
  readonly name: string;
  /** The version the flow speaks, when not the persona's (a client's other mode); the matrix files it there. */
  readonly version?: ProtocolVersion;
  run(ctx: FlowContext): Promise<void>;
}

export interface Persona {
  /** The client's name as the matrix shows it. */
  readonly client: string;
  /** The certificate CN it connects as (default: made from `client`); personas of one client share it. */
  readonly identity?: string;
  readonly version: ProtocolVersion;
  /** Where the facts come from, with any fact treated as a hint only. */
  readonly source: string;
  /** A client that opens a new TLS connection for every request (libmongocrypt, VAST over HTTPS). */
  readonly connectionPerRequest?: boolean;
  /** Request header fields the client always sends (after Protocol Version, before Batch Count). */
  readonly header?: () => TtlvItem[];
  readonly flows: readonly PersonaFlow[];
}

/** The versions a Discover Versions payload lists, as "major.minor", in the server's order. */
export function versionsOf(payload: TtlvStructure): string[] {
  return allOf(payload, Tag.ProtocolVersion).map((pv) => {
    const s = pv as TtlvStructure;
    const major = find(s, Tag.ProtocolVersionMajor) as { value: number };
    const minor = find(s, Tag.ProtocolVersionMinor) as { value: number };
    return `${major.value}.${minor.value}`;
  });
}

/** A request header's Authentication with a Username and Password credential (1.0 on). */
export function usernamePasswordAuthentication(username: string, password: string): TtlvItem {
  return ttlv.structure(Tag.Authentication, [
    ttlv.structure(Tag.Credential, [
      ttlv.enumeration(Tag.CredentialType, CredentialType.UsernameAndPassword),
      ttlv.structure(Tag.CredentialValue, [ttlv.textString(Tag.Username, username), ttlv.textString(Tag.Password, password)]),
    ]),
  ]);
}

export function versionText(v: ProtocolVersion): string {
  return `${v.major}.${v.minor}`;
}

/** A failed KMIP operation, with the server's reason and message. */
export class OperationFailed extends Error {
  constructor(
    readonly operation: number,
    readonly item: BatchItemResponse,
  ) {
    super(`${operationName(operation)} failed: status ${item.status}, reason ${item.reason}: ${item.message ?? ''}`);
  }
}

function operationName(op: number): string {
  return Object.entries(Operation).find(([, v]) => v === op)?.[0] ?? `operation 0x${op.toString(16)}`;
}

export class PersonaSession {
  private client: KmipTlsClient | undefined;

  constructor(
    readonly version: ProtocolVersion,
    private readonly connect: Connect,
    private readonly connectionPerRequest = false,
    private readonly defaultHeader: () => TtlvItem[] = () => [],
  ) {}

  /** Sends one message; checks header version, batch count and that nothing is newer than the version. */
  async send(items: readonly BatchItemRequest[], header: readonly TtlvItem[] = []): Promise<ParsedResponse> {
    const message = requestMessage(this.version, items, [...this.defaultHeader(), ...header]);
    let bytes: Uint8Array;
    if (this.connectionPerRequest) {
      const c = await this.connect();
      try {
        bytes = await c.request(message);
      } finally {
        c.close();
      }
    } else {
      this.client ??= await this.connect();
      bytes = await this.client.request(message);
    }
    const r = parseResponse(bytes);
    if (r.version.major !== this.version.major || r.version.minor !== this.version.minor) {
      throw new Error(`response header says ${versionText(r.version)}, the client speaks ${versionText(this.version)}`);
    }
    // Fields in the order the spec's tables give: sequential decoders (libkmip) read them so.
    expectSpecOrder(find(r.root, Tag.ResponseHeader), RESPONSE_HEADER_ORDER);
    for (const bi of allOf(r.root, Tag.BatchItem)) expectSpecOrder(bi, BATCH_ITEM_ORDER);
    const newer = findNewerThan(r.root, this.version);
    if (newer.length > 0) throw new Error(`response carries what ${versionText(this.version)} lacks: ${newer.join(', ')}`);
    if (r.items.length !== items.length) throw new Error(`sent ${items.length} batch items, got ${r.items.length} back`);
    return r;
  }

  /** One operation that must succeed; returns its response payload. */
  async call(operation: number, payload: readonly TtlvItem[], header: readonly TtlvItem[] = []): Promise<TtlvStructure> {
    const r = await this.send([{ operation, payload }], header);
    const item = r.items[0]!;
    if (item.status !== ResultStatus.Success) throw new OperationFailed(operation, item);
    // Operation is required in a response item when the request item named it (1.0 Table 21 on);
    // libkmip-based clients reject the answer without it.
    if (item.operation !== operation) throw new Error(`answered operation ${item.operation} to ${operationName(operation)}`);
    return item.payload ?? ttlv.structure(Tag.ResponsePayload, []);
  }

  /** One operation that must fail; returns the failed item (status, reason, message). */
  async refused(operation: number, payload: readonly TtlvItem[]): Promise<BatchItemResponse> {
    const r = await this.send([{ operation, payload }]);
    const item = r.items[0]!;
    if (item.status === ResultStatus.Success) throw new Error(`${operationName(operation)} succeeded where the client expects a refusal`);
    return item;
  }

  close(): void {
    this.client?.close();
    this.client = undefined;
  }

  // --- request payloads in this session's version ---------------------------------------------

  attributes(attrs: readonly KmipAttribute[]): TtlvItem {
    return attributesFor(this.version, attrs);
  }

  uidPayload(uid: string): TtlvItem[] {
    return [ttlv.textString(Tag.UniqueIdentifier, uid)];
  }

  createSymmetric(bits: number, extra: readonly KmipAttribute[] = [], algorithm: number = CryptographicAlgorithm.AES): TtlvItem[] {
    return [
      ttlv.enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
      this.attributes([
        attr.algorithm(algorithm),
        attr.length(bits),
        attr.usage(CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt),
        ...extra,
      ]),
    ];
  }

  registerSymmetric(
    key: Uint8Array,
    extra: readonly KmipAttribute[] = [],
    usage: number = CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt,
    algorithm: number = CryptographicAlgorithm.AES,
  ): TtlvItem[] {
    return [
      ttlv.enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
      this.attributes([attr.usage(usage), ...extra]),
      ttlv.structure(Tag.SymmetricKey, [
        ttlv.structure(Tag.KeyBlock, [
          ttlv.enumeration(Tag.KeyFormatType, KeyFormatType.Raw),
          ttlv.structure(Tag.KeyValue, [ttlv.byteString(Tag.KeyMaterial, key)]),
          ttlv.enumeration(Tag.CryptographicAlgorithm, algorithm),
          ttlv.integer(Tag.CryptographicLength, key.length * 8),
        ]),
      ]),
    ];
  }

  /** Register Secret Data (Opaque key format, as clients send it). */
  registerSecret(data: Uint8Array, secretType: number, extra: readonly KmipAttribute[] = [], usage?: number): TtlvItem[] {
    return [
      ttlv.enumeration(Tag.ObjectType, ObjectType.SecretData),
      this.attributes([...(usage === undefined ? [] : [attr.usage(usage)]), ...extra]),
      ttlv.structure(Tag.SecretData, [
        ttlv.enumeration(Tag.SecretDataType, secretType),
        ttlv.structure(Tag.KeyBlock, [
          ttlv.enumeration(Tag.KeyFormatType, KeyFormatType.Opaque),
          ttlv.structure(Tag.KeyValue, [ttlv.byteString(Tag.KeyMaterial, data)]),
        ]),
      ]),
    ];
  }

  /** Get Attributes naming the attributes (1.x Attribute Name, 2.x Attribute Reference); none: all. */
  getAttributes(uid: string | undefined, names: readonly string[] = []): TtlvItem[] {
    return [
      ...(uid === undefined ? [] : [ttlv.textString(Tag.UniqueIdentifier, uid)]),
      ...names.map((n) => encodeAttributeReference(n, this.version)),
    ];
  }

  /** Locate by attributes, with paging (Maximum Items; Offset Items from 1.3). */
  locate(attrs: readonly KmipAttribute[], paging: { maximum?: number; offset?: number } = {}): TtlvItem[] {
    const out: TtlvItem[] = [];
    if (paging.maximum !== undefined) out.push(ttlv.integer(Tag.MaximumItems, paging.maximum));
    if (paging.offset !== undefined) out.push(ttlv.integer(Tag.OffsetItems, paging.offset));
    if (this.version.major >= 2) out.push(ttlv.structure(Tag.Attributes, attrs.map(attributeToV2)));
    else out.push(...attrs.map((a) => attributeToV1(a)));
    return out;
  }

  /** 1.x Add/Modify Attribute payload; 2.x uses New Attribute. */
  attributeEdit(uid: string, a: KmipAttribute): TtlvItem[] {
    if (this.version.major >= 2) return [ttlv.textString(Tag.UniqueIdentifier, uid), ttlv.structure(Tag.NewAttribute, [attributeToV2(a)])];
    return [ttlv.textString(Tag.UniqueIdentifier, uid), attributeToV1(a)];
  }

  /** Discover Versions offering `offered` (none: ask for every version the server speaks). */
  discoverVersions(offered: readonly ProtocolVersion[] = []): TtlvItem[] {
    return offered.map((v) =>
      ttlv.structure(Tag.ProtocolVersion, [ttlv.integer(Tag.ProtocolVersionMajor, v.major), ttlv.integer(Tag.ProtocolVersionMinor, v.minor)]),
    );
  }

  /** Get, optionally asking for a Key Format Type. */
  get(uid: string | undefined, format?: number): TtlvItem[] {
    return [
      ...(uid === undefined ? [] : [ttlv.textString(Tag.UniqueIdentifier, uid)]),
      ...(format === undefined ? [] : [ttlv.enumeration(Tag.KeyFormatType, format)]),
    ];
  }

  /** Get Attributes, returning the attributes read back (and checking the identifier echoed). */
  async attributesOf(uid: string, names: readonly string[] = []): Promise<KmipAttribute[]> {
    const p = await this.call(Operation.GetAttributes, this.getAttributes(uid, names));
    if (uidOf(p) !== uid) throw new Error(`Get Attributes answered for ${uidOf(p)}, asked about ${uid}`);
    return this.readAttributes(p);
  }

  revoke(uid: string, code: number = RevocationReasonCode.CessationOfOperation): TtlvItem[] {
    return [ttlv.textString(Tag.UniqueIdentifier, uid), ttlv.structure(Tag.RevocationReason, [ttlv.enumeration(Tag.RevocationReasonCode, code)])];
  }

  // --- reading answers ---------------------------------------------------------------------------

  /** The attributes of a Get Attributes (or Add/Modify Attribute) payload, in canonical form. */
  readAttributes(payload: TtlvStructure): KmipAttribute[] {
    if (this.version.major >= 2) {
      const attrs = find(payload, Tag.Attributes);
      if (attrs === undefined || attrs.type !== ItemType.Structure) return [];
      return attrs.value.map(attributeFromV2);
    }
    const v1 = allOf(payload, Tag.Attribute).map(attributeFromV1);
    return v1;
  }
}

// --- attribute builders (canonical form: value under the attribute's own tag) ----------------------

export const attr = {
  algorithm: (a: number): KmipAttribute => ({ name: 'Cryptographic Algorithm', value: ttlv.enumeration(Tag.CryptographicAlgorithm, a) }),
  length: (bits: number): KmipAttribute => ({ name: 'Cryptographic Length', value: ttlv.integer(Tag.CryptographicLength, bits) }),
  usage: (mask: number): KmipAttribute => ({ name: 'Cryptographic Usage Mask', value: ttlv.integer(Tag.CryptographicUsageMask, mask) }),
  name: (text: string): KmipAttribute => ({
    name: 'Name',
    value: ttlv.structure(Tag.Name, [ttlv.textString(Tag.NameValue, text), ttlv.enumeration(Tag.NameType, NameType.UninterpretedTextString)]),
  }),
  objectGroup: (g: string): KmipAttribute => ({ name: 'Object Group', value: ttlv.textString(Tag.ObjectGroup, g) }),
  operationPolicyName: (p: string): KmipAttribute => ({ name: 'Operation Policy Name', value: ttlv.textString(Tag.OperationPolicyName, p) }),
  objectType: (t: number): KmipAttribute => ({ name: 'Object Type', value: ttlv.enumeration(Tag.ObjectType, t) }),
  state: (st: number): KmipAttribute => ({ name: 'State', value: ttlv.enumeration(Tag.State, st) }),
  /** A 1.x custom attribute (2.x: Vendor Attribute with vendor "x"). */
  custom: (name: string, text: string): KmipAttribute => ({ name, value: ttlv.textString(Tag.AttributeValue, text) }),
};

export function uidOf(payload: TtlvStructure): string {
  const uid = textOf(payload, Tag.UniqueIdentifier);
  if (uid === undefined) throw new Error(`payload has no Unique Identifier: ${payload.value.map((c) => tagLabel(c.tag)).join(', ')}`);
  return uid;
}

export function uidsOf(payload: TtlvStructure): string[] {
  return allOf(payload, Tag.UniqueIdentifier).map((i) => (i.type === ItemType.TextString ? i.value : String(i.value)));
}

export function attributeValue(attrs: readonly KmipAttribute[], name: string): TtlvItem | undefined {
  return attrs.find((a) => a.name === name)?.value;
}

export function stateOf(attrs: readonly KmipAttribute[]): number {
  const v = attributeValue(attrs, 'State');
  if (v === undefined || v.type !== ItemType.Enumeration) throw new Error('no State among the attributes');
  return v.value;
}

export function namesOf(attrs: readonly KmipAttribute[]): string[] {
  return attrs
    .filter((a) => a.name === 'Name' && a.value.type === ItemType.Structure)
    .map((a) => textOf(a.value as TtlvStructure, Tag.NameValue) ?? '');
}

/** The Key Material bytes of a Get payload, whatever the object (Raw/Opaque formats). */
export function keyBlockOf(getPayload: TtlvStructure, objectTag: number): { format: number; material: TtlvItem; block: TtlvStructure } {
  // Get Response Payload and Key Block in their tables' order (1.x Tables 8 and 128).
  expectSpecOrder(getPayload, [Tag.ObjectType, Tag.UniqueIdentifier, objectTag]);
  const obj = find(getPayload, objectTag);
  if (obj === undefined || obj.type !== ItemType.Structure) throw new Error(`Get returned no ${tagLabel(objectTag)}`);
  const kb = find(obj, Tag.KeyBlock);
  if (kb === undefined || kb.type !== ItemType.Structure) throw new Error('no Key Block');
  expectSpecOrder(kb, KEY_BLOCK_ORDER);
  const fmt = find(kb, Tag.KeyFormatType);
  const kv = find(kb, Tag.KeyValue);
  if (kv === undefined || kv.type !== ItemType.Structure) throw new Error('Key Value is not a Structure');
  const km = find(kv, Tag.KeyMaterial);
  if (km === undefined) throw new Error('no Key Material');
  return { format: fmt?.type === ItemType.Enumeration ? fmt.value : -1, material: km, block: kb };
}

export function bytesOf(item: TtlvItem): Buffer {
  if (item.type !== ItemType.ByteString) throw new Error(`${tagLabel(item.tag)} is not a Byte String`);
  return Buffer.from(item.value);
}

export { State, KeyFormatType, ObjectType, Operation, CryptographicAlgorithm, CryptographicUsageMask };
