/**
 * Shared set-up for the cryptographic-service tests: handleMessage over a real SQLite file and a
 * real SoftHSM2 token, with helpers to register keys and call operations in KMIP 1.4 or 2.1.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ItemType, ttlv, type TtlvItem, type TtlvStructure } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import { NameType, ObjectType, Operation, ResultReason, ResultStatus } from '../../../src/spec/generated/enums';
import { createEmbeddedCore, type EmbeddedCore, type EmbeddedCoreOptions } from '../../../src/embedded';
import { handleMessage } from '../../../src/server/handle-message';
import type { ClientIdentity } from '../../../src/objects/context';
import { findNewerThan } from '../../../src/kmip/version-filter';
import type { KmipAttribute } from '../../../src/kmip/attributes';
import type { ProtocolVersion } from '../../../src/spec/versions';
import { openTestProtector } from '../../helpers/hsm';
import { attributesFor, find, parseResponse, requestMessage, successPayload, textOf, type BatchItemResponse } from '../../helpers/kmip-client';

export const V14: ProtocolVersion = { major: 1, minor: 4 };
export const V21: ProtocolVersion = { major: 2, minor: 1 };
export const VERSIONS: readonly [string, ProtocolVersion][] = [
  ['1.4', V14],
  ['2.1', V21],
];
export const alice: ClientIdentity = { name: 'alice', isAdmin: false };

export const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

export interface Harness {
  embedded: EmbeddedCore;
  dir: string;
}

/**
 * Call from a describe block's scope: one core for the file. `opts.crypto`: the cryptographic
 * policy (the default profile unless given; files replaying published vectors with legacy keys,
 * modes or hashes pass the legacy profile, as an operator serving such clients would).
 */
export function useHarness(opts: Pick<EmbeddedCoreOptions, 'crypto'> = {}): Harness {
  const h = {} as Harness;
  beforeAll(async () => {
    h.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-crypto-'));
    h.embedded = await createEmbeddedCore(h.dir, { ...opts, keys: await openTestProtector() });
  });
  afterAll(async () => {
    await h.embedded.close();
    await h.embedded.core.keys.close();
    fs.rmSync(h.dir, { recursive: true, force: true });
  });
  return h;
}

/** One operation; the response's single batch item. Checks nothing newer than `v` goes out. */
export async function call(h: Harness, v: ProtocolVersion, operation: number, payload: TtlvItem[], client: ClientIdentity = alice): Promise<BatchItemResponse> {
  const bytes = await handleMessage(requestMessage(v, [{ operation, payload }]), { client }, h.embedded.core);
  const r = parseResponse(bytes);
  expect(findNewerThan(r.root, v)).toEqual([]);
  const item = r.items[0];
  if (!item) throw new Error('no batch item');
  return item;
}

export async function ok(h: Harness, v: ProtocolVersion, operation: number, payload: TtlvItem[]): Promise<TtlvStructure> {
  const item = await call(h, v, operation, payload);
  return successPayload({ root: ttlv.structure(0, []), version: v, items: [item] });
}

/** Expects failure with `reason`, and no payload (no plaintext, no partial output). */
export async function fails(h: Harness, v: ProtocolVersion, operation: number, payload: TtlvItem[], reason: number): Promise<string> {
  const item = await call(h, v, operation, payload);
  expect({ status: item.status, reason: item.reason }).toEqual({ status: ResultStatus.OperationFailed, reason });
  expect(item.payload).toBeUndefined();
  return item.message ?? '';
}

export function bytesOf(s: TtlvStructure, tag: number): Buffer {
  const item = find(s, tag);
  if (!item || item.type !== ItemType.ByteString) throw new Error(`no byte string 0x${tag.toString(16)}`);
  return Buffer.from(item.value);
}

export function enumOf(s: TtlvStructure, tag: number): number | undefined {
  const item = find(s, tag);
  return item && item.type === ItemType.Enumeration ? item.value : undefined;
}

export const uidItem = (uid: string): TtlvItem => ttlv.textString(Tag.UniqueIdentifier, uid);

// The multi-part fields, and the reason for a Correlation Value that names no stream.
export const init = ttlv.boolean(Tag.InitIndicator, true);
export const final = ttlv.boolean(Tag.FinalIndicator, true);
export const corr = (c: Buffer): TtlvItem => ttlv.byteString(Tag.CorrelationValue, c);
export const unknownReason = (v: ProtocolVersion): number => (v.major >= 2 ? ResultReason.InvalidCorrelationValue : ResultReason.ItemNotFound);
export const data = (b: Uint8Array): TtlvItem => ttlv.byteString(Tag.Data, b);

export function params(fields: Partial<Record<'mode' | 'padding' | 'hash' | 'alg' | 'tagLength' | 'randomIV' | 'salt' | 'mgfHash' | 'dsa', number | boolean>>, pSource?: Uint8Array): TtlvStructure {
  const out: TtlvItem[] = [];
  if (typeof fields.mode === 'number') out.push(ttlv.enumeration(Tag.BlockCipherMode, fields.mode));
  if (typeof fields.padding === 'number') out.push(ttlv.enumeration(Tag.PaddingMethod, fields.padding));
  if (typeof fields.hash === 'number') out.push(ttlv.enumeration(Tag.HashingAlgorithm, fields.hash));
  if (typeof fields.dsa === 'number') out.push(ttlv.enumeration(Tag.DigitalSignatureAlgorithm, fields.dsa));
  if (typeof fields.alg === 'number') out.push(ttlv.enumeration(Tag.CryptographicAlgorithm, fields.alg));
  if (typeof fields.randomIV === 'boolean') out.push(ttlv.boolean(Tag.RandomIV, fields.randomIV));
  if (typeof fields.tagLength === 'number') out.push(ttlv.integer(Tag.TagLength, fields.tagLength));
  if (typeof fields.salt === 'number') out.push(ttlv.integer(Tag.SaltLength, fields.salt));
  if (typeof fields.mgfHash === 'number') {
    out.push(ttlv.enumeration(Tag.MaskGenerator, 1));
    out.push(ttlv.enumeration(Tag.MaskGeneratorHashingAlgorithm, fields.mgfHash));
  }
  if (pSource) out.push(ttlv.byteString(Tag.PSource, pSource));
  return ttlv.structure(Tag.CryptographicParameters, out);
}

let nameCounter = 0;

export function nameAttr(prefix: string): KmipAttribute {
  nameCounter += 1;
  return {
    name: 'Name',
    value: ttlv.structure(Tag.Name, [
      ttlv.textString(Tag.NameValue, `${prefix}-${nameCounter}-${process.hrtime.bigint()}`),
      ttlv.enumeration(Tag.NameType, NameType.UninterpretedTextString),
    ]),
  };
}

export function maskAttr(mask: number): KmipAttribute {
  return { name: 'Cryptographic Usage Mask', value: ttlv.integer(Tag.CryptographicUsageMask, mask) };
}

/** Active from an hour ago, unless the test wants another state. */
export function activeSince(): KmipAttribute {
  return { name: 'Activation Date', value: ttlv.dateTime(Tag.ActivationDate, BigInt(Math.floor(Date.now() / 1000) - 3600)) };
}

export function cryptoParamsAttr(p: TtlvStructure): KmipAttribute {
  return { name: 'Cryptographic Parameters', value: p };
}

export async function registerKey(
  h: Harness,
  v: ProtocolVersion,
  objectType: number,
  block: TtlvStructure,
  attrs: readonly KmipAttribute[],
): Promise<string> {
  const bodyTag = objectType === ObjectType.SymmetricKey ? Tag.SymmetricKey : objectType === ObjectType.PrivateKey ? Tag.PrivateKey : Tag.PublicKey;
  const p = await ok(h, v, Operation.Register, [ttlv.enumeration(Tag.ObjectType, objectType), attributesFor(v, attrs), ttlv.structure(bodyTag, [block])]);
  const uid = textOf(p, Tag.UniqueIdentifier);
  if (!uid) throw new Error('no uid');
  return uid;
}

export function rawBlock(formatType: number, material: Uint8Array | TtlvItem, algorithm: number, length: number): TtlvStructure {
  const km = material instanceof Uint8Array ? ttlv.byteString(Tag.KeyMaterial, material) : material;
  return ttlv.structure(Tag.KeyBlock, [
    ttlv.enumeration(Tag.KeyFormatType, formatType),
    ttlv.structure(Tag.KeyValue, [km]),
    ttlv.enumeration(Tag.CryptographicAlgorithm, algorithm),
    ttlv.integer(Tag.CryptographicLength, length),
  ]);
}
