/**
 * KMIP requests and response reading for the load generator, built with the project's own codec
 * (PyKMIP's client costs about 1 ms of CPU per call and would cap the figures it measures).
 * Requests are plain standard KMIP in the client's version's own form (1.x Template-Attribute and
 * Attribute Name/Value, 2.x Attributes with typed tags), so any server can be targeted.
 */
import { decodeTtlv } from '../../ttlv/decode';
import { encodeTtlv } from '../../ttlv/encode';
import { ItemType, ttlv, type TtlvItem, type TtlvStructure } from '../../ttlv/types';
import { Tag } from '../../src/spec/generated/tags';
import {
  BlockCipherMode,
  CryptographicAlgorithm,
  CryptographicUsageMask,
  NameType,
  ObjectType,
  Operation,
  ResultStatus,
  RevocationReasonCode,
} from '../../src/spec/generated/enums';

export interface KmipVersion {
  readonly major: number;
  readonly minor: number;
}

export function parseVersion(text: string): KmipVersion {
  const m = /^(\d+)\.(\d+)$/.exec(text);
  if (!m) throw new Error(`--kmip-version: "${text}" is not MAJOR.MINOR`);
  return { major: Number(m[1]), minor: Number(m[2]) };
}

/** One attribute in version-neutral form: its spec name and its value (tagged as in 2.x). */
interface Attr {
  readonly name: string;
  readonly value: TtlvItem;
}

function v1Attribute(a: Attr): TtlvStructure {
  return ttlv.structure(Tag.Attribute, [ttlv.textString(Tag.AttributeName, a.name), { ...a.value, tag: Tag.AttributeValue }]);
}

function nameAttr(name: string): Attr {
  return {
    name: 'Name',
    value: ttlv.structure(Tag.Name, [
      ttlv.textString(Tag.NameValue, name),
      ttlv.enumeration(Tag.NameType, NameType.UninterpretedTextString),
    ]),
  };
}

function aesAttributes(name: string): Attr[] {
  return [
    { name: 'Cryptographic Algorithm', value: ttlv.enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES) },
    { name: 'Cryptographic Length', value: ttlv.integer(Tag.CryptographicLength, 256) },
    {
      name: 'Cryptographic Usage Mask',
      value: ttlv.integer(Tag.CryptographicUsageMask, CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt),
    },
    nameAttr(name),
  ];
}

export class RequestBuilder {
  constructor(readonly version: KmipVersion) {}

  private message(operation: number, payload: TtlvItem[]): Uint8Array {
    const v = this.version;
    return encodeTtlv(
      ttlv.structure(Tag.RequestMessage, [
        ttlv.structure(Tag.RequestHeader, [
          ttlv.structure(Tag.ProtocolVersion, [
            ttlv.integer(Tag.ProtocolVersionMajor, v.major),
            ttlv.integer(Tag.ProtocolVersionMinor, v.minor),
          ]),
          ttlv.integer(Tag.BatchCount, 1),
        ]),
        ttlv.structure(Tag.BatchItem, [ttlv.enumeration(Tag.Operation, operation), ttlv.structure(Tag.RequestPayload, payload)]),
      ]),
    );
  }

  /** Attributes of a new object: 1.x Template-Attribute, 2.x Attributes. */
  private newObjectAttributes(attrs: readonly Attr[]): TtlvStructure {
    if (this.version.major >= 2) return ttlv.structure(Tag.Attributes, attrs.map((a) => a.value));
    return ttlv.structure(Tag.TemplateAttribute, attrs.map(v1Attribute));
  }

  private uid(uid: string): TtlvItem {
    return ttlv.textString(Tag.UniqueIdentifier, uid);
  }

  /** Create an AES-256 key (Encrypt|Decrypt) named `name`. */
  create(name: string): Uint8Array {
    return this.message(Operation.Create, [
      ttlv.enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
      this.newObjectAttributes(aesAttributes(name)),
    ]);
  }

  get(uid: string): Uint8Array {
    return this.message(Operation.Get, [this.uid(uid)]);
  }

  /** Locate by Name: 1.x Attribute list, 2.x Attributes structure. */
  locateByName(name: string): Uint8Array {
    const attr = nameAttr(name);
    const filter = this.version.major >= 2 ? ttlv.structure(Tag.Attributes, [attr.value]) : v1Attribute(attr);
    return this.message(Operation.Locate, [filter]);
  }

  /** Get Attributes of a few common attributes (State, Cryptographic Algorithm, Length, Name). */
  getAttributes(uid: string): Uint8Array {
    const wanted = [
      { name: 'State', tag: Tag.State },
      { name: 'Cryptographic Algorithm', tag: Tag.CryptographicAlgorithm },
      { name: 'Cryptographic Length', tag: Tag.CryptographicLength },
      { name: 'Name', tag: Tag.Name },
    ];
    const refs =
      this.version.major >= 2
        ? wanted.map((w) => ttlv.enumeration(Tag.AttributeReference, w.tag))
        : wanted.map((w) => ttlv.textString(Tag.AttributeName, w.name));
    return this.message(Operation.GetAttributes, [this.uid(uid), ...refs]);
  }

  /** AES-256-GCM encryption of `data` with a 12-byte IV given by the client and a 16-byte tag. */
  encrypt(uid: string, data: Uint8Array, iv: Uint8Array): Uint8Array {
    return this.message(Operation.Encrypt, [
      this.uid(uid),
      ttlv.structure(Tag.CryptographicParameters, [
        // Spec order (PyKMIP reads the fields in order and refuses any other).
        ttlv.enumeration(Tag.BlockCipherMode, BlockCipherMode.GCM),
        ttlv.enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES),
        ttlv.integer(Tag.TagLength, 16),
      ]),
      ttlv.byteString(Tag.Data, data),
      ttlv.byteString(Tag.IVCounterNonce, iv),
    ]);
  }

  activate(uid: string): Uint8Array {
    return this.message(Operation.Activate, [this.uid(uid)]);
  }

  revoke(uid: string): Uint8Array {
    return this.message(Operation.Revoke, [
      this.uid(uid),
      ttlv.structure(Tag.RevocationReason, [ttlv.enumeration(Tag.RevocationReasonCode, RevocationReasonCode.CessationOfOperation)]),
    ]);
  }

  destroy(uid: string): Uint8Array {
    return this.message(Operation.Destroy, [this.uid(uid)]);
  }
}

export interface ResponseSummary {
  readonly ok: boolean;
  readonly reason?: number;
  readonly message?: string;
  /** Unique Identifier(s) in the payload: Create's new object, Locate's matches. */
  readonly uids: string[];
}

function childOf(s: TtlvStructure, tag: number): TtlvItem | undefined {
  return s.value.find((c) => c.tag === tag);
}

/** Reads the first batch item's outcome. A response that does not decode counts as a failure. */
export function summarise(bytes: Uint8Array): ResponseSummary {
  let root: TtlvItem;
  try {
    root = decodeTtlv(bytes);
  } catch (e) {
    return { ok: false, message: `undecodable response: ${(e as Error).message}`, uids: [] };
  }
  if (root.type !== ItemType.Structure || root.tag !== Tag.ResponseMessage) {
    return { ok: false, message: 'not a Response Message', uids: [] };
  }
  const item = childOf(root, Tag.BatchItem);
  if (!item || item.type !== ItemType.Structure) return { ok: false, message: 'no batch item', uids: [] };
  const status = childOf(item, Tag.ResultStatus);
  const reason = childOf(item, Tag.ResultReason);
  const message = childOf(item, Tag.ResultMessage);
  const payload = childOf(item, Tag.ResponsePayload);
  const uids: string[] = [];
  if (payload && payload.type === ItemType.Structure) {
    for (const c of payload.value) if (c.tag === Tag.UniqueIdentifier && c.type === ItemType.TextString) uids.push(c.value);
  }
  return {
    ok: status?.type === ItemType.Enumeration && status.value === ResultStatus.Success,
    reason: reason?.type === ItemType.Enumeration ? reason.value : undefined,
    message: message?.type === ItemType.TextString ? message.value : undefined,
    uids,
  };
}
