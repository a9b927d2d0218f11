/**
 * The PKCS#11 module and its token: one load and one C_Initialize per library per process, shared
 * by protectors; finding the slot, logging in, and asking the token what it offers.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { types } from 'node:util';
import { SHARE_ENV, Worker } from 'node:worker_threads';
import * as pkcs11js from 'pkcs11js';
import { KeyProtectorError } from './key-protector';
import type { Pkcs11KeyProtectorConfig } from './pkcs11-config';
import { LOGIN_FAILURE, ckrOf, hsmError } from './pkcs11-errors';

export type Handle = pkcs11js.Handle;
export type Lib = pkcs11js.PKCS11;

// ---------------------------------------------------------------------------------------------
// Module registry: one load and one C_Initialize per library per process, shared by protectors.

export interface LoadedModule {
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
  /** What the module's environment variables held before its load: put back when it is unloaded. */
  readonly previousEnv: EnvValues;
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

/** Serialises loads and unloads, which may await (swapEnvironment). */
let registryLock: Promise<unknown> = Promise.resolve();

function locked<T>(fn: () => T | Promise<T>): Promise<T> {
  const run = registryLock.then(fn, fn);
  registryLock = run.catch(() => undefined);
  return run;
}

type EnvValues = Readonly<Record<string, string | undefined>>;

/**
 * Puts `env` into the process environment where native code (getenv in C_Initialize) reads it, and
 * returns what those variables held there before. Under a sandbox such as jest, `process.env` is a
 * Proxy over a copy and setting it changes nothing native; a worker started with SHARE_ENV reads and
 * writes the real environment instead.
 */
async function swapEnvironment(env: EnvValues | undefined): Promise<EnvValues> {
  const entries = Object.entries(env ?? {});
  if (entries.length === 0) return {};
  const sandboxed = types.isProxy(process.env);
  const previous: Record<string, string | undefined> = {};
  for (const [name, value] of entries) {
    previous[name] = process.env[name];
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  if (!sandboxed) return previous;
  return new Promise<EnvValues>((resolve, reject) => {
    const worker = new Worker(
      `const { workerData, parentPort } = require("node:worker_threads");
       const before = {};
       for (const [k, v] of workerData) { before[k] = process.env[k]; if (v === undefined) delete process.env[k]; else process.env[k] = v; }
       parentPort.postMessage(before);`,
      { eval: true, env: SHARE_ENV, workerData: entries },
    );
    let before: EnvValues = previous;
    worker.once('message', (m: EnvValues) => (before = m));
    worker.once('error', reject);
    worker.once('exit', (code) => (code === 0 ? resolve(before) : reject(new Error(`environment worker exited with ${code}`))));
  });
}

export function acquireModule(modulePath: string, env: Readonly<Record<string, string>> | undefined): Promise<LoadedModule> {
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
  let previousEnv: EnvValues;
  try {
    previousEnv = await swapEnvironment(env);
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
  const loaded: LoadedModule = { key, lib, envKey, refs: 1, generation: 0, ownsInit, logins: new Map(), previousEnv };
  modules.set(key, loaded);
  return loaded;
}

export function releaseModule(mod: LoadedModule): Promise<void> {
  return locked(() => releaseModuleLocked(mod));
}

async function releaseModuleLocked(mod: LoadedModule): Promise<void> {
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
  // A process that opens several tokens in turn (a test run, a command working on two data dirs)
  // must not leave the next load reading a configuration that belonged to this one.
  await swapEnvironment(mod.previousEnv).catch(() => undefined);
}

/** Finalise and initialise again: SoftHSM2 only rescans its token directory at C_Initialize. */
export function reinitializeModule(mod: LoadedModule): void {
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

export function bool(value: Buffer | undefined): boolean {
  return value !== undefined && value.length > 0 && value[0] !== 0;
}

/** CK_ULONG attribute values come back in host order: 8 bytes on 64-bit Unix, 4 on Windows. */
export function ulong(value: Buffer | undefined): number {
  if (value === undefined || value.length === 0) return 0;
  return value.length >= 8 ? Number(value.readBigUInt64LE(0)) : value.readUIntLE(0, Math.min(value.length, 6));
}

/** What the token reports of a secret key (KEK, index or audit MAC key): never CKA_VALUE. */
export interface SecretKeyFacts {
  readonly id: Buffer;
  readonly sensitive: boolean;
  readonly extractable: boolean;
  readonly valueLength: number;
  readonly encrypt: boolean;
  readonly decrypt: boolean;
  readonly wrap: boolean;
  readonly unwrap: boolean;
  readonly sign: boolean;
}

/** The usage and protection flags every PKCS#11 secret key carries, in one call. */
export function secretKeyFacts(lib: Lib, session: Handle, key: Handle): SecretKeyFacts {
  const attrs = lib.C_GetAttributeValue(session, key, [
    { type: pkcs11js.CKA_ID },
    { type: pkcs11js.CKA_SENSITIVE },
    { type: pkcs11js.CKA_EXTRACTABLE },
    { type: pkcs11js.CKA_VALUE_LEN },
    { type: pkcs11js.CKA_ENCRYPT },
    { type: pkcs11js.CKA_DECRYPT },
    { type: pkcs11js.CKA_WRAP },
    { type: pkcs11js.CKA_UNWRAP },
    { type: pkcs11js.CKA_SIGN },
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
    sign: bool(get(pkcs11js.CKA_SIGN)),
  };
}

/** A handle is a native CK_ULONG in host (little-endian) order. */
function handleValue(handle: Handle): bigint {
  let v = 0n;
  for (let i = handle.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(handle[i] as number);
  return v;
}

// ---------------------------------------------------------------------------------------------
// The token: objects, slot, login, mechanisms

export function destroyQuietly(lib: Lib, session: Handle, object: Handle): void {
  try {
    lib.C_DestroyObject(session, object);
  } catch {
    // A session object disappears with its session anyway.
  }
}

export function findObjects(lib: Lib, session: Handle, template: pkcs11js.Template): Handle[] {
  lib.C_FindObjectsInit(session, template);
  try {
    return lib.C_FindObjects(session, 16);
  } finally {
    lib.C_FindObjectsFinal(session);
  }
}

export function findSlot(lib: Lib, config: Pkcs11KeyProtectorConfig): Handle {
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

export function login(mod: LoadedModule, session: Handle, slotKey: string, pin: string): void {
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

export function mechanismSupport(lib: Lib, slot: Handle): { gcm: boolean; kwp: boolean } {
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
export function hmacSupported(lib: Lib, slot: Handle): boolean {
  try {
    if (!lib.C_GetMechanismList(slot).includes(pkcs11js.CKM_SHA256_HMAC)) return false;
    return (lib.C_GetMechanismInfo(slot, pkcs11js.CKM_SHA256_HMAC).flags & pkcs11js.CKF_SIGN) !== 0;
  } catch {
    return false;
  }
}
