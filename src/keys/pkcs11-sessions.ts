/**
 * Sessions on the token: a connection is a pool of sessions logged in with the KEK found, and the
 * pool runs one operation per session at a time, queues callers, and on a lost connection drops
 * it and reconnects (re-initialising the module when this protector is its sole user). A KEK is
 * never created during recovery: a different KEK would silently make every stored blob
 * undecryptable.
 */
import * as pkcs11js from 'pkcs11js';
import { KeyProtectorError } from './key-protector';
import { openKek, sessionCopyOfKek } from './kek';
import type { Pkcs11KeyProtectorConfig, Pkcs11Mechanism } from './pkcs11-config';
import { CONNECTION_LOSS, asUnavailable, ckrOf, hsmError } from './pkcs11-errors';
import { findSlot, login, reinitializeModule, releaseModule, type Handle, type LoadedModule, type Lib } from './pkcs11-module';

export interface Connection {
  readonly generation: number;
  readonly slot: Handle;
  readonly slotKey: string;
  readonly idle: Handle[];
  readonly open: Set<Handle>;
  busy: number;
  /** The KEK this connection wraps under, and how: a KEK switch (adopt) takes a new connection. */
  readonly kekId: string;
  readonly mechanism: Pkcs11Mechanism;
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

export interface Opened {
  readonly conn: Connection;
  readonly kekId: string;
  readonly mechanism: Pkcs11Mechanism;
}

/**
 * Opens a session pool on the configured token, logs in and finds the KEK. `known` is null at
 * open (the KEK may be created and the mechanism chosen) and the open-time choice on reconnect
 * (the KEK must be the same one).
 */
export function connect(
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

    const { kek, kekId, mechanism } = openKek(lib, slot, first, config, known);
    const copy = sessionCopyOfKek(lib, slot, kek);
    if (copy !== null) sessions.push(copy.holder); // closed with the others if the open fails below
    const conn: Connection = {
      generation: mod.generation,
      slot,
      slotKey,
      idle: sessions.filter((s) => s !== copy?.holder),
      open: new Set(sessions),
      busy: 0,
      kekId,
      mechanism,
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

function closeQuietly(lib: Lib, conn: Connection, session: Handle): void {
  conn.open.delete(session);
  try {
    lib.C_CloseSession(session);
  } catch {
    // The session is already gone with the token or the library.
  }
}

/** The session pool of one protector, and its recovery when the connection is lost. */
export class Pkcs11SessionPool {
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
  /** The KEK and mechanism chosen at open (or adopted since): a reconnection must find the same KEK. */
  private known: { kekId: string; mechanism: Pkcs11Mechanism };

  constructor(
    private readonly mod: LoadedModule,
    private readonly config: Pkcs11KeyProtectorConfig,
    opened: Opened,
  ) {
    this.conn = opened.conn;
    this.known = { kekId: opened.kekId, mechanism: opened.mechanism };
    this.poolSize = opened.conn.open.size;
  }

  /** The KEK new blobs are made under (the open-time one, or the one adopted since). */
  get current(): { readonly kekId: string; readonly mechanism: Pkcs11Mechanism } {
    return this.known;
  }

  /**
   * Makes `next` (found and checked by the caller) the KEK of every later call: the connection is
   * retired (operations running on it finish under the KEK they started with, and name it in their
   * blobs) and the next call connects anew, finding `next` by CKA_ID as a reconnection does.
   * Resolves once no operation runs on the old connection any more.
   */
  async adopt(next: { kekId: string; mechanism: Pkcs11Mechanism }): Promise<void> {
    if (next.kekId === this.known.kekId) return;
    this.known = next;
    const old = this.conn;
    if (old !== null) this.retire(old);
    if (old !== null && old.busy > 0) await this.drain();
  }

  /** Closes every session (once running operations end) and releases the module. */
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

  /** Runs `op` on a pooled session; on a lost connection, reconnects and retries once. */
  async withSession<T>(op: (lib: Lib, session: Handle, conn: Connection) => Promise<T>): Promise<T> {
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
      const opened = connect(this.mod, this.config, this.poolSize, this.known);
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

}
