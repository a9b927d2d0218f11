/** What a Pkcs11KeyProtector is opened with. */
import type { MECHANISM_AES_GCM, MECHANISM_AES_KWP } from './key-protector';

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
  /** CKA_LABEL of the KEK: how the first KEK is found or made, and the current one of a data dir without kekId. */
  readonly kekLabel: string;
  /**
   * CKA_ID (hex) of the current KEK, as the data dir names it (keys/kek-current.ts): found by this
   * id instead of by label, and never created.
   */
  readonly kekId?: string;
  /** 'auto' (default): AES-GCM if the module offers it for C_Encrypt/C_Decrypt, else RFC 5649 key wrap. */
  readonly mechanism?: 'auto' | Pkcs11Mechanism;
  /** Sessions in the pool (default 4, libuv's default thread-pool size). */
  readonly sessions?: number;
  /** 'async' (default) runs crypto calls on the thread pool; 'sync' runs them on the event loop. */
  readonly callMode?: 'async' | 'sync';
  /** Create the KEK when no key carries `kekLabel` (default true; only ever at open). */
  readonly createKek?: boolean;
  /**
   * Keys created escrowable (default false): the KEK, index key and audit key are made
   * extractable (still sensitive: they leave the HSM only wrapped, by `kmip-server kek escrow`),
   * and an extractable KEK is accepted only then. Set when the KEK is created: a key's
   * extractability cannot be raised later.
   */
  readonly kekEscrowable?: boolean;
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
