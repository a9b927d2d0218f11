/**
 * The public entry of the KMIP client library (package export "./client"): KmipClient, its
 * errors, the attribute builders, and the spec's enumerations to fill them with.
 */
export { KmipClient, CLIENT_VERSIONS, type KmipClientOptions, type BatchItem, type BatchItemResult } from './client';
export { KmipResultError, KmipConnectionError, KmipProtocolError, operationName } from './errors';
export { attribute, nameAttribute, attributeValues, plainValue, type AttributeInput, type AttributeValue, type KmipAttribute } from './attributes';
export { keyObject, cryptographicParameters, type CryptographicParameters } from './payloads';
export { objectTagOf } from './results';
export type * from './results';
export { parseServerAddress, serverLabel, type ServerAddress, type TransportKind } from './transport';
export type { ProtocolVersion } from '../spec/versions';
export { Tag } from '../spec/generated/tags';
export * as Enums from '../spec/generated/enums';
export { ttlv, type TtlvItem, type TtlvStructure } from '../../ttlv/types';
