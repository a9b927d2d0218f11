/**
 * The token as the key-custody commands see it: one logged-in session of their own beside a running
 * server (PKCS#11 tokens take a second process), and the token's custody keys (KEKs, the index key,
 * the audit key) listed by label and CKA_ID. No secret is read here: key values leave the HSM only
 * wrapped (escrow.ts).
 */
import * as pkcs11js from 'pkcs11js';
import { currentKekId } from '../keys/kek-current';
import { KeyProtectorError } from '../keys/key-protector';
import type { Pkcs11KeyProtectorConfig } from '../keys/pkcs11-config';
import { AUDIT_KEY_LABEL, INDEX_KEY_LABEL } from '../keys/pkcs11-mac-keys';
import { acquireModule, findObjects, findSlot, login, releaseModule, secretKeyFacts, type Handle, type Lib, type LoadedModule, type SecretKeyFacts } from '../keys/pkcs11-module';

/**
 * The label a KEK made by `kek rotate` carries for life: a KEK is never relabelled (SoftHSM2
 * rewrites a key's file in place on C_SetAttributeValue, and a kill then can lose the key), and
 * which one is current is the data dir's to say (keys/kek-current.ts), not the label's.
 */
export function rotatedKekLabel(kekLabel: string, kekId: string): string {
  return `${kekLabel}.${kekId}`;
}

export interface TokenKey {
  readonly handle: Handle;
  readonly label: string;
  /** CKA_ID, hex. */
  readonly id: string;
  readonly keyType: number;
  readonly facts: SecretKeyFacts;
}

export class CustodyToken {
  private constructor(
    private readonly mod: LoadedModule,
    readonly lib: Lib,
    readonly slot: Handle,
    readonly session: Handle,
    readonly config: Pkcs11KeyProtectorConfig,
  ) {}

  static async open(config: Pkcs11KeyProtectorConfig): Promise<CustodyToken> {
    const mod = await acquireModule(config.modulePath, config.moduleEnv);
    try {
      const lib = mod.lib;
      const slot = findSlot(lib, config);
      const session = lib.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
      try {
        login(mod, session, slot.toString('hex'), config.pin);
      } catch (e) {
        lib.C_CloseSession(session);
        throw e;
      }
      return new CustodyToken(mod, lib, slot, session, config);
    } catch (e) {
      await releaseModule(mod);
      throw e;
    }
  }

  /** Secret token keys with this label, or this CKA_ID (hex). */
  find(by: { label: string } | { id: string }): TokenKey[] {
    const where = 'label' in by ? { type: pkcs11js.CKA_LABEL, value: by.label } : { type: pkcs11js.CKA_ID, value: Buffer.from(by.id, 'hex') };
    const handles = findObjects(this.lib, this.session, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_TOKEN, value: true },
      where,
    ]);
    return handles.map((h) => this.describe(h));
  }

  /** The one key with this label; undefined if none; KEK_AMBIGUOUS if several. */
  one(label: string): TokenKey | undefined {
    const found = this.find({ label });
    if (found.length > 1) throw new KeyProtectorError('KEK_AMBIGUOUS', `${found.length} keys are labelled ${JSON.stringify(label)}`);
    return found[0];
  }

  /**
   * The current KEK: the one the data dir names (kek-current.json), or, for a data dir from before
   * that file, the one labelled as KEK. Undefined when the token holds neither.
   */
  current(dataDir: string): TokenKey | undefined {
    const kekId = currentKekId(dataDir);
    if (kekId === undefined) return this.one(this.config.kekLabel);
    const found = this.find({ id: kekId });
    if (found.length > 1) throw new KeyProtectorError('KEK_AMBIGUOUS', `${found.length} keys carry CKA_ID ${kekId}`);
    return found[0];
  }

  /** Every AES key whose label is the KEK label or one of its rotation labels: current, next, earlier. */
  keks(): TokenKey[] {
    const base = this.config.kekLabel;
    const handles = findObjectsAll(this.lib, this.session, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
      { type: pkcs11js.CKA_TOKEN, value: true },
    ]);
    return handles.map((h) => this.describe(h)).filter((k) => k.label === base || k.label.startsWith(`${base}.`));
  }

  /** The custody keys besides KEKs the store and the audit trail depend on. */
  indexKey(): TokenKey | undefined {
    return this.one(this.config.indexKeyLabel ?? INDEX_KEY_LABEL);
  }

  auditKey(): TokenKey | undefined {
    return this.one(AUDIT_KEY_LABEL);
  }

  private describe(handle: Handle): TokenKey {
    const attrs = this.lib.C_GetAttributeValue(this.session, handle, [{ type: pkcs11js.CKA_LABEL }, { type: pkcs11js.CKA_KEY_TYPE }]);
    const label = (attrs[0]?.value ?? Buffer.alloc(0)).toString('utf8');
    const keyTypeBytes = attrs[1]?.value ?? Buffer.alloc(8);
    const keyType = keyTypeBytes.length >= 8 ? Number(keyTypeBytes.readBigUInt64LE(0)) : keyTypeBytes.readUInt32LE(0);
    const facts = secretKeyFacts(this.lib, this.session, handle);
    return { handle, label, id: facts.id.toString('hex'), keyType, facts };
  }

  async close(): Promise<void> {
    try {
      this.lib.C_CloseSession(this.session);
    } catch {
      // Closed with the module anyway.
    }
    const entry = this.mod.logins.get(this.slot.toString('hex'));
    if (entry !== undefined && --entry.users <= 0) this.mod.logins.delete(this.slot.toString('hex'));
    await releaseModule(this.mod);
  }
}

/** Every match, not only findObjects' first 16 (a token can hold many earlier KEKs). */
function findObjectsAll(lib: Lib, session: Handle, template: pkcs11js.Template): Handle[] {
  lib.C_FindObjectsInit(session, template);
  try {
    const out: Handle[] = [];
    for (;;) {
      const batch = lib.C_FindObjects(session, 64);
      out.push(...batch);
      if (batch.length < 64) return out;
    }
  } finally {
    lib.C_FindObjectsFinal(session);
  }
}
