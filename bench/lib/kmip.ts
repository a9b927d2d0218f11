/**
 * KMIP requests and response reading for the load generator, through the client library's
 * message and payload functions (PyKMIP's client costs about 1 ms of CPU per call and would cap
 * the figures it measures). Requests are plain standard KMIP in the client's version's own form
 * (1.x Template-Attribute and Attribute Name/Value, 2.x Attributes with typed tags), so any server
 * can be targeted.
 */
import { ttlv, type TtlvItem } from '../../ttlv/types';
import { Tag } from '../../src/spec/generated/tags';
import {
  BlockCipherMode,
  CryptographicAlgorithm,
  CryptographicUsageMask,
  ObjectType,
  Operation,
  ResultStatus,
  RevocationReasonCode,
} from '../../src/spec/generated/enums';
import {
  attribute,
  attributeReferences,
  cryptographicParameters,
  decodeResponse,
  encodeRequest,
  locateFilter,
  nameAttribute,
  newObjectAttributes,
  type DecodedResponse,
  type KmipAttribute,
} from '../../src/client';

export interface KmipVersion {
  readonly major: number;
  readonly minor: number;
}

export function parseVersion(text: string): KmipVersion {
  const m = /^(\d+)\.(\d+)$/.exec(text);
  if (!m) throw new Error(`--kmip-version: "${text}" is not MAJOR.MINOR`);
  return { major: Number(m[1]), minor: Number(m[2]) };
}

function aesAttributes(name: string): KmipAttribute[] {
  return [
    attribute('Cryptographic Algorithm', CryptographicAlgorithm.AES),
    attribute('Cryptographic Length', 256),
    attribute('Cryptographic Usage Mask', CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt),
    nameAttribute(name),
  ];
}

export class RequestBuilder {
  constructor(readonly version: KmipVersion) {}

  private message(operation: number, payload: TtlvItem[]): Uint8Array {
    return encodeRequest(this.version, [{ operation, payload }]);
  }

  private uid(uid: string): TtlvItem {
    return ttlv.textString(Tag.UniqueIdentifier, uid);
  }

  /** Create an AES-256 key (Encrypt|Decrypt) named `name`. */
  create(name: string): Uint8Array {
    return this.message(Operation.Create, [ttlv.enumeration(Tag.ObjectType, ObjectType.SymmetricKey), newObjectAttributes(this.version, aesAttributes(name))]);
  }

  get(uid: string): Uint8Array {
    return this.message(Operation.Get, [this.uid(uid)]);
  }

  /** Locate by Name: 1.x Attribute list, 2.x Attributes structure. */
  locateByName(name: string): Uint8Array {
    return this.message(Operation.Locate, locateFilter(this.version, [nameAttribute(name)]));
  }

  /** Get Attributes of a few common attributes (State, Cryptographic Algorithm, Length, Name). */
  getAttributes(uid: string): Uint8Array {
    const refs = attributeReferences(this.version, ['State', 'Cryptographic Algorithm', 'Cryptographic Length', 'Name']);
    return this.message(Operation.GetAttributes, [this.uid(uid), ...refs]);
  }

  /** AES-256-GCM encryption of `data` with a 12-byte IV given by the client and a 16-byte tag. */
  encrypt(uid: string, data: Uint8Array, iv: Uint8Array): Uint8Array {
    return this.message(Operation.Encrypt, [
      this.uid(uid),
      cryptographicParameters({ blockCipherMode: BlockCipherMode.GCM, cryptographicAlgorithm: CryptographicAlgorithm.AES, tagLength: 16 }),
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

/** Reads the first batch item's outcome. A response that does not decode counts as a failure. */
export function summarise(bytes: Uint8Array): ResponseSummary {
  let response: DecodedResponse;
  try {
    response = decodeResponse(bytes);
  } catch (e) {
    return { ok: false, message: (e as Error).message, uids: [] };
  }
  const item = response.items[0];
  if (!item) return { ok: false, message: 'no batch item', uids: [] };
  const uids: string[] = [];
  for (const c of item.payload ?? []) if (c.tag === Tag.UniqueIdentifier && typeof c.value === 'string') uids.push(c.value);
  return { ok: item.status === ResultStatus.Success, reason: item.reason, message: item.message, uids };
}
