/**
 * The key-encryption key on the token: found by label (created at open only, when allowed), its
 * policy checked, its mechanism chosen; earlier KEKs found by CKA_ID for blobs made before a
 * rotation; an in-HSM session copy for speed; its attributes described (no secret is ever read).
 */
import { randomBytes } from 'node:crypto';
import * as pkcs11js from 'pkcs11js';
import { KeyProtectorError, MECHANISM_AES_GCM, MECHANISM_AES_KWP } from './key-protector';
import type { Pkcs11KeyProtectorConfig, Pkcs11Mechanism } from './pkcs11-config';
import { hsmError } from './pkcs11-errors';
import { bool, findObjects, mechanismSupport, secretKeyFacts, ulong, type SecretKeyFacts, type Handle, type Lib } from './pkcs11-module';

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

/**
 * Finds the KEK (by the data dir's CKA_ID, else by label) on a logged-in session, or creates it, and checks its policy. `known` is
 * null at open (the KEK may be created and the mechanism chosen) and the open-time choice on
 * reconnect (the KEK must be the same one).
 */
export function openKek(
  lib: Lib,
  slot: Handle,
  session: Handle,
  config: Pkcs11KeyProtectorConfig,
  known: { kekId: string; mechanism: Pkcs11Mechanism } | null,
): { kek: Handle; kekId: string; mechanism: Pkcs11Mechanism } {
  let kek: Handle;
  let attrs: SecretKeyFacts;
  let mechanism: Pkcs11Mechanism;
  try {
    // On reconnect the KEK this server started with, by CKA_ID: a KEK rotation may have moved the
    // label on to a new KEK meanwhile (the server adopts it on SIGHUP: Pkcs11KeyProtector.adoptCurrentKek).
    // Otherwise the one the data dir names (kek-current.ts), else the one labelled as KEK.
    const wantedId = known !== null && /^(?:[0-9a-f]{2})+$/.test(known.kekId) ? known.kekId : known === null ? config.kekId : undefined;
    const found = findObjects(lib, session, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
      { type: pkcs11js.CKA_TOKEN, value: true },
      wantedId !== undefined ? { type: pkcs11js.CKA_ID, value: Buffer.from(wantedId, 'hex') } : { type: pkcs11js.CKA_LABEL, value: config.kekLabel },
    ]);
    if (found.length > 1) {
      throw new KeyProtectorError('KEK_AMBIGUOUS', wantedId !== undefined ? `${found.length} keys carry CKA_ID ${wantedId}` : `${found.length} keys are labelled ${JSON.stringify(config.kekLabel)}`);
    }
    if (found.length === 0 && known === null && config.kekId !== undefined) {
      // Never made here: a new key would silently make every blob under the named one undecryptable.
      throw new KeyProtectorError('UNKNOWN_KEK', `the data dir names KEK ${config.kekId} as current, but the token does not hold it: recover it (kmip-server kek recover, or the HSM's backup)`);
    }
    const support = mechanismSupport(lib, slot);
    const existing = found[0];
    const existingAttrs = existing === undefined ? undefined : secretKeyFacts(lib, session, existing);
    mechanism = known?.mechanism ?? chooseMechanism(config.mechanism ?? 'auto', support, existingAttrs);
    if (existing === undefined) {
      if (known !== null) throw new KeyProtectorError('HSM_UNAVAILABLE', 'the KEK is no longer on the token');
      if (config.createKek === false) {
        throw new KeyProtectorError('UNKNOWN_KEK', `no KEK labelled ${JSON.stringify(config.kekLabel)} and creation is disabled`);
      }
      kek = generateKek(lib, session, { label: config.kekLabel, id: randomBytes(16), mechanism, escrowable: config.kekEscrowable === true });
      attrs = secretKeyFacts(lib, session, kek);
    } else {
      kek = existing;
      attrs = existingAttrs as SecretKeyFacts;
    }
  } catch (err) {
    throw err instanceof KeyProtectorError ? err : hsmError('HSM_ERROR', 'cannot find or create the KEK', err);
  }
  checkKekPolicy(attrs, mechanism, config.kekEscrowable === true);
  const kekId = attrs.id.length > 0 ? attrs.id.toString('hex') : `label:${config.kekLabel}`;
  if (known !== null && known.kekId !== kekId) {
    throw new KeyProtectorError('HSM_UNAVAILABLE', 'the key labelled as KEK is not the KEK this server started with');
  }
  return { kek, kekId, mechanism };
}

/** An earlier KEK, still on the token, found by its CKA_ID (hex): for blobs made before a rotation. */
export function findKekById(lib: Lib, session: Handle, kekId: string): Handle {
  if (!/^(?:[0-9a-f]{2})+$/.test(kekId)) throw new KeyProtectorError('UNKNOWN_KEK', 'blob names an unknown KEK');
  // Token objects only: a session copy (sessionCopyOfKek) carries the same CKA_ID.
  const found = findObjects(lib, session, [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_ID, value: Buffer.from(kekId, 'hex') },
  ]);
  const kek = found[0];
  if (found.length !== 1 || kek === undefined) throw new KeyProtectorError('UNKNOWN_KEK', `KEK ${kekId} is not on the token`);
  return kek;
}

/** Reads the KEK's protection attributes from the token (for tests and health checks). */
export function readKekDescription(lib: Lib, session: Handle, kek: Handle, kekId: string): KekDescription {
  const attrs = lib.C_GetAttributeValue(session, kek, [
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
    kekId,
    label: (get(pkcs11js.CKA_LABEL) ?? Buffer.alloc(0)).toString('utf8'),
    token: bool(get(pkcs11js.CKA_TOKEN)),
    sensitive: bool(get(pkcs11js.CKA_SENSITIVE)),
    extractable: bool(get(pkcs11js.CKA_EXTRACTABLE)),
    alwaysSensitive: bool(get(pkcs11js.CKA_ALWAYS_SENSITIVE)),
    neverExtractable: bool(get(pkcs11js.CKA_NEVER_EXTRACTABLE)),
    valueLength: ulong(get(pkcs11js.CKA_VALUE_LEN)),
  };
}

/** A new token KEK: at first start, and by `kek rotate` (under a label of its own until it takes over). */
export function generateKek(lib: Lib, session: Handle, k: { label: string; id: Buffer; mechanism: Pkcs11Mechanism; escrowable: boolean }): Handle {
  const { label, mechanism } = k;
  const gcm = mechanism === MECHANISM_AES_GCM;
  return lib.C_GenerateKey(session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
    { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_PRIVATE, value: true },
    { type: pkcs11js.CKA_SENSITIVE, value: true },
    // Escrowable: extractable, but sensitive, so it leaves the HSM only wrapped (kek escrow).
    { type: pkcs11js.CKA_EXTRACTABLE, value: k.escrowable },
    // Least privilege: only the usage the chosen mechanism needs.
    { type: pkcs11js.CKA_ENCRYPT, value: gcm },
    { type: pkcs11js.CKA_DECRYPT, value: gcm },
    { type: pkcs11js.CKA_WRAP, value: !gcm },
    { type: pkcs11js.CKA_UNWRAP, value: !gcm },
    { type: pkcs11js.CKA_LABEL, value: label },
    { type: pkcs11js.CKA_ID, value: k.id },
  ]);
}

function chooseMechanism(
  wanted: 'auto' | Pkcs11Mechanism,
  support: { gcm: boolean; kwp: boolean },
  existing: SecretKeyFacts | undefined,
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

function checkKekPolicy(attrs: SecretKeyFacts, mechanism: Pkcs11Mechanism, escrowable: boolean): void {
  if (!attrs.sensitive) throw new KeyProtectorError('KEK_POLICY', 'the KEK must be sensitive');
  if (attrs.extractable && !escrowable) {
    throw new KeyProtectorError('KEK_POLICY', 'the KEK is extractable: it must not be, unless the configuration makes KEKs escrowable (hsm.kekEscrowable)');
  }
  if (attrs.valueLength !== 32) throw new KeyProtectorError('KEK_POLICY', 'the KEK must be an AES-256 key');
  const usable = mechanism === MECHANISM_AES_GCM ? attrs.encrypt && attrs.decrypt : attrs.wrap && attrs.unwrap;
  if (!usable) throw new KeyProtectorError('KEK_POLICY', `the KEK does not allow ${mechanism}`);
}

/**
 * An in-HSM session-object copy of the KEK, held by a session of its own so that replacing a pool
 * session never destroys it. SoftHSM2 re-reads a token object's file on every use (about 25 µs of
 * each C_DecryptInit, on the event loop); a session object stays in the module's memory. The copy
 * keeps the KEK's attributes (sensitive, not extractable) and never leaves the HSM. Null when the
 * token refuses the copy (CKA_COPYABLE false, or no session objects): the token object is used.
 */
export function sessionCopyOfKek(lib: Lib, slot: Handle, kek: Handle): { holder: Handle; kek: Handle } | null {
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
