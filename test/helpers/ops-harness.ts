/**
 * One real server core per test file (a SQLite file in a temp dir, a SoftHSM2 token), driven
 * through handleMessage, with small builders for the requests the operation tests repeat.
 * Every response is checked against the version invariant (nothing newer than the client's).
 * With KMIP_TEST_STORE=postgres the core runs on a fresh database of the run's PostgreSQL cluster
 * (started by the jest global setup) instead: the same handler tests, the other engine.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ItemType, ttlv, type TtlvItem, type TtlvStructure } from '../../ttlv/types';
import { Tag } from '../../src/spec/generated/tags';
import { CryptographicAlgorithm, CryptographicUsageMask, NameType, ObjectType, Operation, ResultStatus } from '../../src/spec/generated/enums';
import { createEmbeddedCore, type EmbeddedCore, type EmbeddedCoreOptions } from '../../src/embedded';
import { handleMessage } from '../../src/server/handle-message';
import type { ClientIdentity } from '../../src/objects/context';
import { findNewerThan } from '../../src/kmip/version-filter';
import { attributeToV1, attributeToV2, type KmipAttribute } from '../../src/kmip/attributes';
import type { ProtocolVersion } from '../../src/spec/versions';
import { openTestProtector } from './hsm';
import { freshDatabase, PG_URL_ENV } from './postgres';
import { SqliteObjectStore } from '../../src/store/sqlite';
import type { ServerStore } from '../../src/server-store';
import type { CompatProfile } from '../../src/compat/profiles';
import { attributesFor, find, parseResponse, requestMessage, successPayload, textOf, type BatchItemRequest, type ParsedResponse } from './kmip-client';

export const V14: ProtocolVersion = { major: 1, minor: 4 };
export const V21: ProtocolVersion = { major: 2, minor: 1 };
export const VERSIONS: readonly [string, ProtocolVersion][] = [
  ['1.4', V14],
  ['2.1', V21],
];
export const alice: ClientIdentity = { name: 'alice', isAdmin: false };
export const bob: ClientIdentity = { name: 'bob', isAdmin: false };

export interface Harness {
  readonly embedded: EmbeddedCore;
  send(v: ProtocolVersion, operation: number, payload: TtlvItem[], client?: ClientIdentity): Promise<ParsedResponse>;
  batch(v: ProtocolVersion, items: readonly BatchItemRequest[], header?: TtlvItem[], client?: ClientIdentity): Promise<ParsedResponse>;
  close(): Promise<void>;
}

/**
 * `opts`: further core options, as the config would set them: `crypto` (the cryptographic
 * policy; default its default profile, LEGACY_CRYPTO_POLICY for legacy vectors), `maxRsaModulusBits`. `keys`: another harness's token, for a
 * second core in the same file (SoftHSM2 finds tokens made after its initialisation only by
 * re-initialising, which the first core's sessions would not survive); it stays open on close.
 * `compat`: the compatibility profile the core runs under (default: none).
 */
export async function openHarness(prefix: string, opts: EmbeddedCoreOptions & { compat?: CompatProfile } = {}): Promise<Harness> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `kmip-${prefix}-`));
  const ownKeys = opts.keys === undefined;
  const { compat, ...coreOptions } = opts;
  const postgresUrl = await harnessDatabase();
  const embedded = await createEmbeddedCore(dir, { ...coreOptions, ...(postgresUrl ? { postgresUrl } : {}), keys: opts.keys ?? (await openTestProtector()) });
  const core = compat ? { ...embedded.core, compat } : embedded.core;
  const batch = async (v: ProtocolVersion, items: readonly BatchItemRequest[], header: TtlvItem[] = [], client = alice) => {
    const r = parseResponse(await handleMessage(requestMessage(v, items, header), { client }, core));
    expect(findNewerThan(r.root, v)).toEqual([]);
    return r;
  };
  return {
    embedded,
    batch,
    send: (v, operation, payload, client = alice) => batch(v, [{ operation, payload }], [], client),
    async close() {
      await embedded.close();
      if (ownKeys) await embedded.core.keys.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The engine the harness runs on: KMIP_TEST_STORE=postgres, else SQLite. */
export const HARNESS_ENGINE: 'sqlite' | 'postgres' = process.env['KMIP_TEST_STORE'] === 'postgres' ? 'postgres' : 'sqlite';

/** A fresh database for a harness on PostgreSQL; undefined on SQLite. */
async function harnessDatabase(): Promise<string | undefined> {
  if (HARNESS_ENGINE !== 'postgres') return undefined;
  const admin = process.env[PG_URL_ENV];
  if (!admin) throw new Error(`KMIP_TEST_STORE=postgres needs the run's cluster (${PG_URL_ENV}), which the jest global setup starts`);
  return freshDatabase(admin);
}

/** The store of a test that checks SQLite's own machinery (group commit, syncs): refused on another engine. */
export function sqliteStoreOf(store: ServerStore): SqliteObjectStore {
  if (!(store instanceof SqliteObjectStore)) throw new Error('this test checks the SQLite engine itself: run it with KMIP_TEST_STORE unset');
  return store;
}

/** The one item's failure reason (the test fails if the item succeeded). */
export function failure(r: ParsedResponse): number | undefined {
  const item = r.items[0]!;
  if (item.status === ResultStatus.Success) throw new Error('expected the operation to fail, it succeeded');
  return item.reason;
}

export function uidItem(uid: string): TtlvItem {
  return ttlv.textString(Tag.UniqueIdentifier, uid);
}

export function nameValue(name: string): TtlvItem {
  return ttlv.structure(Tag.Name, [ttlv.textString(Tag.NameValue, name), ttlv.enumeration(Tag.NameType, NameType.UninterpretedTextString)]);
}

export function aesTemplate(name: string | undefined, mask: number, length = 256): KmipAttribute[] {
  const attrs: KmipAttribute[] = [
    { name: 'Cryptographic Algorithm', value: ttlv.enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES) },
    { name: 'Cryptographic Length', value: ttlv.integer(Tag.CryptographicLength, length) },
    { name: 'Cryptographic Usage Mask', value: ttlv.integer(Tag.CryptographicUsageMask, mask) },
  ];
  if (name !== undefined) attrs.push({ name: 'Name', value: nameValue(name) });
  return attrs;
}

export const ENCRYPT_DECRYPT = CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt;

export async function createAes(h: Harness, v: ProtocolVersion, extra: KmipAttribute[] = [], mask = ENCRYPT_DECRYPT, client = alice, length = 256): Promise<string> {
  const r = await h.send(
    v,
    Operation.Create,
    [ttlv.enumeration(Tag.ObjectType, ObjectType.SymmetricKey), attributesFor(v, [...aesTemplate(undefined, mask, length), ...extra])],
    client,
  );
  return textOf(successPayload(r), Tag.UniqueIdentifier)!;
}

/** A single attribute as Add/Modify/Set Attribute carry it: 1.x Attribute, 2.x New Attribute. */
export function newAttribute(v: ProtocolVersion, a: KmipAttribute, index?: number): TtlvItem {
  if (v.major >= 2) return ttlv.structure(Tag.NewAttribute, [attributeToV2(a)]);
  return index === undefined ? attributeToV1(a) : attributeToV1(a, index);
}

export function currentAttribute(a: KmipAttribute): TtlvItem {
  return ttlv.structure(Tag.CurrentAttribute, [attributeToV2(a)]);
}

/** 1.x Attribute Name text, 2.x Attribute Reference (enumeration of the tag, or vendor structure). */
export function reference(v: ProtocolVersion, name: string, tag?: number): TtlvItem {
  if (v.major < 2) return ttlv.textString(Tag.AttributeName, name);
  if (tag !== undefined) return ttlv.enumeration(Tag.AttributeReference, tag);
  const dash = name.indexOf('-');
  return ttlv.structure(Tag.AttributeReference, [
    ttlv.textString(Tag.VendorIdentification, name.slice(0, dash)),
    ttlv.textString(Tag.AttributeName, name.slice(dash + 1)),
  ]);
}

/** Every instance of an attribute Get Attributes returns, in either version's form. */
export async function attributeValues(h: Harness, v: ProtocolVersion, uid: string, name: string, tag?: number, client = alice): Promise<TtlvItem[]> {
  const p = successPayload(await h.send(v, Operation.GetAttributes, [uidItem(uid), reference(v, name, tag)], client));
  if (v.major >= 2) {
    const attrs = find(p, Tag.Attributes) as TtlvStructure | undefined;
    if (!attrs) return [];
    if (tag !== undefined) return attrs.value.filter((c) => c.tag === tag);
    return attrs.value.filter((c) => c.tag === Tag.Attribute).map((c) => find(c as TtlvStructure, Tag.AttributeValue)!);
  }
  return p.value
    .filter((c): c is TtlvStructure => c.tag === Tag.Attribute && c.type === ItemType.Structure)
    .map((c) => find(c, Tag.AttributeValue)!);
}

export function bytesOf(item: TtlvItem | undefined): Buffer {
  if (!item || item.type !== ItemType.ByteString) throw new Error('not a Byte String');
  return Buffer.from(item.value);
}

export function keyBlockOf(payload: TtlvStructure, objectTag: number = Tag.SymmetricKey): TtlvStructure {
  return find(find(payload, objectTag) as TtlvStructure, Tag.KeyBlock) as TtlvStructure;
}

export async function getKeyBytes(h: Harness, v: ProtocolVersion, uid: string, client = alice): Promise<Buffer> {
  const block = keyBlockOf(successPayload(await h.send(v, Operation.Get, [uidItem(uid)], client)));
  return bytesOf(find(find(block, Tag.KeyValue) as TtlvStructure, Tag.KeyMaterial));
}
