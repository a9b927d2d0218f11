/**
 * Response payloads read into typed results. Each result keeps the payload it was read from, for
 * the fields a caller needs that the typed form leaves out.
 */
import { ItemType, type TtlvItem, type TtlvStructure } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { ObjectType, ValidityIndicator } from '../spec/generated/enums';
import type { ProtocolVersion } from '../spec/versions';
import { attributeFromV1, attributeFromV2, readAttributeReference, type KmipAttribute } from '../kmip/attributes';
import { readProtocolVersion } from '../kmip/message';
import { asEnumeration, asStructure, asText, child, children, opt, req } from '../kmip/tree';

/** The tag of each object type's managed object (Symmetric Key, Certificate, ...): the same names. */
const OBJECT_TAG: ReadonlyMap<number, number> = new Map(
  Object.entries(ObjectType).flatMap(([name, value]) => {
    const tag = (Tag as Readonly<Record<string, number>>)[name];
    return tag === undefined ? [] : [[value, tag] as const];
  }),
);

export function objectTagOf(objectType: number): number {
  const tag = OBJECT_TAG.get(objectType);
  if (tag === undefined) throw new TypeError(`object type ${objectType} has no managed-object tag`);
  return tag;
}

export interface PayloadResult {
  /** The Response Payload as the server sent it. */
  readonly payload: TtlvStructure;
}

export interface IdentifierResult extends PayloadResult {
  readonly uniqueIdentifier: string;
}

export interface CreateResult extends IdentifierResult {
  readonly objectType: number;
}

export interface CreateKeyPairResult extends PayloadResult {
  readonly privateKeyUniqueIdentifier: string;
  readonly publicKeyUniqueIdentifier: string;
}

export interface KeyBlockResult {
  readonly keyFormatType: number;
  /** The key bytes where the Key Material is a Byte String (Raw, PKCS#8, X.509, ...); a structure for Transparent formats. */
  readonly keyMaterial: Uint8Array | TtlvStructure | undefined;
  readonly cryptographicAlgorithm?: number;
  readonly cryptographicLength?: number;
  /** Wrapped material: the Key Wrapping Data the server sent with it. */
  readonly keyWrappingData?: TtlvStructure;
}

export interface GetResult extends IdentifierResult {
  readonly objectType: number;
  /** The managed object (Symmetric Key, Certificate, ...). */
  readonly object: TtlvStructure;
  /** Keys, Secret Data and Split Keys carry a Key Block. */
  readonly keyBlock?: KeyBlockResult;
  /** Certificate Value, or an Opaque Object's Opaque Data Value. */
  readonly value?: Uint8Array;
}

export interface GetAttributesResult extends IdentifierResult {
  readonly attributes: KmipAttribute[];
}

export interface GetAttributeListResult extends IdentifierResult {
  readonly names: string[];
}

export interface LocateResult extends PayloadResult {
  readonly uniqueIdentifiers: string[];
  /** How many objects matched in all (1.3 and later), where the server says. */
  readonly locatedItems?: number;
}

export interface EncryptResult extends IdentifierResult {
  readonly data: Uint8Array;
  readonly ivCounterNonce?: Uint8Array;
  readonly authenticatedEncryptionTag?: Uint8Array;
}

export interface EncapsulateResult extends IdentifierResult {
  readonly sharedSecret: Uint8Array;
  readonly cipherText: Uint8Array;
}

export interface DecryptResult extends IdentifierResult {
  readonly data: Uint8Array;
}

export interface SignResult extends IdentifierResult {
  readonly signature: Uint8Array;
}

export interface SignatureVerifyResult extends IdentifierResult {
  readonly valid: boolean;
  readonly validityIndicator: number;
}

export interface MacResult extends IdentifierResult {
  readonly macData: Uint8Array;
}

export interface QueryResult extends PayloadResult {
  readonly operations: number[];
  readonly objectTypes: number[];
  readonly vendorIdentification?: string;
  readonly serverInformation?: TtlvStructure;
}

export function identifierResult(payload: TtlvStructure): IdentifierResult {
  return { payload, uniqueIdentifier: req.text(payload, Tag.UniqueIdentifier) };
}

export function createResult(payload: TtlvStructure): CreateResult {
  return { ...identifierResult(payload), objectType: req.enumeration(payload, Tag.ObjectType) };
}

export function createKeyPairResult(payload: TtlvStructure): CreateKeyPairResult {
  return {
    payload,
    privateKeyUniqueIdentifier: req.text(payload, Tag.PrivateKeyUniqueIdentifier),
    publicKeyUniqueIdentifier: req.text(payload, Tag.PublicKeyUniqueIdentifier),
  };
}

function keyBlockOf(block: TtlvStructure): KeyBlockResult {
  const value = child(block, Tag.KeyValue);
  // A wrapped key's Key Value is a Byte String in some encodings; a plain one holds Key Material.
  const material = value === undefined ? undefined : value.type === ItemType.ByteString ? value : child(asStructure(value), Tag.KeyMaterial);
  return {
    keyFormatType: req.enumeration(block, Tag.KeyFormatType),
    keyMaterial: material === undefined ? undefined : material.type === ItemType.ByteString ? material.value : asStructure(material),
    cryptographicAlgorithm: opt.enumeration(block, Tag.CryptographicAlgorithm),
    cryptographicLength: opt.integer(block, Tag.CryptographicLength),
    keyWrappingData: opt.structure(block, Tag.KeyWrappingData),
  };
}

export function getResult(payload: TtlvStructure): GetResult {
  const objectType = req.enumeration(payload, Tag.ObjectType);
  const object = req.structure(payload, objectTagOf(objectType));
  const block = opt.structure(object, Tag.KeyBlock);
  return {
    ...identifierResult(payload),
    objectType,
    object,
    ...(block === undefined ? {} : { keyBlock: keyBlockOf(block) }),
    value: opt.bytes(object, Tag.CertificateValue) ?? opt.bytes(object, Tag.OpaqueDataValue),
  };
}

/** 1.x: one Attribute item each; 2.x: one Attributes structure of typed items. */
export function getAttributesResult(payload: TtlvStructure, v: ProtocolVersion): GetAttributesResult {
  const attributes =
    v.major >= 2 ? (opt.structure(payload, Tag.Attributes)?.value ?? []).map(attributeFromV2) : children(payload, Tag.Attribute).map(attributeFromV1);
  return { ...identifierResult(payload), attributes };
}

export function getAttributeListResult(payload: TtlvStructure): GetAttributeListResult {
  const names = payload.value.filter((c) => c.tag === Tag.AttributeName || c.tag === Tag.AttributeReference).map(readAttributeReference);
  return { ...identifierResult(payload), names };
}

export function locateResult(payload: TtlvStructure): LocateResult {
  return {
    payload,
    uniqueIdentifiers: children(payload, Tag.UniqueIdentifier).map(asText),
    locatedItems: opt.integer(payload, Tag.LocatedItems),
  };
}

export function encryptResult(payload: TtlvStructure): EncryptResult {
  return {
    ...identifierResult(payload),
    data: req.bytes(payload, Tag.Data),
    ivCounterNonce: opt.bytes(payload, Tag.IVCounterNonce),
    authenticatedEncryptionTag: opt.bytes(payload, Tag.AuthenticatedEncryptionTag),
  };
}

export function encapsulateResult(payload: TtlvStructure): EncapsulateResult {
  return { ...identifierResult(payload), sharedSecret: req.bytes(payload, Tag.Data), cipherText: req.bytes(payload, Tag.IVCounterNonce) };
}

export function decryptResult(payload: TtlvStructure): DecryptResult {
  return { ...identifierResult(payload), data: req.bytes(payload, Tag.Data) };
}

export function signResult(payload: TtlvStructure): SignResult {
  return { ...identifierResult(payload), signature: req.bytes(payload, Tag.SignatureData) };
}

export function signatureVerifyResult(payload: TtlvStructure): SignatureVerifyResult {
  const validityIndicator = req.enumeration(payload, Tag.ValidityIndicator);
  return { ...identifierResult(payload), validityIndicator, valid: validityIndicator === ValidityIndicator.Valid };
}

export function macResult(payload: TtlvStructure): MacResult {
  return { ...identifierResult(payload), macData: req.bytes(payload, Tag.MACData) };
}

export function queryResult(payload: TtlvStructure): QueryResult {
  return {
    payload,
    operations: children(payload, Tag.Operation).map(asEnumeration),
    objectTypes: children(payload, Tag.ObjectType).map(asEnumeration),
    vendorIdentification: opt.text(payload, Tag.VendorIdentification),
    serverInformation: opt.structure(payload, Tag.ServerInformation),
  };
}

export function discoverVersionsResult(payload: TtlvStructure): ProtocolVersion[] {
  return children(payload, Tag.ProtocolVersion).map((p: TtlvItem) => readProtocolVersion(asStructure(p)));
}
