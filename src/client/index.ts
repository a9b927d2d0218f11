/**
 * The public entry of the KMIP client library (package export "./client"): KmipClient, its
 * errors, the attribute builders, and the spec's enumerations to fill them with.
 */
export { KmipClient, CLIENT_VERSIONS, type KmipClientOptions } from './client';
export { encodeRequest, decodeResponse, type BatchItem, type BatchItemResult, type DecodedResponse, type RequestOptions } from './messages';
export { KmipResultError, KmipConnectionError, KmipProtocolError, operationName } from './errors';
export { attribute, nameAttribute, attributeValues, plainValue, type AttributeInput, type AttributeValue, type KmipAttribute } from './attributes';
export { keyObject, cryptographicParameters, newObjectAttributes, locateFilter, attributeReferences, type CryptographicParameters } from './payloads';
export { objectTagOf } from './results';
export type * from './results';
export { openChannel, parseServerAddress, serverLabel, type ChannelOptions, type KmipChannel, type ServerAddress, type TransportKind } from './transport';
export type { ProtocolVersion } from '../spec/versions';
export { Tag } from '../spec/generated/tags';
export * as Enums from '../spec/generated/enums';
export { ttlv, type TtlvItem, type TtlvStructure } from '../../ttlv/types';
