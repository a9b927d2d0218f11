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
 *
 * Beside this file: pkcs11-module.ts (loading the module, the token), pkcs11-sessions.ts (the
 * session pool and recovery), pkcs11-errors.ts (CKR codes to KeyProtectorError), kek.ts (the KEK),
 * pkcs11-mac-keys.ts (index and audit keys), pkcs11-digest-sign.ts, pin.ts, pkcs11-config.ts.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import * as pkcs11js from 'pkcs11js';
import {
  KeyProtectorError,
  MECHANISM_AES_GCM,
  MECHANISM_AES_KWP,
  type DigestSignatureRequest,
  type KeyProtector,
  type ProtectedMaterial,
} from './key-protector';
import { secureRandomBytes } from '../crypto/random-pool';
import { findKekById, openKek, readKekDescription, type KekDescription } from './kek';
import type { Pkcs11KeyProtectorConfig, Pkcs11Mechanism } from './pkcs11-config';
import { digestKeyTemplate, digestMechanism, signatureBytes } from './pkcs11-digest-sign';
import { AMBIGUOUS_FAILURE, INTEGRITY_FAILURE, ckrOf } from './pkcs11-errors';
import { findAuditKey, findIndexKey, INDEX_KEY_LABEL, openIndexKey } from './pkcs11-mac-keys';
import { acquireModule, destroyQuietly, releaseModule, secretKeyFacts, type Handle, type LoadedModule, type Lib } from './pkcs11-module';
import { connect, Pkcs11SessionPool, type Connection, type Opened } from './pkcs11-sessions';

// What importers have always found here.
export type { KekDescription } from './kek';
export { readPin } from './pin';
export type { Pkcs11KeyProtectorConfig, Pkcs11Mechanism } from './pkcs11-config';
export { AUDIT_KEY_LABEL, INDEX_KEY_LABEL } from './pkcs11-mac-keys';

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

export class Pkcs11KeyProtector implements KeyProtector {
  private readonly sessions: Pkcs11SessionPool;

  private constructor(
    mod: LoadedModule,
    private readonly config: Pkcs11KeyProtectorConfig,
    opened: Opened,
  ) {
    this.sessions = new Pkcs11SessionPool(mod, config, opened);
  }

  /** The KEK new blobs are made under: the one found at open, or adopted since (adoptCurrentKek). */
  get kekId(): string {
    return this.sessions.current.kekId;
  }

  get mechanism(): Pkcs11Mechanism {
    return this.sessions.current.mechanism;
  }
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
      // The connection's KEK, not this.kekId: a KEK adopted meanwhile serves the next connection.
      if (conn.mechanism === MECHANISM_AES_GCM) {
        // Random 96-bit IV (NIST SP 800-38D §8.2.2): sound for up to 2^32 encryptions per KEK.
        const iv = secureRandomBytes(GCM_IV_BYTES);
        lib.C_EncryptInit(session, gcmParams(iv, uniqueIdentifier), conn.kek);
        const ciphertext = await this.encrypt(lib, session, input, Buffer.alloc(input.length + GCM_TAG_BYTES));
        return { kekId: conn.kekId, mechanism: MECHANISM_AES_GCM, iv, ciphertext };
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
        return { kekId: conn.kekId, mechanism: MECHANISM_AES_KWP, iv: new Uint8Array(0), ciphertext: wrapped };
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
    const found = findIndexKey(lib, session, this.config.indexKeyLabel ?? INDEX_KEY_LABEL);
    if (found === undefined) throw new KeyProtectorError('HSM_UNAVAILABLE', 'the index key is no longer on the token');
    const id = secretKeyFacts(lib, session, found).id.toString('hex');
    if (id !== this.indexKeyId) throw new KeyProtectorError('HSM_UNAVAILABLE', 'the key labelled as index key is not the one this server started with');
    this.indexKeys.set(conn, found);
    return found;
  }

  /** At open: finds the index key, or creates it when allowed; checks it; returns its CKA_ID (hex). */
  private openIndexKey(lib: Lib, session: Handle, conn: Connection, mayCreate: boolean): string {
    const { key, id } = openIndexKey(lib, session, conn.slot, this.config.indexKeyLabel ?? INDEX_KEY_LABEL, mayCreate, this.config.kekEscrowable === true);
    this.indexKeys.set(conn, key);
    return id;
  }

  /** Reads the KEK's protection attributes from the token (for tests and health checks). */
  async describeKek(): Promise<KekDescription> {
    return this.withSession(async (lib, session, conn) => readKekDescription(lib, session, conn.kek, conn.kekId));
  }

  async close(): Promise<void> {
    await this.sessions.close();
  }

  /**
   * Re-finds the current KEK (`kekId`, which the data dir names after a rotation; without it, by
   * label), checks its policy as at open, and wraps new objects under it from then on; blobs under
   * any earlier KEK still on the token keep decrypting. Never creates a KEK. Resolves once no
   * operation wraps under the old one.
   */
  async adoptCurrentKek(kekId?: string): Promise<{ kekId: string; previous: string; changed: boolean }> {
    const previous = this.kekId;
    const config: Pkcs11KeyProtectorConfig = { ...this.config, createKek: false, ...(kekId !== undefined ? { kekId } : {}) };
    const found = await this.withSession(async (lib, session, conn) => openKek(lib, conn.slot, session, config, null));
    await this.sessions.adopt({ kekId: found.kekId, mechanism: found.mechanism });
    return { kekId: found.kekId, previous, changed: found.kekId !== previous };
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
    const key = findAuditKey(lib, session, mayCreate, this.config.kekEscrowable === true);
    conn.auditKey = key;
    return key;
  }

  // -------------------------------------------------------------------------------------------

  /** Runs `op` on a pooled session; on a lost connection, reconnects and retries once. */
  private withSession<T>(op: (lib: Lib, session: Handle, conn: Connection) => Promise<T>): Promise<T> {
    return this.sessions.withSession(op);
  }

  /** The KEK a blob names: the current one, or an earlier one still on the token (found by CKA_ID). */
  private kekFor(lib: Lib, session: Handle, conn: Connection, kekId: string): Handle {
    if (kekId === conn.kekId) return conn.cryptoKek;
    const cached = conn.keks.get(kekId);
    if (cached !== undefined) return cached;
    const kek = findKekById(lib, session, kekId);
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


/** A fresh, unpooled copy the caller owns and zeroes (Buffer.from could land in the shared pool). */
function copyOut(bytes: Buffer): Buffer {
  const out = Buffer.alloc(bytes.length);
  bytes.copy(out);
  return out;
}
