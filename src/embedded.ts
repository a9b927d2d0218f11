/**
 * The embedded default set-up: a SQLite file and a SoftHSM2 token of our own under one data
 * directory. Used by `kmip-server start` when no HSM is configured, by tests and by the
 * conformance runner's in-process mode.
 */
import fs from 'node:fs';
import { DEFAULT_MAX_MESSAGE_BYTES } from '../ttlv/decode';
import path from 'node:path';
import { buildRegistry } from './server/registry';
import { SENT_OPERATIONS } from './notify/messages';
import { Pkcs11KeyProtector } from './keys/pkcs11';
import { ensureSoftHsmToken, softHsmProtectorConfig } from './keys/softhsm';
import type { KeyProtector } from './keys/key-protector';
import { PendingOperations } from './objects/pending-operations';
import { SqliteObjectStore } from './store/sqlite';
import { sealClearDigests } from './objects/digest-index';
import { MemoryAuditSink, type AuditSink } from './audit/audit-log';
import { systemClock, type Clock, type ServerInfo } from './objects/context';
import type { ServerCore } from './server/handle-message';
import type { CryptoPolicy } from './crypto/policy';

export const SERVER_INFO: ServerInfo = {
  vendorIdentification: 'kmip-server (TypeScript)',
  serverName: 'kmip-server',
  serverVersion: '0.1.0',
};

export const KEK_LABEL = 'kmip-kek';

/**
 * Opens (creating on first use) the SoftHSM2 token under `dir`, its KEK and its index key.
 * `mayCreateIndexKey` false: the store holds indexes made with one, so it must be there.
 */
export async function openEmbeddedHsm(
  dir: string,
  opts: { readonly mayCreate?: boolean; readonly mayCreateIndexKey?: boolean; readonly openIndexKey?: boolean } = {},
): Promise<KeyProtector> {
  const token = ensureSoftHsmToken(dir, { mayCreate: opts.mayCreate });
  // SoftHSM2 runs in this process: a call costs about 30 µs, less than a hop to the thread pool and
  // back (bench/hsm-bench.ts; end to end, Get +14% and Create +31% in sync mode).
  return Pkcs11KeyProtector.open(softHsmProtectorConfig(token, KEK_LABEL, { callMode: 'sync', createIndexKey: opts.mayCreateIndexKey, openIndexKey: opts.openIndexKey }));
}

export interface EmbeddedCoreOptions {
  /** Share one HSM session pool between cores (one process can initialise SoftHSM2 only once). */
  readonly keys?: KeyProtector;
  readonly audit?: AuditSink;
  readonly clock?: Clock;
  readonly maxMessageBytes?: number;
  readonly maxRsaModulusBits?: number;
  readonly onVersionPruned?: ServerCore['onVersionPruned'];
  readonly crypto?: CryptoPolicy;
}

export interface EmbeddedCore {
  readonly core: ServerCore;
  readonly store: SqliteObjectStore;
  close(): Promise<void>;
}

export async function createEmbeddedCore(dataDir: string, opts: EmbeddedCoreOptions = {}): Promise<EmbeddedCore> {
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const keys = opts.keys ?? (await openEmbeddedHsm(path.join(dataDir, 'softhsm')));
  const store = new SqliteObjectStore({ path: path.join(dataDir, 'kmip.sqlite') });
  try {
    await sealClearDigests(store, keys);
  } catch (e) {
    store.close();
    if (!opts.keys) await keys.close();
    throw e;
  }
  const core: ServerCore = {
    registry: buildRegistry(SENT_OPERATIONS),
    store,
    keys,
    audit: opts.audit ?? new MemoryAuditSink(),
    clock: opts.clock ?? systemClock,
    server: SERVER_INFO,
    limits: { maxMessageBytes: opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES, ...(opts.maxRsaModulusBits !== undefined ? { maxRsaModulusBits: opts.maxRsaModulusBits } : {}) },
    onVersionPruned: opts.onVersionPruned,
    pending: new PendingOperations(),
    ...(opts.crypto ? { crypto: opts.crypto } : {}),
  };
  return {
    core,
    store,
    async close() {
      await core.pending?.drain();
      store.close();
      if (!opts.keys) await keys.close();
    },
  };
}
