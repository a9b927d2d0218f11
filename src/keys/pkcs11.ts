/**
 * KeyProtector over a PKCS#11 module (SoftHSM2 by default, any HSM by configuration).
 *
 * The key-encryption key (KEK) is an AES-256 token object, sensitive and non-extractable, found by
 * label and created on first start. Key material is encrypted inside the HSM: AES-GCM through
 * C_Encrypt with the unique identifier as AAD, or RFC 5649 key wrap through C_WrapKey where the
 * module lacks GCM (see key-protector.ts for the blob formats).
 *
 * Concurrency: a PKCS#11 session runs one operation at a time, so the protector keeps a small pool
 * of sessions and queues callers. Crypto calls run on libuv's thread pool (pkcs11js *Async) so a
 * slow HSM never stalls the event loop; `callMode: 'sync'` is there for measurement (bench/hsm-bench.ts).
 *
 * Recovery: when sessions or the token go away (CKR_SESSION_HANDLE_INVALID, CKR_TOKEN_NOT_PRESENT,
 * stale object handles...), the pool is dropped, callers get HSM_UNAVAILABLE, and the next call
 * (at once, or `reconnectIntervalMs` after a failed attempt) re-finds the token, logs in and
 * re-finds the KEK by label and CKA_ID. A KEK is never created during recovery: a different KEK
 * would silently make every stored blob undecryptable.
 *
 * Beside the KEK, an HMAC-SHA256 key (the index key, generic secret, sign only) computes the
 * store's blind indexes (indexMac); like the KEK it is found by label, created only at open, and
 * must keep its CKA_ID across reconnections.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { types } from 'node:util';
import { SHARE_ENV, Worker } from 'node:worker_threads';
import * as pkcs11js from 'pkcs11js';
import {
  KeyProtectorError,
  MECHANISM_AES_GCM,
  MECHANISM_AES_KWP,
  type DigestSignatureMechanism,
  type DigestSignatureRequest,
  type DigestSigningKey,
  type KeyProtector,
  type KeyProtectorErrorCode,
  type ProtectedMaterial,
} from './key-protector';
import { secureRandomBytes } from '../crypto/random-pool';

type Handle = pkcs11js.Handle;
type Lib = pkcs11js.PKCS11;

/** The label of the HMAC key that authenticates the audit trail's checkpoints. */
export const AUDIT_KEY_LABEL = 'kmip-audit-mac';
/** The default label of the HMAC key behind the store's blind indexes (indexMac). */
export const INDEX_KEY_LABEL = 'kmip-digest-index';

export type Pkcs11Mechanism = typeof MECHANISM_AES_GCM | typeof MECHANISM_AES_KWP;

export interface Pkcs11KeyProtectorConfig {
  /** Path of the PKCS#11 shared library, e.g. /usr/lib/softhsm/libsofthsm2.so. */
  readonly modulePath: string;
  /** Token to use, by label (preferred: SoftHSM2 reassigns slot IDs). */
  readonly tokenLabel?: string;
  /** Token to use, by slot ID, when no label is given. */
  readonly slotId?: number | bigint;
  /** User PIN. Read it with `readPin` (environment variable or file), never from argv. */
  readonly pin: string;
  /** CKA_LABEL of the KEK. */
  readonly kekLabel: string;
  /** 'auto' (default): AES-GCM if the module offers it for C_Encrypt/C_Decrypt, else RFC 5649 key wrap. */
  readonly mechanism?: 'auto' | Pkcs11Mechanism;
  /** Sessions in the pool (default 4, libuv's default thread-pool size). */
  readonly sessions?: number;
  /** 'async' (default) runs crypto calls on the thread pool; 'sync' runs them on the event loop. */
  readonly callMode?: 'async' | 'sync';
  /** Create the KEK when no key carries `kekLabel` (default true; only ever at open). */
  readonly createKek?: boolean;
  /** CKA_LABEL of the blind-index key (indexMac); default INDEX_KEY_LABEL. */
  readonly indexKeyLabel?: string;
  /**
   * Create the index key when no key carries its label (default true; only ever at open). False
   * for a store that already holds indexes made with one: a new key would silently match nothing.
   */
  readonly createIndexKey?: boolean;
  /** False: do not look for the index key at all (`audit verify`, which needs no indexMac). */
  readonly openIndexKey?: boolean;
  /** Delay after a failed reconnection attempt before the next one, while the HSM is away (default 1000 ms). */
  readonly reconnectIntervalMs?: number;
  /**
   * Environment the module reads when it is initialised (SoftHSM2 reads SOFTHSM2_CONF in
   * C_Initialize). Applied to process.env just before the module is loaded and initialised.
   */
  readonly moduleEnv?: Readonly<Record<string, string>>;
}

/** Attributes of the KEK as the token reports them (no secret: CKA_VALUE is never read). */
export interface KekDescription {
  readonly kekId: string;
  readonly label: string;
  readonly token: boolean;
  readonly sensitive: boolean;
  readonly extractable: boolean;
  readonly alwaysSensitive: boolean;
  readonly neverExtractable: boolean;
  readonly valueLength: number;
}

// ---------------------------------------------------------------------------------------------
// PIN

/**
 * Reads the user PIN from an environment variable or a file (exactly one), so it never appears on
 * a command line. A file must not be readable or writable by group or others (like ssh keys); one
 * trailing newline is ignored. Error messages name the source, never its content.
 */
export function readPin(source: { env?: string; file?: string }): string {
  const { env, file } = source;
  if ((env === undefined) === (file === undefined)) {
    throw new KeyProtectorError('PIN_SOURCE', 'give exactly one PIN source: an environment variable or a file');
  }
  let pin: string;
  if (env !== undefined) {
    const value = process.env[env];
    if (value === undefined || value === '') {
      throw new KeyProtectorError('PIN_SOURCE', `environment variable ${env} is not set or empty`);
    }
    pin = value;
  } else {
    const path = file as string;
    let mode: number;
    try {
      mode = statSync(path).mode;
    } catch {
      throw new KeyProtectorError('PIN_SOURCE', `PIN file ${path} cannot be read`);
    }
    if ((mode & 0o077) !== 0) {
      throw new KeyProtectorError('PIN_SOURCE', `PIN file ${path} is accessible to group or others; run chmod 600 ${path}`);
    }
    try {
      pin = readFileSync(path, 'utf8').replace(/\r?\n$/, '');
    } catch {
      throw new KeyProtectorError('PIN_SOURCE', `PIN file ${path} cannot be read`);
    }
    if (pin === '') throw new KeyProtectorError('PIN_SOURCE', `PIN file ${path} is empty`);
  }
  return pin;
}

// ---------------------------------------------------------------------------------------------
// PKCS#11 error classification

const CKR_NAMES = new Map<number, string>();
for (const [name, value] of Object.entries(pkcs11js)) {
  if (name.startsWith('CKR_') && typeof value === 'number' && !CKR_NAMES.has(value)) CKR_NAMES.set(value, name);
}

/** The CKR_ name of a pkcs11js error, or undefined for anything else. */
function ckrOf(err: unknown): string | undefined {
  if (!(err instanceof Error)) return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'number' && code !== 0 && CKR_NAMES.has(code)) return CKR_NAMES.get(code);
  return /^CKR_[A-Z0-9_]+/.exec(err.message)?.[0];
}

/** Errors meaning our sessions, login or object handles are gone: reconnect and retry. */
const CONNECTION_LOSS = new Set([
  'CKR_SESSION_HANDLE_INVALID',
  'CKR_SESSION_CLOSED',
  'CKR_TOKEN_NOT_PRESENT',
  'CKR_TOKEN_NOT_RECOGNIZED',
  'CKR_DEVICE_REMOVED',
  'CKR_DEVICE_ERROR',
  'CKR_SLOT_ID_INVALID',
  'CKR_OBJECT_HANDLE_INVALID',
  'CKR_KEY_HANDLE_INVALID',
  'CKR_WRAPPING_KEY_HANDLE_INVALID',
  'CKR_UNWRAPPING_KEY_HANDLE_INVALID',
  'CKR_USER_NOT_LOGGED_IN',
  'CKR_CRYPTOKI_NOT_INITIALIZED',
]);

/** Errors that, from a decrypt or unwrap, mean the blob does not authenticate. */
const INTEGRITY_FAILURE = new Set([
  'CKR_ENCRYPTED_DATA_INVALID',
  'CKR_ENCRYPTED_DATA_LEN_RANGE',
  'CKR_WRAPPED_KEY_INVALID',
  'CKR_WRAPPED_KEY_LEN_RANGE',
  'CKR_DATA_INVALID',
  'CKR_DATA_LEN_RANGE',
]);

/**
 * Errors that are integrity failures only if the session still works afterwards: SoftHSM2 2.6
 * reports a GCM tag mismatch and a bad RFC 5649 integrity check as CKR_GENERAL_ERROR.
 */
const AMBIGUOUS_FAILURE = new Set(['CKR_GENERAL_ERROR', 'CKR_FUNCTION_FAILED']);

const LOGIN_FAILURE = new Set(['CKR_PIN_INCORRECT', 'CKR_PIN_INVALID', 'CKR_PIN_LEN_RANGE', 'CKR_PIN_LOCKED', 'CKR_PIN_EXPIRED']);

function hsmError(code: KeyProtectorErrorCode, what: string, err: unknown): KeyProtectorError {
  if (err instanceof KeyProtectorError) return err;
  const ckr = ckrOf(err);
  // pkcs11js messages carry CKR names or dlopen text only, never arguments: safe to repeat.
  const detail = ckr ?? (err instanceof Error ? err.message.split('\n')[0] : String(err));
  return new KeyProtectorError(code, `${what}: ${detail}`, ckr);
}

// ---------------------------------------------------------------------------------------------
// Module registry: one load and one C_Initialize per library per process, shared by protectors.

interface LoadedModule {
  readonly key: string;
  readonly lib: Lib;
  readonly envKey: string;
  refs: number;
  /** Bumped at each re-initialisation: sessions and handles of older generations are gone. */
  generation: number;
  /** False if someone else in the process had already initialised the library: never finalise it. */
  ownsInit: boolean;
  /** Per slot: hash of the PIN that logged the application in, and how many connections rely on it. */
  readonly logins: Map<string, { pinHash: Buffer; users: number }>;
}

const modules = new Map<string, LoadedModule>();

function envKeyOf(env: Readonly<Record<string, string>> | undefined): string {
  return JSON.stringify(Object.entries(env ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function initialize(lib: Lib): boolean {
  try {
    // OS locking: async calls run on several threads at once. With NULL arguments SoftHSM2
    // switches its mutexes off.
    lib.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
    return true;
  } catch (err) {
    if (ckrOf(err) === 'CKR_CRYPTOKI_ALREADY_INITIALIZED') return false;
    throw err;
  }
}

/** Serialises loads and unloads, which may await (applyEnvironment). */
let registryLock: Promise<unknown> = Promise.resolve();

function locked<T>(fn: () => T | Promise<T>): Promise<T> {
  const run = registryLock.then(fn, fn);
  registryLock = run.catch(() => undefined);
  return run;
}

/**
 * Puts `env` into the process environment where native code (getenv in C_Initialize) reads it.
 * Under a sandbox such as jest, `process.env` is a Proxy over a copy and setting it changes nothing
 * native; a worker started with SHARE_ENV writes the real environment instead.
 */
async function applyEnvironment(env: Readonly<Record<string, string>> | undefined): Promise<void> {
  const entries = Object.entries(env ?? {});
  if (entries.length === 0) return;
  for (const [name, value] of entries) process.env[name] = value;
  if (!types.isProxy(process.env)) return;
  await new Promise<void>((resolve, reject) => {
    const worker = new Worker('for (const [k, v] of require("node:worker_threads").workerData) process.env[k] = v;', {
      eval: true,
      env: SHARE_ENV,
      workerData: entries,
    });
    worker.once('error', reject);
    worker.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`environment worker exited with ${code}`))));
  });
}

function acquireModule(modulePath: string, env: Readonly<Record<string, string>> | undefined): Promise<LoadedModule> {
  return locked(() => acquireModuleLocked(modulePath, env));
}

async function acquireModuleLocked(modulePath: string, env: Readonly<Record<string, string>> | undefined): Promise<LoadedModule> {
  let key: string;
  try {
    key = realpathSync(modulePath);
  } catch {
    throw new KeyProtectorError('MODULE_LOAD_FAILED', `PKCS#11 module ${modulePath} does not exist`);
  }
  const envKey = envKeyOf(env);
  const existing = modules.get(key);
  if (existing !== undefined) {
    if (existing.envKey !== envKey) {
      throw new KeyProtectorError('CONFIG', `PKCS#11 module ${modulePath} is already initialised with a different environment`);
    }
    existing.refs++;
    return existing;
  }
  // Set before load and C_Initialize: modules read their configuration then, not later.
  try {
    await applyEnvironment(env);
  } catch (err) {
    throw hsmError('CONFIG', 'cannot set the module environment', err);
  }
  const lib = new pkcs11js.PKCS11();
  try {
    lib.load(key);
  } catch (err) {
    throw hsmError('MODULE_LOAD_FAILED', `cannot load PKCS#11 module ${modulePath}`, err);
  }
  let ownsInit: boolean;
  try {
    ownsInit = initialize(lib);
  } catch (err) {
    lib.close();
    throw hsmError('MODULE_LOAD_FAILED', `C_Initialize of ${modulePath} failed`, err);
  }
  const loaded: LoadedModule = { key, lib, envKey, refs: 1, generation: 0, ownsInit, logins: new Map() };
  modules.set(key, loaded);
  return loaded;
}

function releaseModule(mod: LoadedModule): Promise<void> {
  return locked(() => releaseModuleLocked(mod));
}

function releaseModuleLocked(mod: LoadedModule): void {
  mod.refs--;
  if (mod.refs > 0) return;
  modules.delete(mod.key);
  try {
    if (mod.ownsInit) mod.lib.C_Finalize();
  } catch {
    // Already finalised or the device is gone: nothing left to release.
  }
  try {
    mod.lib.close();
  } catch {
    // Unloading is best effort.
  }
}

/** Finalise and initialise again: SoftHSM2 only rescans its token directory at C_Initialize. */
function reinitializeModule(mod: LoadedModule): void {
  mod.generation++;
  mod.logins.clear();
  if (mod.ownsInit) {
    try {
      mod.lib.C_Finalize();
    } catch {
      // Not initialised (an earlier attempt failed): initialise below.
    }
  }
  mod.ownsInit = initialize(mod.lib);
}

// ---------------------------------------------------------------------------------------------
// Attribute helpers

function bool(value: Buffer | undefined): boolean {
  return value !== undefined && value.length > 0 && value[0] !== 0;
}

/** CK_ULONG attribute values come back in host order: 8 bytes on 64-bit Unix, 4 on Windows. */
function ulong(value: Buffer | undefined): number {
  if (value === undefined || value.length === 0) return 0;
  return value.length >= 8 ? Number(value.readBigUInt64LE(0)) : value.readUIntLE(0, Math.min(value.length, 6));
}

/** A handle is a native CK_ULONG in host (little-endian) order. */
function handleValue(handle: Handle): bigint {
  let v = 0n;
  for (let i = handle.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(handle[i] as number);
  return v;
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

const GCM_IV_BYTES = 12;
const GCM_TAG_BYTES = 16;
const KWP_BINDING_BYTES = 16;
/** Binding, then the material's length (uint32 big-endian); the material follows. */
const KWP_HEADER_BYTES = KWP_BINDING_BYTES + 4;

function gcmParams(iv: Buffer, uid: string): pkcs11js.Mechanism {
  const params: pkcs11js.GcmParams = {
    type: pkcs11js.CK_PARAMS_GCM,
    iv,
    ivBits: GCM_IV_BYTES * 8,
    aad: Buffer.from(uid, 'utf8'),
    tagBits: GCM_TAG_BYTES * 8,
  };
  return { mechanism: pkcs11js.CKM_AES_GCM, parameter: params };
}

/** RFC 5649 has no associated data: the identifier is bound by a digest prefixed to the material. */
function kwpBinding(uid: string): Buffer {
  return createHash('sha256').update('kmip-kek-binding\0').update(uid, 'utf8').digest().subarray(0, KWP_BINDING_BYTES);
}

const TEMP_SECRET_TEMPLATE: pkcs11js.Template = [
  { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
  { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_GENERIC_SECRET },
  { type: pkcs11js.CKA_TOKEN, value: false },
  { type: pkcs11js.CKA_PRIVATE, value: true },
  { type: pkcs11js.CKA_SENSITIVE, value: false },
  { type: pkcs11js.CKA_EXTRACTABLE, value: true },
];

// ---------------------------------------------------------------------------------------------
// The protector

interface Connection {
  readonly generation: number;
  readonly slot: Handle;
  readonly slotKey: string;
  readonly idle: Handle[];
  readonly open: Set<Handle>;
  busy: number;
  /** The KEK on the token (its attributes are read from here). */
  readonly kek: Handle;
  /**
   * The handle unprotect uses: an in-HSM session copy of the KEK when the token allows one. Protect
   * keeps using the token object, so that no key is wrapped while the KEK is missing from the token.
   */
  readonly cryptoKek: Handle;
  /** The session that holds the copy (the copy lives as long as it does); closed when forgotten. */
  readonly kekHolder: Handle | null;
  /** KEKs by kekId, for blobs made under an earlier KEK (rotation). */
  readonly keks: Map<string, Handle>;
  /** The audit MAC key, once found (or created) on this connection's token. */
  auditKey: Handle | null;
  dead: boolean;
  loginCounted: boolean;
}

type Waiter = (session: Handle | null) => void;

interface Opened {
  readonly conn: Connection;
  readonly kekId: string;
  readonly mechanism: Pkcs11Mechanism;
}

export class Pkcs11KeyProtector implements KeyProtector {
  private conn: Connection | null;
  private readonly waiters: Waiter[] = [];
  private reconnecting: Promise<void> | null = null;
  /** When the last reconnection attempt failed; the next waits `reconnectIntervalMs` from it. */
  private lastFailedReconnect = 0;
  private closed = false;
  /** Set when the PIN is refused after open: retrying could lock the token. */
  private loginRefused = false;
  private busyTotal = 0;
  private readonly drainWaiters: Array<() => void> = [];
  private readonly poolSize: number;

  private constructor(
    private readonly mod: LoadedModule,
    private readonly config: Pkcs11KeyProtectorConfig,
    opened: Opened,
  ) {
    this.conn = opened.conn;
    this.kekId = opened.kekId;
    this.mechanism = opened.mechanism;
    this.poolSize = opened.conn.open.size;
  }

  readonly kekId: string;
  readonly mechanism: Pkcs11Mechanism;
  /** CKA_ID (hex) of the index key found or made at open: the one every later connection must find. */
  private indexKeyId = '';
  /** The index key's handle per connection (handles die with their connection). */
  private readonly indexKeys = new WeakMap<Connection, Handle>();

  /** Loads the module, logs in, finds or creates the KEK, and opens the session pool. */
  static async open(config: Pkcs11KeyProtectorConfig): Promise<Pkcs11KeyProtector> {
    if (config.tokenLabel === undefined && config.slotId === undefined) {
      throw new KeyProtectorError('CONFIG', 'configure a token label or a slot ID');
    }
    if (config.kekLabel === '') throw new KeyProtectorError('CONFIG', 'the KEK label is empty');
    const sessions = config.sessions ?? 4;
    if (!Number.isInteger(sessions) || sessions < 1 || sessions > 64) {
      throw new KeyProtectorError('CONFIG', 'sessions must be an integer from 1 to 64');
    }
    const mod = await acquireModule(config.modulePath, config.moduleEnv);
    let protector: Pkcs11KeyProtector;
    try {
      const opened = connect(mod, config, sessions, null);
      protector = new Pkcs11KeyProtector(mod, config, opened);
    } catch (err) {
      await releaseModule(mod);
      throw err;
    }
    try {
      if (config.openIndexKey !== false) {
        protector.indexKeyId = await protector.withSession(async (lib, session, conn) => protector.openIndexKey(lib, session, conn, config.createIndexKey !== false));
      }
    } catch (err) {
      await protector.close();
      throw err;
    }
    return protector;
  }

  async protect(uniqueIdentifier: string, plaintext: Uint8Array): Promise<ProtectedMaterial> {
    const input = asBuffer(plaintext);
    return this.withSession(async (lib, session, conn) => {
      if (this.mechanism === MECHANISM_AES_GCM) {
        // Random 96-bit IV (NIST SP 800-38D §8.2.2): sound for up to 2^32 encryptions per KEK.
        const iv = secureRandomBytes(GCM_IV_BYTES);
        lib.C_EncryptInit(session, gcmParams(iv, uniqueIdentifier), conn.kek);
        const ciphertext = await this.encrypt(lib, session, input, Buffer.alloc(input.length + GCM_TAG_BYTES));
        return { kekId: this.kekId, mechanism: MECHANISM_AES_GCM, iv, ciphertext };
      }
      // Padded to 8 bytes by us: SoftHSM2 2.6 does not strip RFC 5649 padding on unwrap, so the
      // length travels inside the wrapped data and the HSM never has padding to add.
      const material = Buffer.alloc(Math.ceil((KWP_HEADER_BYTES + input.length) / 8) * 8);
      let temp: Handle | undefined;
      try {
        kwpBinding(uniqueIdentifier).copy(material);
        material.writeUInt32BE(input.length, KWP_BINDING_BYTES);
        input.copy(material, KWP_HEADER_BYTES);
        // C_WrapKey only wraps key objects: the material enters the HSM as a short-lived session object.
        temp = lib.C_CreateObject(session, [...TEMP_SECRET_TEMPLATE, { type: pkcs11js.CKA_VALUE, value: material }]);
        const wrapped = await this.wrap(lib, session, conn.kek, temp, Buffer.alloc(material.length + 16));
        return { kekId: this.kekId, mechanism: MECHANISM_AES_KWP, iv: new Uint8Array(0), ciphertext: wrapped };
      } finally {
        material.fill(0);
        if (temp !== undefined) destroyQuietly(lib, session, temp);
      }
    });
  }

  async unprotect(uniqueIdentifier: string, blob: ProtectedMaterial): Promise<Uint8Array> {
    if (blob.mechanism !== MECHANISM_AES_GCM && blob.mechanism !== MECHANISM_AES_KWP) {
      throw new KeyProtectorError('UNSUPPORTED_MECHANISM', `unknown protection mechanism ${JSON.stringify(blob.mechanism)}`);
    }
    const ciphertext = asBuffer(blob.ciphertext);
    if (blob.mechanism === MECHANISM_AES_GCM && (blob.iv.length !== GCM_IV_BYTES || ciphertext.length < GCM_TAG_BYTES)) {
      throw new KeyProtectorError('INTEGRITY', 'malformed AES-GCM blob');
    }
    if (blob.mechanism === MECHANISM_AES_KWP && (ciphertext.length < 16 || ciphertext.length % 8 !== 0)) {
      throw new KeyProtectorError('INTEGRITY', 'malformed key-wrap blob');
    }
    return this.withSession(async (lib, session, conn) => {
      const kek = this.kekFor(lib, session, conn, blob.kekId);
      if (blob.mechanism === MECHANISM_AES_GCM) {
        const out = Buffer.alloc(ciphertext.length);
        try {
          lib.C_DecryptInit(session, gcmParams(Buffer.from(blob.iv), uniqueIdentifier), kek);
          const plain = await this.authenticated(lib, session, kek, () => this.decrypt(lib, session, ciphertext, out));
          return copyOut(plain);
        } finally {
          out.fill(0);
        }
      }
      const temp = await this.authenticated(lib, session, kek, () =>
        this.unwrap(lib, session, kek, ciphertext, TEMP_SECRET_TEMPLATE),
      );
      let value: Buffer | undefined;
      try {
        value = lib.C_GetAttributeValue(session, temp, [{ type: pkcs11js.CKA_VALUE }])[0]?.value;
        if (value === undefined || value.length < KWP_HEADER_BYTES) {
          throw new KeyProtectorError('INTEGRITY', 'key-wrap blob does not authenticate');
        }
        if (!timingSafeEqual(value.subarray(0, KWP_BINDING_BYTES), kwpBinding(uniqueIdentifier))) {
          throw new KeyProtectorError('INTEGRITY', 'key-wrap blob belongs to another object');
        }
        const length = value.readUInt32BE(KWP_BINDING_BYTES);
        const end = KWP_HEADER_BYTES + length;
        if (end > value.length || value.subarray(end).some((b) => b !== 0)) {
          throw new KeyProtectorError('INTEGRITY', 'key-wrap blob is malformed');
        }
        return copyOut(value.subarray(KWP_HEADER_BYTES, end));
      } finally {
        value?.fill(0);
        destroyQuietly(lib, session, temp);
      }
    });
  }

  async signDigest(request: DigestSignatureRequest): Promise<Buffer> {
    return this.withSession(async (lib, session) => {
      const key = lib.C_CreateObject(session, digestKeyTemplate(request.key, 'private'));
      try {
        lib.C_SignInit(session, digestMechanism(request.mechanism), key);
        const out = Buffer.alloc(signatureBytes(request.key));
        const input = asBuffer(request.digest);
        const signature = this.config.callMode === 'sync' ? lib.C_Sign(session, input, out) : await lib.C_SignAsync(session, input, out);
        return copyOut(signature);
      } finally {
        destroyQuietly(lib, session, key);
      }
    });
  }

  async verifyDigest(request: DigestSignatureRequest, signature: Uint8Array): Promise<boolean> {
    return this.withSession(async (lib, session) => {
      const key = lib.C_CreateObject(session, digestKeyTemplate(request.key, 'public'));
      try {
        lib.C_VerifyInit(session, digestMechanism(request.mechanism), key);
        const input = asBuffer(request.digest);
        const sig = asBuffer(signature);
        try {
          return this.config.callMode === 'sync' ? lib.C_Verify(session, input, sig) : await lib.C_VerifyAsync(session, input, sig);
        } catch (err) {
          // A wrong or malformed signature is an answer, not an HSM failure; the operation has ended.
          const ckr = ckrOf(err);
          if (ckr === 'CKR_SIGNATURE_INVALID' || ckr === 'CKR_SIGNATURE_LEN_RANGE') return false;
          throw err;
        }
      } finally {
        destroyQuietly(lib, session, key);
      }
    });
  }

  /**
   * HMAC-SHA256 of `data` inside the HSM under the index key: a generic secret, sensitive and
   * non-extractable, that can only sign and verify. The store keeps this instead of a value an
   * offline attacker could test guesses against (the Digest of a password), and Locate computes the
   * same HMAC of the value it is asked for.
   */
  async indexMac(data: Uint8Array): Promise<Buffer> {
    const input = asBuffer(data);
    return this.withSession(async (lib, session, conn) => {
      const key = this.indexKeyFor(lib, session, conn);
      lib.C_SignInit(session, { mechanism: pkcs11js.CKM_SHA256_HMAC }, key);
      const out = Buffer.alloc(32);
      return copyOut(this.config.callMode === 'sync' ? lib.C_Sign(session, input, out) : await lib.C_SignAsync(session, input, out));
    });
  }

  /** The index key on this connection: the one found or made at open, never a new one. */
  private indexKeyFor(lib: Lib, session: Handle, conn: Connection): Handle {
    const cached = this.indexKeys.get(conn);
    if (cached !== undefined) return cached;
    const found = this.findIndexKey(lib, session);
    if (found === undefined) throw new KeyProtectorError('HSM_UNAVAILABLE', 'the index key is no longer on the token');
    const id = indexKeyAttributes(lib, session, found).id.toString('hex');
    if (id !== this.indexKeyId) throw new KeyProtectorError('HSM_UNAVAILABLE', 'the key labelled as index key is not the one this server started with');
    this.indexKeys.set(conn, found);
    return found;
  }

  private findIndexKey(lib: Lib, session: Handle): Handle | undefined {
    const label = this.config.indexKeyLabel ?? INDEX_KEY_LABEL;
    const found = findObjects(lib, session, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_TOKEN, value: true },
      { type: pkcs11js.CKA_LABEL, value: label },
    ]);
    if (found.length > 1) throw new KeyProtectorError('KEK_AMBIGUOUS', `${found.length} keys are labelled ${JSON.stringify(label)}`);
    return found[0];
  }

  /** At open: finds the index key, or creates it when allowed; checks it; returns its CKA_ID (hex). */
  private openIndexKey(lib: Lib, session: Handle, conn: Connection, mayCreate: boolean): string {
    const label = this.config.indexKeyLabel ?? INDEX_KEY_LABEL;
    let key = this.findIndexKey(lib, session);
    if (key === undefined) {
      if (!mayCreate) throw new KeyProtectorError('UNKNOWN_KEK', `no index key labelled ${JSON.stringify(label)} on the token and creation is disabled`);
      if (!hmacSupported(lib, conn.slot)) {
        throw new KeyProtectorError('UNSUPPORTED_MECHANISM', 'the token does not offer CKM_SHA256_HMAC for signing (the blind index of Digests needs it)');
      }
      key = generateMacKey(lib, session, label);
    }
    const attrs = indexKeyAttributes(lib, session, key);
    if (!attrs.sensitive || attrs.extractable || !attrs.sign || attrs.valueLength < 32) {
      throw new KeyProtectorError('KEK_POLICY', `the index key (label ${JSON.stringify(label)}) must be a sensitive, non-extractable signing key of at least 256 bits`);
    }
    if (attrs.id.length === 0) throw new KeyProtectorError('KEK_POLICY', `the index key (label ${JSON.stringify(label)}) has no CKA_ID`);
    this.indexKeys.set(conn, key);
    return attrs.id.toString('hex');
  }

  /** Reads the KEK's protection attributes from the token (for tests and health checks). */
  async describeKek(): Promise<KekDescription> {
    return this.withSession(async (lib, session, conn) => {
      const attrs = lib.C_GetAttributeValue(session, conn.kek, [
        { type: pkcs11js.CKA_LABEL },
        { type: pkcs11js.CKA_TOKEN },
        { type: pkcs11js.CKA_SENSITIVE },
        { type: pkcs11js.CKA_EXTRACTABLE },
        { type: pkcs11js.CKA_ALWAYS_SENSITIVE },
        { type: pkcs11js.CKA_NEVER_EXTRACTABLE },
        { type: pkcs11js.CKA_VALUE_LEN },
      ]);
      const get = (type: number): Buffer | undefined => attrs.find((a) => a.type === type)?.value;
      return {
        kekId: this.kekId,
        label: (get(pkcs11js.CKA_LABEL) ?? Buffer.alloc(0)).toString('utf8'),
        token: bool(get(pkcs11js.CKA_TOKEN)),
        sensitive: bool(get(pkcs11js.CKA_SENSITIVE)),
        extractable: bool(get(pkcs11js.CKA_EXTRACTABLE)),
        alwaysSensitive: bool(get(pkcs11js.CKA_ALWAYS_SENSITIVE)),
        neverExtractable: bool(get(pkcs11js.CKA_NEVER_EXTRACTABLE)),
        valueLength: ulong(get(pkcs11js.CKA_VALUE_LEN)),
      };
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const waiter of this.waiters.splice(0)) waiter(null);
    await this.drain();
    if (this.reconnecting !== null) await this.reconnecting.catch(() => undefined);
    if (this.conn !== null) this.retire(this.conn);
    this.conn = null;
    await releaseModule(this.mod);
  }

  /** Of the KEK ids a store references, those the token does not hold (start refuses then). */
  async missingKeks(kekIds: readonly string[]): Promise<string[]> {
    return this.withSession(async (lib, session, conn) =>
      kekIds.filter((id) => {
        try {
          this.kekFor(lib, session, conn, id);
          return false;
        } catch (e) {
          if (e instanceof KeyProtectorError && e.code === 'UNKNOWN_KEK') return true;
          throw e;
        }
      }),
    );
  }

  /**
   * HMAC-SHA256 of `data` inside the HSM under the audit key (AUDIT_KEY_LABEL): a generic secret,
   * sensitive and non-extractable, created on the token on first use. The audit trail's checkpoints
   * carry it, so that a trail rewritten without the token does not verify.
   */
  async auditMac(data: Uint8Array): Promise<Buffer> {
    const input = asBuffer(data);
    return this.withSession(async (lib, session, conn) => {
      const key = this.auditKey(lib, session, conn, true);
      lib.C_SignInit(session, { mechanism: pkcs11js.CKM_SHA256_HMAC }, key);
      const out = Buffer.alloc(32);
      return copyOut(this.config.callMode === 'sync' ? lib.C_Sign(session, input, out) : await lib.C_SignAsync(session, input, out));
    });
  }

  /** Whether `mac` is the audit key's HMAC of `data`. Never creates the key: UNKNOWN_KEK without it. */
  async verifyAuditMac(data: Uint8Array, mac: Uint8Array): Promise<boolean> {
    const input = asBuffer(data);
    const given = asBuffer(mac);
    return this.withSession(async (lib, session, conn) => {
      const key = this.auditKey(lib, session, conn, false);
      lib.C_VerifyInit(session, { mechanism: pkcs11js.CKM_SHA256_HMAC }, key);
      try {
        return this.config.callMode === 'sync' ? lib.C_Verify(session, input, given) : await lib.C_VerifyAsync(session, input, given);
      } catch (err) {
        const ckr = ckrOf(err);
        if (ckr === 'CKR_SIGNATURE_INVALID' || ckr === 'CKR_SIGNATURE_LEN_RANGE') return false;
        throw err;
      }
    });
  }

  private auditKey(lib: Lib, session: Handle, conn: Connection, mayCreate: boolean): Handle {
    if (conn.auditKey !== null) return conn.auditKey;
    const found = findObjects(lib, session, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_TOKEN, value: true },
      { type: pkcs11js.CKA_LABEL, value: AUDIT_KEY_LABEL },
    ]);
    if (found.length > 1) throw new KeyProtectorError('KEK_AMBIGUOUS', `${found.length} keys are labelled ${JSON.stringify(AUDIT_KEY_LABEL)}`);
    let key = found[0];
    if (key === undefined) {
      if (!mayCreate) throw new KeyProtectorError('UNKNOWN_KEK', `the token holds no audit key (label ${JSON.stringify(AUDIT_KEY_LABEL)})`);
      key = generateMacKey(lib, session, AUDIT_KEY_LABEL);
    }
    const attrs = lib.C_GetAttributeValue(session, key, [{ type: pkcs11js.CKA_SENSITIVE }, { type: pkcs11js.CKA_EXTRACTABLE }]);
    const get = (type: number): Buffer | undefined => attrs.find((a) => a.type === type)?.value;
    if (!bool(get(pkcs11js.CKA_SENSITIVE)) || bool(get(pkcs11js.CKA_EXTRACTABLE))) {
      throw new KeyProtectorError('KEK_POLICY', `the audit key (label ${JSON.stringify(AUDIT_KEY_LABEL)}) must be sensitive and non-extractable`);
    }
    conn.auditKey = key;
    return key;
  }

  // -------------------------------------------------------------------------------------------

  /** Runs `op` on a pooled session; on a lost connection, reconnects and retries once. */
  private async withSession<T>(op: (lib: Lib, session: Handle, conn: Connection) => Promise<T>): Promise<T> {
    let retried = false;
    for (;;) {
      const conn = await this.connection();
      const session = await this.acquire(conn);
      if (session === null) continue; // the connection died while we queued: take the new one
      let reuse = true;
      try {
        return await op(this.mod.lib, session, conn);
      } catch (err) {
        if (err instanceof KeyProtectorError) throw err;
        const ckr = ckrOf(err);
        if (ckr !== undefined && CONNECTION_LOSS.has(ckr)) {
          this.retire(conn);
          if (!retried) {
            retried = true;
            continue;
          }
          throw hsmError('HSM_UNAVAILABLE', 'HSM connection lost', err);
        }
        // The operation may still be active on this session (e.g. CKR_BUFFER_TOO_SMALL): replace it.
        reuse = false;
        throw hsmError('HSM_ERROR', 'HSM operation failed', err);
      } finally {
        this.release(conn, session, reuse);
      }
    }
  }

  private async connection(): Promise<Connection> {
    for (;;) {
      if (this.closed) throw new KeyProtectorError('CLOSED', 'the key protector is closed');
      if (this.loginRefused) throw new KeyProtectorError('LOGIN_FAILED', 'the token refused the PIN; not retrying');
      const conn = this.conn;
      if (conn !== null && conn.generation !== this.mod.generation) this.retire(conn);
      if (conn !== null && !conn.dead) return conn;
      if (this.reconnecting === null) {
        const wait = this.lastFailedReconnect + (this.config.reconnectIntervalMs ?? 1000) - Date.now();
        if (wait > 0) throw new KeyProtectorError('HSM_UNAVAILABLE', `HSM unavailable; next reconnection attempt in ${wait} ms`);
        // Only a failed attempt delays the next one: a loss right after a recovery is retried at once.
        this.reconnecting = this.reconnect()
          .catch((err: unknown) => {
            this.lastFailedReconnect = Date.now();
            throw err;
          })
          .finally(() => (this.reconnecting = null));
      }
      await this.reconnecting;
    }
  }

  private async reconnect(): Promise<void> {
    // Let operations still running on the old sessions finish, so that a re-initialisation never
    // pulls the library from under a thread-pool call.
    await this.drain();
    if (this.closed) return;
    const attempt = (): void => {
      const opened = connect(this.mod, this.config, this.poolSize, { kekId: this.kekId, mechanism: this.mechanism });
      this.conn = opened.conn;
    };
    try {
      attempt();
      return;
    } catch (err) {
      if (err instanceof KeyProtectorError && err.code === 'LOGIN_FAILED') return this.refuseLogin(err);
      // Only the sole user may re-initialise: other protectors could have calls in flight.
      if (this.mod.refs !== 1) throw asUnavailable(err);
    }
    try {
      reinitializeModule(this.mod);
      attempt();
    } catch (err) {
      if (err instanceof KeyProtectorError && err.code === 'LOGIN_FAILED') return this.refuseLogin(err);
      throw asUnavailable(err);
    }
  }

  private refuseLogin(err: KeyProtectorError): never {
    this.loginRefused = true;
    throw err;
  }

  private acquire(conn: Connection): Promise<Handle | null> {
    const session = conn.idle.pop();
    if (session !== undefined) {
      conn.busy++;
      this.busyTotal++;
      return Promise.resolve(session);
    }
    return new Promise<Handle | null>((resolve) => this.waiters.push(resolve));
  }

  /** Hands the session to the next waiter, or back to the pool; closes it if its connection died. */
  private release(conn: Connection, session: Handle, reuse: boolean): void {
    conn.busy--;
    this.busyTotal--;
    const lib = this.mod.lib;
    let next: Handle | null = session;
    if (conn.dead || this.closed) {
      closeQuietly(lib, conn, session);
      next = null;
    } else if (!reuse) {
      closeQuietly(lib, conn, session);
      try {
        next = lib.C_OpenSession(conn.slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
        conn.open.add(next);
      } catch {
        this.retire(conn);
        next = null;
      }
    }
    if (next !== null) {
      const waiter = this.waiters.shift();
      if (waiter !== undefined) {
        conn.busy++;
        this.busyTotal++;
        waiter(next);
      } else {
        conn.idle.push(next);
      }
    }
    if (conn.dead && conn.busy === 0) this.forget(conn);
    if (this.busyTotal === 0) for (const resolve of this.drainWaiters.splice(0)) resolve();
  }

  /** Resolves when no operation is running on any session of this protector. */
  private drain(): Promise<void> {
    if (this.busyTotal === 0) return Promise.resolve();
    return new Promise<void>((resolve) => this.drainWaiters.push(resolve));
  }

  /** Marks a connection dead: idle sessions close now, busy ones when released; waiters retry. */
  private retire(conn: Connection): void {
    if (!conn.dead) {
      conn.dead = true;
      for (const session of conn.idle.splice(0)) closeQuietly(this.mod.lib, conn, session);
      for (const waiter of this.waiters.splice(0)) waiter(null);
    }
    if (conn.busy === 0) this.forget(conn);
  }

  private forget(conn: Connection): void {
    if (!conn.loginCounted) return;
    conn.loginCounted = false;
    if (conn.kekHolder !== null) closeQuietly(this.mod.lib, conn, conn.kekHolder);
    const login = this.mod.logins.get(conn.slotKey);
    if (login !== undefined && --login.users <= 0) this.mod.logins.delete(conn.slotKey);
  }

  /** The KEK a blob names: the current one, or an earlier one still on the token (found by CKA_ID). */
  private kekFor(lib: Lib, session: Handle, conn: Connection, kekId: string): Handle {
    if (kekId === this.kekId) return conn.cryptoKek;
    const cached = conn.keks.get(kekId);
    if (cached !== undefined) return cached;
    if (!/^(?:[0-9a-f]{2})+$/.test(kekId)) throw new KeyProtectorError('UNKNOWN_KEK', 'blob names an unknown KEK');
    const found = findObjects(lib, session, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_ID, value: Buffer.from(kekId, 'hex') },
    ]);
    const kek = found[0];
    if (found.length !== 1 || kek === undefined) throw new KeyProtectorError('UNKNOWN_KEK', `KEK ${kekId} is not on the token`);
    conn.keks.set(kekId, kek);
    return kek;
  }

  /**
   * Runs a decrypt or unwrap and turns an authentication failure into INTEGRITY. An ambiguous
   * CKR_GENERAL_ERROR counts as INTEGRITY only if the session and KEK still answer afterwards.
   */
  private async authenticated<T>(lib: Lib, session: Handle, kek: Handle, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      const ckr = ckrOf(err);
      if (ckr !== undefined && INTEGRITY_FAILURE.has(ckr)) {
        throw new KeyProtectorError('INTEGRITY', 'protected key material does not authenticate', ckr);
      }
      if (ckr !== undefined && AMBIGUOUS_FAILURE.has(ckr)) {
        lib.C_GetAttributeValue(session, kek, [{ type: pkcs11js.CKA_CLASS }]); // throws if the connection is gone
        throw new KeyProtectorError('INTEGRITY', 'protected key material does not authenticate', ckr);
      }
      throw err;
    }
  }

  private encrypt(lib: Lib, session: Handle, input: Buffer, out: Buffer): Promise<Buffer> {
    return this.config.callMode === 'sync'
      ? Promise.resolve(lib.C_Encrypt(session, input, out))
      : lib.C_EncryptAsync(session, input, out);
  }

  private decrypt(lib: Lib, session: Handle, input: Buffer, out: Buffer): Promise<Buffer> {
    return this.config.callMode === 'sync'
      ? Promise.resolve(lib.C_Decrypt(session, input, out))
      : lib.C_DecryptAsync(session, input, out);
  }

  private wrap(lib: Lib, session: Handle, kek: Handle, key: Handle, out: Buffer): Promise<Buffer> {
    const mech = { mechanism: pkcs11js.CKM_AES_KEY_WRAP_PAD };
    return this.config.callMode === 'sync'
      ? Promise.resolve(lib.C_WrapKey(session, mech, kek, key, out))
      : lib.C_WrapKeyAsync(session, mech, kek, key, out);
  }

  private unwrap(lib: Lib, session: Handle, kek: Handle, wrapped: Buffer, template: pkcs11js.Template): Promise<Handle> {
    const mech = { mechanism: pkcs11js.CKM_AES_KEY_WRAP_PAD };
    return this.config.callMode === 'sync'
      ? Promise.resolve(lib.C_UnwrapKey(session, mech, kek, wrapped, template))
      : lib.C_UnwrapKeyAsync(session, mech, kek, wrapped, template);
  }
}

function asUnavailable(err: unknown): KeyProtectorError {
  if (err instanceof KeyProtectorError && err.code === 'HSM_UNAVAILABLE') return err;
  const ckr = err instanceof KeyProtectorError ? err.ckr : ckrOf(err);
  const why = err instanceof KeyProtectorError ? err.message : ckr ?? 'unknown error';
  return new KeyProtectorError('HSM_UNAVAILABLE', `HSM unavailable: ${why}`, ckr);
}

/** A fresh, unpooled copy the caller owns and zeroes (Buffer.from could land in the shared pool). */
function copyOut(bytes: Buffer): Buffer {
  const out = Buffer.alloc(bytes.length);
  bytes.copy(out);
  return out;
}

/**
 * An in-HSM session-object copy of the KEK, held by a session of its own so that replacing a pool
 * session never destroys it. SoftHSM2 re-reads a token object's file on every use (about 25 µs of
 * each C_DecryptInit, on the event loop); a session object stays in the module's memory. The copy
 * keeps the KEK's attributes (sensitive, not extractable) and never leaves the HSM. Null when the
 * token refuses the copy (CKA_COPYABLE false, or no session objects): the token object is used.
 */
function sessionCopyOfKek(lib: Lib, slot: Handle, kek: Handle): { holder: Handle; kek: Handle } | null {
  let holder: Handle | undefined;
  try {
    holder = lib.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    return { holder, kek: lib.C_CopyObject(holder, kek, [{ type: pkcs11js.CKA_TOKEN, value: false }]) };
  } catch {
    if (holder !== undefined) {
      try {
        lib.C_CloseSession(holder);
      } catch {
        // Best effort: the copy is an optimisation.
      }
    }
    return null;
  }
}

function closeQuietly(lib: Lib, conn: Connection, session: Handle): void {
  conn.open.delete(session);
  try {
    lib.C_CloseSession(session);
  } catch {
    // The session is already gone with the token or the library.
  }
}

// ---------------------------------------------------------------------------------------------
// Signatures over a client's digest

/** A session object (CKA_TOKEN false) that can only sign or verify, gone with its session at the latest. */
function digestKeyTemplate(key: DigestSigningKey, kind: 'private' | 'public'): pkcs11js.Template {
  const common: pkcs11js.Template = [
    { type: pkcs11js.CKA_CLASS, value: kind === 'private' ? pkcs11js.CKO_PRIVATE_KEY : pkcs11js.CKO_PUBLIC_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: key.type === 'rsa' ? pkcs11js.CKK_RSA : pkcs11js.CKK_EC },
    { type: pkcs11js.CKA_TOKEN, value: false },
    kind === 'private' ? { type: pkcs11js.CKA_SIGN, value: true } : { type: pkcs11js.CKA_VERIFY, value: true },
  ];
  if (kind === 'private') {
    common.push({ type: pkcs11js.CKA_PRIVATE, value: true }, { type: pkcs11js.CKA_SENSITIVE, value: true }, { type: pkcs11js.CKA_EXTRACTABLE, value: false });
  }
  if (key.type === 'rsa') {
    const parts: pkcs11js.Template = [
      { type: pkcs11js.CKA_MODULUS, value: key.modulus },
      { type: pkcs11js.CKA_PUBLIC_EXPONENT, value: key.publicExponent },
    ];
    if (kind === 'private') {
      const p = key.private;
      if (!p) throw new KeyProtectorError('CONFIG', 'signing needs the private key');
      parts.push(
        { type: pkcs11js.CKA_PRIVATE_EXPONENT, value: p.d },
        { type: pkcs11js.CKA_PRIME_1, value: p.p },
        { type: pkcs11js.CKA_PRIME_2, value: p.q },
        { type: pkcs11js.CKA_EXPONENT_1, value: p.dp },
        { type: pkcs11js.CKA_EXPONENT_2, value: p.dq },
        { type: pkcs11js.CKA_COEFFICIENT, value: p.qi },
      );
    }
    return [...common, ...parts];
  }
  if (kind === 'private') {
    if (!key.d) throw new KeyProtectorError('CONFIG', 'signing needs the private key');
    return [...common, { type: pkcs11js.CKA_EC_PARAMS, value: key.params }, { type: pkcs11js.CKA_VALUE, value: key.d }];
  }
  if (!key.point) throw new KeyProtectorError('CONFIG', 'verifying needs the public point');
  // CKA_EC_POINT is the DER OCTET STRING holding the point (PKCS#11 2.40 §2.3.3).
  return [...common, { type: pkcs11js.CKA_EC_PARAMS, value: key.params }, { type: pkcs11js.CKA_EC_POINT, value: derOctetString(key.point) }];
}

function derOctetString(content: Buffer): Buffer {
  const n = content.length;
  const length = n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.concat([Buffer.from([0x04]), length, content]);
}

const PSS_HASHES = {
  sha1: { hash: pkcs11js.CKM_SHA_1, mgf: pkcs11js.CKG_MGF1_SHA1 },
  sha224: { hash: pkcs11js.CKM_SHA224, mgf: pkcs11js.CKG_MGF1_SHA224 },
  sha256: { hash: pkcs11js.CKM_SHA256, mgf: pkcs11js.CKG_MGF1_SHA256 },
  sha384: { hash: pkcs11js.CKM_SHA384, mgf: pkcs11js.CKG_MGF1_SHA384 },
  sha512: { hash: pkcs11js.CKM_SHA512, mgf: pkcs11js.CKG_MGF1_SHA512 },
} as const;

function digestMechanism(m: DigestSignatureMechanism): pkcs11js.Mechanism {
  if (m.kind === 'ecdsa') return { mechanism: pkcs11js.CKM_ECDSA };
  const h = PSS_HASHES[m.hash];
  const params: pkcs11js.RsaPSS = { type: pkcs11js.CK_PARAMS_RSA_PSS, hashAlg: h.hash, mgf: h.mgf, saltLen: m.saltLength };
  return { mechanism: pkcs11js.CKM_RSA_PKCS_PSS, parameter: params };
}

/** Room for the signature: the modulus for RSA; r || s for ECDSA (at most 2 x 66 bytes, P-521). */
function signatureBytes(key: DigestSigningKey): number {
  return key.type === 'rsa' ? key.modulus.length : 2 * 66;
}

function destroyQuietly(lib: Lib, session: Handle, object: Handle): void {
  try {
    lib.C_DestroyObject(session, object);
  } catch {
    // A session object disappears with its session anyway.
  }
}

function findObjects(lib: Lib, session: Handle, template: pkcs11js.Template): Handle[] {
  lib.C_FindObjectsInit(session, template);
  try {
    return lib.C_FindObjects(session, 16);
  } finally {
    lib.C_FindObjectsFinal(session);
  }
}

function findSlot(lib: Lib, config: Pkcs11KeyProtectorConfig): Handle {
  let slots: Handle[];
  try {
    slots = lib.C_GetSlotList(true);
  } catch (err) {
    throw hsmError('HSM_UNAVAILABLE', 'cannot list PKCS#11 slots', err);
  }
  if (config.tokenLabel !== undefined) {
    const wanted = config.tokenLabel;
    const matches = slots.filter((slot) => {
      try {
        return lib.C_GetTokenInfo(slot).label.replace(/[ \0]+$/, '') === wanted;
      } catch {
        return false; // the token went away between the two calls
      }
    });
    if (matches.length > 1) throw new KeyProtectorError('CONFIG', `several tokens are labelled ${JSON.stringify(wanted)}`);
    const slot = matches[0];
    if (slot === undefined) throw new KeyProtectorError('TOKEN_NOT_FOUND', `no token labelled ${JSON.stringify(wanted)}`);
    return slot;
  }
  const wanted = BigInt(config.slotId as number | bigint);
  const slot = slots.find((s) => handleValue(s) === wanted);
  if (slot === undefined) throw new KeyProtectorError('TOKEN_NOT_FOUND', `no token in slot ${wanted}`);
  return slot;
}

function login(mod: LoadedModule, session: Handle, slotKey: string, pin: string): void {
  const pinHash = createHash('sha256').update(pin).digest();
  try {
    mod.lib.C_Login(session, pkcs11js.CKU_USER, pin);
  } catch (err) {
    const ckr = ckrOf(err);
    if (ckr === 'CKR_USER_ALREADY_LOGGED_IN') {
      // Login state is per application: another protector in this process logged in. The token
      // did not check this PIN, so compare it with the one that did.
      const known = mod.logins.get(slotKey);
      if (known !== undefined && !timingSafeEqual(known.pinHash, pinHash)) {
        throw new KeyProtectorError('LOGIN_FAILED', 'PIN rejected', 'CKR_PIN_INCORRECT');
      }
      if (known !== undefined) known.users++;
      else mod.logins.set(slotKey, { pinHash, users: 1 });
      return;
    }
    if (ckr !== undefined && LOGIN_FAILURE.has(ckr)) throw new KeyProtectorError('LOGIN_FAILED', `login refused: ${ckr}`, ckr);
    throw hsmError('HSM_UNAVAILABLE', 'login failed', err);
  }
  // An entry can outlive the login it recorded (sessions closed by someone else): the token has
  // just checked this PIN, so it replaces the recorded one.
  const stale = mod.logins.get(slotKey);
  mod.logins.set(slotKey, { pinHash, users: (stale?.users ?? 0) + 1 });
}

function mechanismSupport(lib: Lib, slot: Handle): { gcm: boolean; kwp: boolean } {
  let list: number[];
  try {
    list = lib.C_GetMechanismList(slot);
  } catch {
    return { gcm: false, kwp: false };
  }
  const flags = (mech: number): number => {
    if (!list.includes(mech)) return 0;
    try {
      return lib.C_GetMechanismInfo(slot, mech).flags;
    } catch {
      return 0;
    }
  };
  const gcm = flags(pkcs11js.CKM_AES_GCM);
  const kwp = flags(pkcs11js.CKM_AES_KEY_WRAP_PAD);
  const both = (f: number, a: number, b: number): boolean => (f & a) !== 0 && (f & b) !== 0;
  return {
    gcm: both(gcm, pkcs11js.CKF_ENCRYPT, pkcs11js.CKF_DECRYPT),
    kwp: both(kwp, pkcs11js.CKF_WRAP, pkcs11js.CKF_UNWRAP),
  };
}

/** Whether the slot offers HMAC-SHA256 signing (the index key's only use). */
function hmacSupported(lib: Lib, slot: Handle): boolean {
  try {
    if (!lib.C_GetMechanismList(slot).includes(pkcs11js.CKM_SHA256_HMAC)) return false;
    return (lib.C_GetMechanismInfo(slot, pkcs11js.CKM_SHA256_HMAC).flags & pkcs11js.CKF_SIGN) !== 0;
  } catch {
    return false;
  }
}

function indexKeyAttributes(lib: Lib, session: Handle, key: Handle): { id: Buffer; sensitive: boolean; extractable: boolean; sign: boolean; valueLength: number } {
  const attrs = lib.C_GetAttributeValue(session, key, [
    { type: pkcs11js.CKA_ID },
    { type: pkcs11js.CKA_SENSITIVE },
    { type: pkcs11js.CKA_EXTRACTABLE },
    { type: pkcs11js.CKA_SIGN },
    { type: pkcs11js.CKA_VALUE_LEN },
  ]);
  const get = (type: number): Buffer | undefined => attrs.find((a) => a.type === type)?.value;
  return {
    id: get(pkcs11js.CKA_ID) ?? Buffer.alloc(0),
    sensitive: bool(get(pkcs11js.CKA_SENSITIVE)),
    extractable: bool(get(pkcs11js.CKA_EXTRACTABLE)),
    sign: bool(get(pkcs11js.CKA_SIGN)),
    valueLength: ulong(get(pkcs11js.CKA_VALUE_LEN)),
  };
}

interface KekAttributes {
  readonly id: Buffer;
  readonly sensitive: boolean;
  readonly extractable: boolean;
  readonly valueLength: number;
  readonly encrypt: boolean;
  readonly decrypt: boolean;
  readonly wrap: boolean;
  readonly unwrap: boolean;
}

function kekAttributes(lib: Lib, session: Handle, kek: Handle): KekAttributes {
  const attrs = lib.C_GetAttributeValue(session, kek, [
    { type: pkcs11js.CKA_ID },
    { type: pkcs11js.CKA_SENSITIVE },
    { type: pkcs11js.CKA_EXTRACTABLE },
    { type: pkcs11js.CKA_VALUE_LEN },
    { type: pkcs11js.CKA_ENCRYPT },
    { type: pkcs11js.CKA_DECRYPT },
    { type: pkcs11js.CKA_WRAP },
    { type: pkcs11js.CKA_UNWRAP },
  ]);
  const get = (type: number): Buffer | undefined => attrs.find((a) => a.type === type)?.value;
  return {
    id: get(pkcs11js.CKA_ID) ?? Buffer.alloc(0),
    sensitive: bool(get(pkcs11js.CKA_SENSITIVE)),
    extractable: bool(get(pkcs11js.CKA_EXTRACTABLE)),
    valueLength: ulong(get(pkcs11js.CKA_VALUE_LEN)),
    encrypt: bool(get(pkcs11js.CKA_ENCRYPT)),
    decrypt: bool(get(pkcs11js.CKA_DECRYPT)),
    wrap: bool(get(pkcs11js.CKA_WRAP)),
    unwrap: bool(get(pkcs11js.CKA_UNWRAP)),
  };
}

function generateKek(lib: Lib, session: Handle, label: string, mechanism: Pkcs11Mechanism): Handle {
  const gcm = mechanism === MECHANISM_AES_GCM;
  return lib.C_GenerateKey(session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
    { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_PRIVATE, value: true },
    { type: pkcs11js.CKA_SENSITIVE, value: true },
    { type: pkcs11js.CKA_EXTRACTABLE, value: false },
    // Least privilege: only the usage the chosen mechanism needs.
    { type: pkcs11js.CKA_ENCRYPT, value: gcm },
    { type: pkcs11js.CKA_DECRYPT, value: gcm },
    { type: pkcs11js.CKA_WRAP, value: !gcm },
    { type: pkcs11js.CKA_UNWRAP, value: !gcm },
    { type: pkcs11js.CKA_LABEL, value: label },
    { type: pkcs11js.CKA_ID, value: randomBytes(16) },
  ]);
}

/**
 * Opens a session pool on the configured token, logs in and finds the KEK. `known` is null at
 * open (the KEK may be created and the mechanism chosen) and the open-time choice on reconnect
 * (the KEK must be the same one).
 */
function connect(
  mod: LoadedModule,
  config: Pkcs11KeyProtectorConfig,
  poolSize: number,
  known: { kekId: string; mechanism: Pkcs11Mechanism } | null,
): Opened {
  const lib = mod.lib;
  const slot = findSlot(lib, config);
  const slotKey = slot.toString('hex');
  const sessions: Handle[] = [];
  let loggedIn = false;
  try {
    try {
      for (let i = 0; i < poolSize; i++) {
        sessions.push(lib.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION));
      }
    } catch (err) {
      throw hsmError('HSM_UNAVAILABLE', 'cannot open a session', err);
    }
    const first = sessions[0] as Handle;
    login(mod, first, slotKey, config.pin);
    loggedIn = true;

    let kek: Handle;
    let attrs: KekAttributes;
    let mechanism: Pkcs11Mechanism;
    try {
      const found = findObjects(lib, first, [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
        { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
        { type: pkcs11js.CKA_TOKEN, value: true },
        { type: pkcs11js.CKA_LABEL, value: config.kekLabel },
      ]);
      if (found.length > 1) {
        throw new KeyProtectorError('KEK_AMBIGUOUS', `${found.length} keys are labelled ${JSON.stringify(config.kekLabel)}`);
      }
      const support = mechanismSupport(lib, slot);
      const existing = found[0];
      const existingAttrs = existing === undefined ? undefined : kekAttributes(lib, first, existing);
      mechanism = known?.mechanism ?? chooseMechanism(config.mechanism ?? 'auto', support, existingAttrs);
      if (existing === undefined) {
        if (known !== null) throw new KeyProtectorError('HSM_UNAVAILABLE', 'the KEK is no longer on the token');
        if (config.createKek === false) {
          throw new KeyProtectorError('UNKNOWN_KEK', `no KEK labelled ${JSON.stringify(config.kekLabel)} and creation is disabled`);
        }
        kek = generateKek(lib, first, config.kekLabel, mechanism);
        attrs = kekAttributes(lib, first, kek);
      } else {
        kek = existing;
        attrs = existingAttrs as KekAttributes;
      }
    } catch (err) {
      throw err instanceof KeyProtectorError ? err : hsmError('HSM_ERROR', 'cannot find or create the KEK', err);
    }
    checkKekPolicy(attrs, mechanism);
    const kekId = attrs.id.length > 0 ? attrs.id.toString('hex') : `label:${config.kekLabel}`;
    if (known !== null && known.kekId !== kekId) {
      throw new KeyProtectorError('HSM_UNAVAILABLE', 'the key labelled as KEK is not the KEK this server started with');
    }
    const copy = sessionCopyOfKek(lib, slot, kek);
    if (copy !== null) sessions.push(copy.holder); // closed with the others if the open fails below
    const conn: Connection = {
      generation: mod.generation,
      slot,
      slotKey,
      idle: sessions.filter((s) => s !== copy?.holder),
      open: new Set(sessions),
      busy: 0,
      kek,
      cryptoKek: copy?.kek ?? kek,
      kekHolder: copy?.holder ?? null,
      keks: new Map(),
      auditKey: null,
      dead: false,
      loginCounted: true,
    };
    return { conn, kekId, mechanism };
  } catch (err) {
    for (const session of sessions) {
      try {
        lib.C_CloseSession(session);
      } catch {
        // Best effort on a failed open.
      }
    }
    if (loggedIn) {
      const entry = mod.logins.get(slotKey);
      if (entry !== undefined && --entry.users <= 0) mod.logins.delete(slotKey);
    }
    throw err;
  }
}

function chooseMechanism(
  wanted: 'auto' | Pkcs11Mechanism,
  support: { gcm: boolean; kwp: boolean },
  existing: KekAttributes | undefined,
): Pkcs11Mechanism {
  const gcmOk = support.gcm && (existing === undefined || (existing.encrypt && existing.decrypt));
  const kwpOk = support.kwp && (existing === undefined || (existing.wrap && existing.unwrap));
  if (wanted === MECHANISM_AES_GCM || (wanted === 'auto' && gcmOk)) {
    if (!support.gcm) throw new KeyProtectorError('UNSUPPORTED_MECHANISM', 'the token does not offer CKM_AES_GCM for encryption');
    return MECHANISM_AES_GCM;
  }
  if (wanted === MECHANISM_AES_KWP || (wanted === 'auto' && kwpOk)) {
    if (!support.kwp) throw new KeyProtectorError('UNSUPPORTED_MECHANISM', 'the token does not offer CKM_AES_KEY_WRAP_PAD for wrapping');
    return MECHANISM_AES_KWP;
  }
  throw new KeyProtectorError('UNSUPPORTED_MECHANISM', 'the token offers neither CKM_AES_GCM nor CKM_AES_KEY_WRAP_PAD for the KEK');
}

function checkKekPolicy(attrs: KekAttributes, mechanism: Pkcs11Mechanism): void {
  if (!attrs.sensitive || attrs.extractable) {
    throw new KeyProtectorError('KEK_POLICY', 'the KEK must be sensitive and non-extractable');
  }
  if (attrs.valueLength !== 32) throw new KeyProtectorError('KEK_POLICY', 'the KEK must be an AES-256 key');
  const usable = mechanism === MECHANISM_AES_GCM ? attrs.encrypt && attrs.decrypt : attrs.wrap && attrs.unwrap;
  if (!usable) throw new KeyProtectorError('KEK_POLICY', `the KEK does not allow ${mechanism}`);
}

/**
 * A token HMAC key (index key, audit key): sensitive, non-extractable, and a MAC key only: it can
 * neither encrypt nor wrap, so it can never carry key material out.
 */
function generateMacKey(lib: Lib, session: Handle, label: string): Handle {
  return lib.C_GenerateKey(session, { mechanism: pkcs11js.CKM_GENERIC_SECRET_KEY_GEN }, [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_GENERIC_SECRET },
    { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_PRIVATE, value: true },
    { type: pkcs11js.CKA_SENSITIVE, value: true },
    { type: pkcs11js.CKA_EXTRACTABLE, value: false },
    { type: pkcs11js.CKA_SIGN, value: true },
    { type: pkcs11js.CKA_VERIFY, value: true },
    { type: pkcs11js.CKA_ENCRYPT, value: false },
    { type: pkcs11js.CKA_DECRYPT, value: false },
    { type: pkcs11js.CKA_WRAP, value: false },
    { type: pkcs11js.CKA_UNWRAP, value: false },
    { type: pkcs11js.CKA_LABEL, value: label },
    { type: pkcs11js.CKA_ID, value: randomBytes(16) },
  ]);
}
