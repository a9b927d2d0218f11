/**
 * KmipClient: typed KMIP calls over a pool of TLS or HTTPS connections to an ordered list of
 * servers, in a protocol version negotiated once with Discover Versions (or pinned).
 *
 * Failover: a server that cannot be reached, or whose connection fails before a request is
 * written, passes the request to the next server in the list. A request whose connection fails
 * after it was written may have been carried out; the client sends such a request again only when
 * it is idempotent (Get, Get Attributes, Get Attribute List, Locate, Query, Discover Versions, and
 * the cryptographic operations Encrypt, Decrypt, Sign, Signature Verify, MAC). Create, Register,
 * Re-key, Activate, Revoke, Destroy and the attribute changes are never sent again: they fail
 * with a KmipConnectionError whose `requestMayHaveBeenProcessed` is true, and the caller decides
 * (a Locate by Name tells whether a Create took place).
 */
import { ttlv, type TtlvItem, type TtlvStructure } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { Operation, QueryFunction, ResultReason, ResultStatus, RevocationReasonCode } from '../spec/generated/enums';
import { compareVersions, type ProtocolVersion } from '../spec/versions';
import { SUPPORTED_VERSIONS } from '../kmip/message';
import type { KmipAttribute } from '../kmip/attributes';
import { KmipProtocolError, KmipResultError } from './errors';
import { decodeResponse, encodeRequest, type BatchItem, type BatchItemResult } from './messages';
import { ConnectionPool } from './pool';
import { openChannel, parseServerAddress, type ServerAddress, type TransportKind } from './transport';
import * as P from './payloads';
import * as R from './results';

export interface KmipClientOptions {
  /** Servers in failover order: "host:port" (port 5696 when left out) or an address. */
  readonly servers: readonly (string | ServerAddress)[];
  /** 'tls' (TTLV over mutual TLS, the default) or 'https' (POST /kmip). */
  readonly transport?: TransportKind;
  /** PEM: the CA that issued the server certificates, this client's certificate and its key. */
  readonly ca: Buffer | string;
  readonly cert: Buffer | string;
  readonly key: Buffer | string;
  /** Name checked against the server certificate (default: the host of each server). */
  readonly servername?: string;
  /** A pinned protocol version: no Discover Versions is sent. */
  readonly version?: ProtocolVersion;
  /** Connections open at once (default 4); each carries one request at a time. */
  readonly maxConnections?: number;
  readonly connectTimeoutMs?: number;
  readonly requestTimeoutMs?: number;
  readonly maxResponseBytes?: number;
}


/** Discover Versions goes out in 1.1, its first version, which every server that has it reads. */
const DISCOVERY_VERSION: ProtocolVersion = { major: 1, minor: 1 };

/** The versions this client can write, highest first. */
export const CLIENT_VERSIONS: readonly ProtocolVersion[] = SUPPORTED_VERSIONS;

export class KmipClient {
  private readonly pool: ConnectionPool;
  private negotiated: Promise<ProtocolVersion> | undefined;

  constructor(opts: KmipClientOptions) {
    const servers = opts.servers.map((s) => (typeof s === 'string' ? parseServerAddress(s) : s));
    const channel = {
      ca: opts.ca,
      cert: opts.cert,
      key: opts.key,
      ...(opts.servername === undefined ? {} : { servername: opts.servername }),
      connectTimeoutMs: opts.connectTimeoutMs ?? 10_000,
      requestTimeoutMs: opts.requestTimeoutMs ?? 30_000,
      maxResponseBytes: opts.maxResponseBytes ?? 16 << 20,
    };
    const max = opts.maxConnections ?? 4;
    this.pool = new ConnectionPool(servers, (server) => openChannel(opts.transport ?? 'tls', server, channel), { maxConnections: max, maxIdle: max });
    if (opts.version !== undefined) this.negotiated = Promise.resolve(opts.version);
  }

  /** The server new connections go to now (changes on failover). */
  get currentServer(): ServerAddress {
    return this.pool.currentServer;
  }

  get openConnections(): number {
    return this.pool.openConnections;
  }

  /** The protocol version in use: the pinned one, or the highest both sides speak (asked once). */
  version(): Promise<ProtocolVersion> {
    this.negotiated ??= this.negotiate().catch((e: unknown) => {
      this.negotiated = undefined; // a later call asks again
      throw e;
    });
    return this.negotiated;
  }

  private async negotiate(): Promise<ProtocolVersion> {
    let offered: ProtocolVersion[];
    try {
      offered = await this.discoverVersionsIn(DISCOVERY_VERSION, CLIENT_VERSIONS);
    } catch (e) {
      // A 1.0 server has no Discover Versions: 1.0 is what it speaks.
      if (e instanceof KmipResultError && e.reason === ResultReason.OperationNotSupported) return { major: 1, minor: 0 };
      throw e;
    }
    const common = offered.filter((v) => CLIENT_VERSIONS.some((c) => compareVersions(c, v) === 0));
    if (common.length === 0) throw new KmipProtocolError(`the server speaks none of this client's KMIP versions (it offered ${offered.map((v) => `${v.major}.${v.minor}`).join(', ') || 'none'})`);
    return common.reduce((a, b) => (compareVersions(a, b) >= 0 ? a : b));
  }

  /** Sends encoded Request Message bytes as they are and returns the Response Message bytes. */
  sendMessage(message: Uint8Array, opts: { idempotent?: boolean } = {}): Promise<Uint8Array> {
    return this.pool.request(message, opts.idempotent ?? false);
  }

  /**
   * Sends one request of several batch items in the negotiated version and returns each item's
   * outcome as the server gave it, failures included (nothing is thrown for a failed item).
   */
  async send(items: readonly BatchItem[], opts: { idempotent?: boolean; version?: ProtocolVersion } = {}): Promise<BatchItemResult[]> {
    const version = opts.version ?? (await this.version());
    const request = encodeRequest(version, items, { timeStamp: BigInt(Math.floor(Date.now() / 1000)) });
    const response = decodeResponse(await this.sendMessage(request, opts));
    if (response.items.length !== items.length) {
      throw new KmipProtocolError(`${items.length} batch items sent, ${response.items.length} answered`);
    }
    return [...response.items];
  }

  /** One operation; its Response Payload, or a KmipResultError. */
  private async call(operation: number, payload: readonly TtlvItem[], idempotent: boolean, version?: ProtocolVersion): Promise<TtlvStructure> {
    const [item] = await this.send([{ operation, payload }], { idempotent, ...(version === undefined ? {} : { version }) });
    if (item!.status !== ResultStatus.Success) throw new KmipResultError(operation, item!.status, item!.reason, item!.message);
    return ttlv.structure(Tag.ResponsePayload, [...(item!.payload ?? [])]);
  }

  /** Discover Versions: the versions the server speaks among `versions` (all when empty), its preferred first. */
  async discoverVersions(versions: readonly ProtocolVersion[] = []): Promise<ProtocolVersion[]> {
    return this.discoverVersionsIn(this.negotiated === undefined ? DISCOVERY_VERSION : await this.version(), versions);
  }

  private async discoverVersionsIn(header: ProtocolVersion, versions: readonly ProtocolVersion[]): Promise<ProtocolVersion[]> {
    const payload = versions.map((v) =>
      ttlv.structure(Tag.ProtocolVersion, [ttlv.integer(Tag.ProtocolVersionMajor, v.major), ttlv.integer(Tag.ProtocolVersionMinor, v.minor)]),
    );
    return R.discoverVersionsResult(await this.call(Operation.DiscoverVersions, payload, true, header));
  }

  /** Query (default: operations and object types). */
  async query(functions: readonly number[] = [QueryFunction.QueryOperations, QueryFunction.QueryObjects]): Promise<R.QueryResult> {
    return R.queryResult(await this.call(Operation.Query, functions.map((f) => ttlv.enumeration(Tag.QueryFunction, f)), true));
  }

  /** Create an object of `objectType` (Symmetric Key, Secret Data ...) with these attributes. */
  async create(objectType: number, attributes: readonly KmipAttribute[]): Promise<R.CreateResult> {
    const v = await this.version();
    return R.createResult(await this.call(Operation.Create, [ttlv.enumeration(Tag.ObjectType, objectType), P.newObjectAttributes(v, attributes)], false));
  }

  async createKeyPair(attrs: { common?: readonly KmipAttribute[]; privateKey?: readonly KmipAttribute[]; publicKey?: readonly KmipAttribute[] }): Promise<R.CreateKeyPairResult> {
    const v = await this.version();
    const payload = [
      P.newObjectAttributes(v, attrs.common ?? [], 'common'),
      ...(attrs.privateKey === undefined ? [] : [P.newObjectAttributes(v, attrs.privateKey, 'private')]),
      ...(attrs.publicKey === undefined ? [] : [P.newObjectAttributes(v, attrs.publicKey, 'public')]),
    ];
    return R.createKeyPairResult(await this.call(Operation.CreateKeyPair, payload, false));
  }

  /** Register a managed object (see keyObject for keys) of `objectType`. */
  async register(objectType: number, object: TtlvStructure, attributes: readonly KmipAttribute[] = []): Promise<R.IdentifierResult> {
    const v = await this.version();
    const payload = [ttlv.enumeration(Tag.ObjectType, objectType), P.newObjectAttributes(v, attributes), object];
    return R.identifierResult(await this.call(Operation.Register, payload, false));
  }

  /** Get an object; `keyFormatType` asks for the key in another format (PKCS#8, Transparent ...). */
  async get(uniqueIdentifier: string, opts: { keyFormatType?: number; keyCompressionType?: number } = {}): Promise<R.GetResult> {
    const payload = P.present([
      P.uid(uniqueIdentifier),
      opts.keyFormatType === undefined ? undefined : ttlv.enumeration(Tag.KeyFormatType, opts.keyFormatType),
      opts.keyCompressionType === undefined ? undefined : ttlv.enumeration(Tag.KeyCompressionType, opts.keyCompressionType),
    ]);
    return R.getResult(await this.call(Operation.Get, payload, true));
  }

  /** Get Attributes: the named ones (spec or custom names), or all when none are named. */
  async getAttributes(uniqueIdentifier: string, names: readonly string[] = []): Promise<R.GetAttributesResult> {
    const v = await this.version();
    return R.getAttributesResult(await this.call(Operation.GetAttributes, [P.uid(uniqueIdentifier), ...P.attributeReferences(v, names)], true), v);
  }

  async getAttributeList(uniqueIdentifier: string): Promise<R.GetAttributeListResult> {
    return R.getAttributeListResult(await this.call(Operation.GetAttributeList, [P.uid(uniqueIdentifier)], true));
  }

  async addAttribute(uniqueIdentifier: string, attribute: KmipAttribute): Promise<R.IdentifierResult> {
    const v = await this.version();
    return R.identifierResult(await this.call(Operation.AddAttribute, P.addAttributePayload(v, uniqueIdentifier, attribute), false));
  }

  /** Modify Attribute: `index` names the 1.x instance, `current` the 2.x one (the first instance otherwise). */
  async modifyAttribute(uniqueIdentifier: string, attribute: KmipAttribute, opts: { index?: number; current?: KmipAttribute } = {}): Promise<R.IdentifierResult> {
    const v = await this.version();
    return R.identifierResult(await this.call(Operation.ModifyAttribute, P.modifyAttributePayload(v, uniqueIdentifier, attribute, opts), false));
  }

  async deleteAttribute(uniqueIdentifier: string, name: string, opts: { index?: number; current?: KmipAttribute } = {}): Promise<R.IdentifierResult> {
    const v = await this.version();
    return R.identifierResult(await this.call(Operation.DeleteAttribute, P.deleteAttributePayload(v, uniqueIdentifier, name, opts), false));
  }

  /** Locate the objects whose attributes match all of `attributes`. */
  async locate(attributes: readonly KmipAttribute[] = [], opts: { maximumItems?: number; offsetItems?: number; storageStatusMask?: number } = {}): Promise<R.LocateResult> {
    const v = await this.version();
    const payload = P.present([
      opts.maximumItems === undefined ? undefined : ttlv.integer(Tag.MaximumItems, opts.maximumItems),
      opts.offsetItems === undefined ? undefined : ttlv.integer(Tag.OffsetItems, opts.offsetItems),
      opts.storageStatusMask === undefined ? undefined : ttlv.integer(Tag.StorageStatusMask, opts.storageStatusMask),
      ...P.locateFilter(v, attributes),
    ]);
    return R.locateResult(await this.call(Operation.Locate, payload, true));
  }

  async activate(uniqueIdentifier: string): Promise<R.IdentifierResult> {
    return R.identifierResult(await this.call(Operation.Activate, [P.uid(uniqueIdentifier)], false));
  }

  /** Revoke; a Key Compromise or CA Compromise needs `compromiseOccurrenceDate`. */
  async revoke(
    uniqueIdentifier: string,
    reason: { code?: number; message?: string; compromiseOccurrenceDate?: Date } = {},
  ): Promise<R.IdentifierResult> {
    const revocation = ttlv.structure(
      Tag.RevocationReason,
      P.present([
        ttlv.enumeration(Tag.RevocationReasonCode, reason.code ?? RevocationReasonCode.CessationOfOperation),
        reason.message === undefined ? undefined : ttlv.textString(Tag.RevocationMessage, reason.message),
      ]),
    );
    const date = reason.compromiseOccurrenceDate;
    const payload = P.present([
      P.uid(uniqueIdentifier),
      revocation,
      date === undefined ? undefined : ttlv.dateTime(Tag.CompromiseOccurrenceDate, BigInt(Math.floor(date.getTime() / 1000))),
    ]);
    return R.identifierResult(await this.call(Operation.Revoke, payload, false));
  }

  async destroy(uniqueIdentifier: string): Promise<R.IdentifierResult> {
    return R.identifierResult(await this.call(Operation.Destroy, [P.uid(uniqueIdentifier)], false));
  }

  /** Re-key a symmetric key: a new key replacing it, `offset` seconds between their dates where given. */
  async rekey(uniqueIdentifier: string, opts: { offsetSeconds?: number; attributes?: readonly KmipAttribute[] } = {}): Promise<R.IdentifierResult> {
    const v = await this.version();
    const payload = P.present([
      P.uid(uniqueIdentifier),
      opts.offsetSeconds === undefined ? undefined : ttlv.interval(Tag.Offset, opts.offsetSeconds),
      opts.attributes === undefined ? undefined : P.newObjectAttributes(v, opts.attributes),
    ]);
    return R.identifierResult(await this.call(Operation.ReKey, payload, false));
  }

  async encrypt(
    uniqueIdentifier: string,
    data: Uint8Array,
    opts: { parameters?: P.CryptographicParameters; ivCounterNonce?: Uint8Array; additionalData?: Uint8Array } = {},
  ): Promise<R.EncryptResult> {
    const payload = P.present([
      P.uid(uniqueIdentifier),
      opts.parameters === undefined ? undefined : P.cryptographicParameters(opts.parameters),
      ttlv.byteString(Tag.Data, data),
      opts.ivCounterNonce === undefined ? undefined : ttlv.byteString(Tag.IVCounterNonce, opts.ivCounterNonce),
      opts.additionalData === undefined ? undefined : ttlv.byteString(Tag.AuthenticatedEncryptionAdditionalData, opts.additionalData),
    ]);
    return R.encryptResult(await this.call(Operation.Encrypt, payload, true));
  }

  async decrypt(
    uniqueIdentifier: string,
    data: Uint8Array,
    opts: { parameters?: P.CryptographicParameters; ivCounterNonce?: Uint8Array; additionalData?: Uint8Array; authenticatedEncryptionTag?: Uint8Array } = {},
  ): Promise<R.DecryptResult> {
    const payload = P.present([
      P.uid(uniqueIdentifier),
      opts.parameters === undefined ? undefined : P.cryptographicParameters(opts.parameters),
      ttlv.byteString(Tag.Data, data),
      opts.ivCounterNonce === undefined ? undefined : ttlv.byteString(Tag.IVCounterNonce, opts.ivCounterNonce),
      opts.additionalData === undefined ? undefined : ttlv.byteString(Tag.AuthenticatedEncryptionAdditionalData, opts.additionalData),
      opts.authenticatedEncryptionTag === undefined ? undefined : ttlv.byteString(Tag.AuthenticatedEncryptionTag, opts.authenticatedEncryptionTag),
    ]);
    return R.decryptResult(await this.call(Operation.Decrypt, payload, true));
  }

  /**
   * KEM encapsulation with an ML-KEM (or X25519+ML-KEM-768) public key, through Encrypt as Cosmian
   * KMS does: the shared secret comes back as Data, the ciphertext for the key's holder as IV/Counter/Nonce.
   */
  async encapsulate(uniqueIdentifier: string): Promise<R.EncapsulateResult> {
    return R.encapsulateResult(await this.call(Operation.Encrypt, [P.uid(uniqueIdentifier)], false));
  }

  /** KEM decapsulation with the private key, through Decrypt: the ciphertext in, the shared secret out. */
  async decapsulate(uniqueIdentifier: string, cipherText: Uint8Array): Promise<R.DecryptResult> {
    return R.decryptResult(await this.call(Operation.Decrypt, [P.uid(uniqueIdentifier), ttlv.byteString(Tag.Data, cipherText)], true));
  }

  /** Sign `data` (or, with `digested`, a digest the caller computed). */
  async sign(uniqueIdentifier: string, data: Uint8Array, opts: { parameters?: P.CryptographicParameters; digested?: boolean } = {}): Promise<R.SignResult> {
    const payload = P.present([
      P.uid(uniqueIdentifier),
      opts.parameters === undefined ? undefined : P.cryptographicParameters(opts.parameters),
      ttlv.byteString(opts.digested ? Tag.DigestedData : Tag.Data, data),
    ]);
    return R.signResult(await this.call(Operation.Sign, payload, true));
  }

  async signatureVerify(
    uniqueIdentifier: string,
    data: Uint8Array,
    signature: Uint8Array,
    opts: { parameters?: P.CryptographicParameters; digested?: boolean } = {},
  ): Promise<R.SignatureVerifyResult> {
    const payload = P.present([
      P.uid(uniqueIdentifier),
      opts.parameters === undefined ? undefined : P.cryptographicParameters(opts.parameters),
      ttlv.byteString(opts.digested ? Tag.DigestedData : Tag.Data, data),
      ttlv.byteString(Tag.SignatureData, signature),
    ]);
    return R.signatureVerifyResult(await this.call(Operation.SignatureVerify, payload, true));
  }

  async mac(uniqueIdentifier: string, data: Uint8Array, opts: { parameters?: P.CryptographicParameters } = {}): Promise<R.MacResult> {
    const payload = P.present([
      P.uid(uniqueIdentifier),
      opts.parameters === undefined ? undefined : P.cryptographicParameters(opts.parameters),
      ttlv.byteString(Tag.Data, data),
    ]);
    return R.macResult(await this.call(Operation.MAC, payload, true));
  }

  /** Closes idle connections; requests in flight finish on theirs, which then close. */
  close(): void {
    this.pool.close();
  }
}
