/**
 * For the fault tests (HSM gone, disk full, connection floods): the real listener over an embedded
 * core whose data directory and key protector the test chooses, a client over real mTLS, and a
 * look at the SQLite file through a connection of its own, as an operator would take it.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { ttlv, type TtlvItem, type TtlvStructure } from '../../ttlv/types';
import { Tag } from '../../src/spec/generated/tags';
import { CryptographicAlgorithm, ObjectType, Operation } from '../../src/spec/generated/enums';
import { ensureDevPki, type DevPki } from '../../src/pki/dev-pki';
import { createEmbeddedCore, type EmbeddedCore } from '../../src/embedded';
import { startListener, type ListenerOptions, type RunningListener } from '../../src/server/listener';
import { MemoryAuditSink } from '../../src/audit/audit-log';
import type { KeyProtector } from '../../src/keys/key-protector';
import type { KmipAttribute } from '../../src/kmip/attributes';
import type { ProtocolVersion } from '../../src/spec/versions';
import { listenerOptions } from './test-listener';
import { attributesFor, find, parseResponse, requestMessage, type BatchItemResponse } from './kmip-client';
import { KmipTlsClient } from './tls-client';

export const V14: ProtocolVersion = { major: 1, minor: 4 };

export interface FaultServer {
  readonly pki: DevPki;
  readonly embedded: EmbeddedCore;
  readonly listener: RunningListener;
  readonly audit: MemoryAuditSink;
  readonly dbPath: string;
  connect(): Promise<KmipTlsClient>;
  /** Closes the listener and the store (not the key protector, which the test owns). */
  close(): Promise<void>;
}

export async function startFaultServer(opts: {
  pkiDir: string;
  dataDir: string;
  keys: KeyProtector;
  listener?: Partial<ListenerOptions>;
}): Promise<FaultServer> {
  const audit = new MemoryAuditSink();
  const pki = ensureDevPki(opts.pkiDir);
  const embedded = await createEmbeddedCore(opts.dataDir, { keys: opts.keys, audit });
  const listener = await startListener(embedded.core, listenerOptions(pki, opts.listener));
  const creds = {
    port: listener.address.port,
    ca: fs.readFileSync(pki.caPath),
    cert: fs.readFileSync(pki.clientCertPath),
    key: fs.readFileSync(pki.clientKeyPath),
  };
  let closed = false;
  return {
    pki,
    embedded,
    listener,
    audit,
    dbPath: path.join(opts.dataDir, 'kmip.sqlite'),
    connect: () => KmipTlsClient.connect(creds),
    async close() {
      if (closed) return;
      closed = true;
      await listener.close();
      await embedded.close();
    },
  };
}

/** One request, one batch item: its parsed answer. */
export async function call(c: KmipTlsClient, operation: number, payload: TtlvItem[], v: ProtocolVersion = V14): Promise<BatchItemResponse> {
  const r = parseResponse(await c.request(requestMessage(v, [{ operation, payload }])));
  const item = r.items[0];
  if (!item) throw new Error('response has no batch item');
  return item;
}

export function createAesPayload(v: ProtocolVersion = V14, extra: KmipAttribute[] = []): TtlvItem[] {
  return [
    ttlv.enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
    attributesFor(v, [
      { name: 'Cryptographic Algorithm', value: ttlv.enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES) },
      { name: 'Cryptographic Length', value: ttlv.integer(Tag.CryptographicLength, 256) },
      ...extra,
    ]),
  ];
}

export function uidOf(item: BatchItemResponse): string {
  const uid = item.payload && find(item.payload, Tag.UniqueIdentifier);
  if (!uid || typeof uid.value !== 'string') throw new Error(`no unique identifier (reason ${item.reason}: ${item.message})`);
  return uid.value;
}

/** The Key Material bytes of a Get answer for a symmetric key. */
export function keyMaterialOf(item: BatchItemResponse): Buffer {
  const key = item.payload && (find(item.payload, Tag.SymmetricKey) as TtlvStructure | undefined);
  const block = key && (find(key, Tag.KeyBlock) as TtlvStructure | undefined);
  const value = block && (find(block, Tag.KeyValue) as TtlvStructure | undefined);
  const material = value && find(value, Tag.KeyMaterial);
  if (!material || !(material.value instanceof Uint8Array)) throw new Error(`no key material (reason ${item.reason}: ${item.message})`);
  return Buffer.from(material.value);
}

export function getPayload(uid: string): TtlvItem[] {
  return [ttlv.textString(Tag.UniqueIdentifier, uid)];
}

export { Operation };

/**
 * Every row of the store, read through a connection of its own (so what a restarted server would
 * find, not what the running one caches), with SQLite's integrity check.
 */
export function inspectStore(dbPath: string): { integrity: string; uids: string[]; rows: string } {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    const integrity = db.pragma('integrity_check', { simple: true }) as string;
    const uids = (db.prepare('SELECT uid FROM objects ORDER BY seq').pluck().all() as string[]);
    const objects = db.prepare('SELECT * FROM objects ORDER BY seq').raw().all();
    const attributes = [
      db.prepare('SELECT * FROM attr_text ORDER BY object_seq, name, idx').raw().all(),
      db.prepare('SELECT * FROM attr_num ORDER BY object_seq, name, idx').raw().all(),
    ];
    const rows = JSON.stringify([objects, attributes], (_k, v: unknown) =>
      Buffer.isBuffer(v) ? v.toString('hex') : typeof v === 'bigint' ? v.toString() : v,
    );
    return { integrity, uids, rows };
  } finally {
    db.close();
  }
}
