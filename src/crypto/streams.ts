/**
 * Multi-part cryptographic operations (Init Indicator, Correlation Value, Final Indicator): the
 * running state (a cipher, a signature's digest, a MAC, a hash) is kept here between requests,
 * keyed by a random Correlation Value and bound to the client, the key and the operation that
 * started it. Sessions are few and short-lived: an idle one is dropped after IDLE_MS, and at most
 * MAX_SESSIONS exist at once (all operations together), so a client cannot pile up state.
 *
 * The table lives in this process, not in the store: a cipher context cannot be persisted, and a
 * restart ends every stream (the client then gets an invalid Correlation Value and starts again).
 *
 * What a session holds: Encrypt/Decrypt, MAC and MAC Verify hold the key inside OpenSSL's context
 * (it is needed for every part); Sign and Signature Verify hold only the digest state, and the key
 * is read from the store again for the final part; Hash holds no key.
 */
import type { Hash } from 'node:crypto';
import { KmipError, Reason } from '../kmip/errors';
import type { MacRun } from './mac';
import { secureRandomBytes } from './random-pool';
import type { SignRun, VerifyRun } from './signature';
import type { CipherRun } from './symmetric';

/** Why these limits: a stream is one client's message in flight, not a long-lived channel. */
const IDLE_MS = 5 * 60 * 1000;
const MAX_SESSIONS = 1024;

/**
 * The running state of one multi-part operation, by operation. Every `state` takes a part's data
 * by update(data), so feeding a part is the same for all.
 */
export type StreamRun =
  | { readonly kind: 'encrypt' | 'decrypt'; readonly state: CipherRun }
  | { readonly kind: 'sign'; readonly state: SignRun }
  /** `expected`: the Signature Data / MAC Data a client gave with the first part, if any. */
  | { readonly kind: 'verify'; readonly state: VerifyRun; readonly expected?: Uint8Array }
  | { readonly kind: 'mac'; readonly state: MacRun }
  | { readonly kind: 'macVerify'; readonly state: MacRun; readonly expected?: Uint8Array }
  | { readonly kind: 'hash'; readonly state: Hash };

export type StreamKind = StreamRun['kind'];
export type RunOf<K extends StreamKind> = Extract<StreamRun, { kind: K }>;

interface Session {
  readonly run: StreamRun;
  readonly owner: string;
  /** The key's Unique Identifier; empty for Hash, which uses none. */
  readonly uid: string;
  /** Bytes processed so far (length rules apply to the whole message). */
  total: number;
  lastUsed: number;
}

const sessions = new Map<string, Session>();

/** Buffered plaintext (EdDSA signing) is zeroed when its session ends, however it ends. */
function dispose(s: Session): void {
  if (s.run.kind === 'sign' || s.run.kind === 'verify') s.run.state.dispose();
}

function drop(key: string): void {
  const s = sessions.get(key);
  if (s === undefined) return;
  sessions.delete(key);
  dispose(s);
}

function sweep(now: number): void {
  for (const [k, s] of sessions) if (now - s.lastUsed > IDLE_MS) drop(k);
}

function isKind<K extends StreamKind>(run: StreamRun, kind: K): run is RunOf<K> {
  return run.kind === kind;
}

/** Starts a session; returns its Correlation Value. */
export function openSession(run: StreamRun, owner: string, uid: string, now: number, processed: number): Buffer {
  sweep(now);
  if (sessions.size >= MAX_SESSIONS) throw new KmipError(Reason.ServerLimitExceeded, 'too many multi-part operations in progress');
  const id = secureRandomBytes(16);
  sessions.set(id.toString('hex'), { run, owner, uid, total: processed, lastUsed: now });
  return id;
}

/**
 * The session a Correlation Value names, for the same client, key and operation; `missing` makes
 * the error for a value that names none (its reason depends on the operation and version).
 */
export function resumeSession<K extends StreamKind>(
  id: Uint8Array,
  owner: string,
  uid: string,
  kind: K,
  now: number,
  missing: () => KmipError,
): { run: RunOf<K>; total: number } {
  sweep(now);
  const s = sessions.get(Buffer.from(id).toString('hex'));
  if (!s || s.owner !== owner || s.uid !== uid || !isKind(s.run, kind)) throw missing();
  s.lastUsed = now;
  return { run: s.run, total: s.total };
}

export function advanceStream(id: Uint8Array, bytes: number): void {
  const s = sessions.get(Buffer.from(id).toString('hex'));
  if (s) s.total += bytes;
}

export function closeStream(id: Uint8Array): void {
  drop(Buffer.from(id).toString('hex'));
}

