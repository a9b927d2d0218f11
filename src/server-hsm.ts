/**
 * The HSM as the server and the commands beside it open it: the embedded SoftHSM2 token in the data
 * dir or the configured PKCS#11 module (`hsm`), with the current KEK the data dir names
 * (keys/kek-current.ts), or on PostgreSQL the database (store/postgres-keks.ts: nodes on several
 * machines share it, not a data dir); at server start, checked against the KEKs the store's objects need.
 */
import path from 'node:path';
import { EMBEDDED_TOKEN_DIR, KEK_LABEL, type ServerConfig } from './config';
import { readPin } from './keys/pin';
import { INDEX_KEY_LABEL } from './keys/pkcs11-mac-keys';
import { Pkcs11KeyProtector, type Pkcs11KeyProtectorConfig } from './keys/pkcs11';
import { ensureSoftHsmToken, softHsmProtectorConfig } from './keys/softhsm';
import { KeyProtectorError, type KeyProtector } from './keys/key-protector';
import { nameCurrentKekIfUnset, CURRENT_KEK_FILE, currentKekId } from './keys/kek-current';
import { sealClearDigests } from './objects/digest-index';
import { PostgresObjectStore } from './store/postgres-store';
import { PostgresKekCatalog } from './store/postgres-keks';
import type { ServerStore } from './server-store';

/**
 * Opens (creating on first use) the embedded SoftHSM2 token in `tokenDir`, its KEK and its index key.
 * `mayCreateIndexKey` false: the store holds indexes made with one, so it must be there.
 */
export async function openEmbeddedHsm(
  tokenDir: string,
  opts: { readonly mayCreate?: boolean; readonly mayCreateIndexKey?: boolean; readonly openIndexKey?: boolean; readonly createKek?: boolean; readonly kekEscrowable?: boolean; readonly kekId?: string } = {},
): Promise<KeyProtector> {
  const token = ensureSoftHsmToken(tokenDir, { mayCreate: opts.mayCreate });
  // SoftHSM2 runs in this process: a call costs about 30 µs, less than a hop to the thread pool and
  // back (bench/hsm-bench.ts; end to end, Get +14% and Create +31% in sync mode).
  return Pkcs11KeyProtector.open(
    softHsmProtectorConfig(token, KEK_LABEL, { callMode: 'sync', createIndexKey: opts.mayCreateIndexKey, openIndexKey: opts.openIndexKey, kekEscrowable: opts.kekEscrowable, ...(opts.createKek === false ? { createKek: false } : {}), ...(opts.kekId !== undefined ? { kekId: opts.kekId } : {}) }),
  );
}

/**
 * The protector configuration of the server's token (embedded or configured), for the key-custody
 * commands, which open the token beside a running server. `mayCreateToken`: an embedded token may
 * be made (kek recover into a new data dir).
 */
export function tokenProtectorConfig(config: ServerConfig, opts: { readonly mayCreateToken: boolean; readonly kekId?: string }): Pkcs11KeyProtectorConfig {
  const current = opts.kekId !== undefined ? { kekId: opts.kekId } : currentKekOf(config);
  if (config.hsm === null) {
    const token = ensureSoftHsmToken(path.join(config.dataDir, EMBEDDED_TOKEN_DIR), { mayCreate: opts.mayCreateToken });
    return softHsmProtectorConfig(token, KEK_LABEL, { callMode: 'sync', kekEscrowable: config.kekEscrowable, ...current });
  }
  return { ...configuredModule(config.hsm), kekEscrowable: config.kekEscrowable, ...current };
}

/** The current KEK as the data dir names it (keys/kek-current.ts); nothing for a data dir from before (label rule). */
function currentKekOf(config: ServerConfig): { kekId?: string } {
  const kekId = currentKekId(config.dataDir);
  return kekId !== undefined ? { kekId } : {};
}

/**
 * The current KEK as the configured store names it: on PostgreSQL the database's (once a node has
 * named one there), else the data dir's. For the processes that open the token without the store.
 */
export async function currentKekFor(config: ServerConfig): Promise<{ kekId?: string }> {
  const e = config.storeEngine;
  if (e.engine === 'postgres') {
    const catalog = PostgresKekCatalog.open(e.url);
    try {
      const named = await catalog.current();
      if (named !== undefined) return { kekId: named.kekId };
    } finally {
      await catalog.close();
    }
  }
  return currentKekOf(config);
}

/**
 * Opens the HSM for the store, and refuses to start when it does not hold every KEK the store's
 * objects are wrapped under (a store copied without its token, the wrong token or module): serving
 * would answer each of those objects with Cryptographic Failure. The embedded token is created only
 * for a store that needs no KEK yet. Then converts the Digests of a store written before they were
 * withheld (ops/digest-index.ts sealClearDigests), before anything is served.
 */
export async function openServerHsm(config: ServerConfig, store: ServerStore): Promise<KeyProtector> {
  const kekIds = await store.kekIds();
  const token = config.hsm === null ? `the embedded SoftHSM2 token in ${path.join(config.dataDir, EMBEDDED_TOKEN_DIR)}` : `token "${config.hsm.tokenLabel}" of ${config.hsm.module}`;
  // The index key behind the Digest indexes (ops/digest-index.ts) is made with the KEK, or when a
  // store written before them is converted; a store that holds indexes needs the key they were made with.
  const mayCreateIndexKey = kekIds.length === 0 || store.needsDigestSealing();
  const catalog = store instanceof PostgresObjectStore ? store.kekCatalog() : undefined;
  const named = await catalog?.current();
  let keys: KeyProtector;
  try {
    keys = await openHsmModule(config, kekIds.length === 0, mayCreateIndexKey, named !== undefined ? { kekId: named.kekId } : currentKekOf(config));
  } catch (e) {
    if (named !== undefined && e instanceof KeyProtectorError && e.code === 'UNKNOWN_KEK' && e.message.includes(named.kekId)) {
      throw new Error(`the database names KEK ${named.kekId} as current (table kek_current), but ${token} does not hold it: start with the HSM token the other nodes use`);
    }
    // UNKNOWN_KEK names the missing key: only the index key's absence has this cause.
    if (!mayCreateIndexKey && e instanceof KeyProtectorError && e.code === 'UNKNOWN_KEK' && e.message.includes('index key')) {
      throw new Error(`the store's Digest indexes were made with the HSM key labelled "${INDEX_KEY_LABEL}", which ${token} does not hold: start with the token the store was used with`);
    }
    throw e;
  }
  try {
    const missing = (await keys.missingKeks?.(kekIds)) ?? [];
    if (missing.length > 0) {
      throw new Error(`the store holds objects wrapped under KEK ${missing.join(', ')}, which ${token} does not hold: start with the token those objects were made with`);
    }
    if (catalog !== undefined) {
      // The first node on a database (or one from before migration 9) names its KEK current there;
      // a node that lost that race to another's takes the other's.
      if (named === undefined && /^(?:[0-9a-f]{2})+$/.test(keys.kekId)) {
        const winner = await catalog.nameCurrentIfUnset(keys.kekId);
        if (winner !== keys.kekId) await keys.adoptCurrentKek?.(winner);
        else console.log(JSON.stringify({ msg: 'kek', note: `KEK ${keys.kekId} named current in the database (table kek_current)` }));
      }
    } else if (nameCurrentKekIfUnset(config.dataDir, keys.kekId)) {
      // A data dir from before kek-current.json: the KEK its label found is named current from now on.
      console.log(JSON.stringify({ msg: 'kek', note: `KEK ${keys.kekId} named current in ${CURRENT_KEK_FILE}` }));
    }
    const sealed = await sealClearDigests(store, keys);
    if (sealed > 0) console.log(JSON.stringify({ msg: 'store', note: `the Digests of ${sealed} secret objects were replaced by their index MACs` }));
  } catch (e) {
    await keys.close();
    throw e;
  }
  return keys;
}

async function openHsmModule(config: ServerConfig, mayCreate: boolean, mayCreateIndexKey: boolean, current: { kekId?: string }): Promise<KeyProtector> {
  const kekEscrowable = config.kekEscrowable;
  if (config.hsm === null) return openEmbeddedHsm(path.join(config.dataDir, EMBEDDED_TOKEN_DIR), { mayCreate, mayCreateIndexKey, kekEscrowable, ...current });
  return Pkcs11KeyProtector.open({ ...configuredModule(config.hsm), createIndexKey: mayCreateIndexKey, kekEscrowable, ...current });
}

/** The configured PKCS#11 module and token (`hsm`), the PIN read from where the config says. */
function configuredModule(hsm: NonNullable<ServerConfig['hsm']>) {
  return {
    modulePath: hsm.module,
    tokenLabel: hsm.tokenLabel,
    pin: readPin(hsm.pinEnv ? { env: hsm.pinEnv } : { file: hsm.pinFile }),
    kekLabel: hsm.kekLabel,
    callMode: hsm.callMode,
  };
}

/**
 * The token as `audit verify` opens it beside a running server: a session of its own, and nothing
 * created (no token, KEK or audit key).
 */
export async function openHsmForVerify(config: ServerConfig): Promise<KeyProtector> {
  const kekEscrowable = config.kekEscrowable;
  const current = await currentKekFor(config);
  if (config.hsm === null) return openEmbeddedHsm(path.join(config.dataDir, EMBEDDED_TOKEN_DIR), { mayCreate: false, openIndexKey: false, createKek: false, kekEscrowable, ...current });
  return Pkcs11KeyProtector.open({ ...configuredModule(config.hsm), createKek: false, openIndexKey: false, kekEscrowable, ...current });
}

/** The HSM of the process that owns the audit file (its checkpoints), once prepareDataDir has run. */
export async function openHsmForAudit(config: ServerConfig): Promise<KeyProtector> {
  return openHsmModule(config, false, false, await currentKekFor(config));
}
