/**
 * Multi-part Encrypt / Decrypt (Init Indicator, Correlation Value, Final Indicator): the running
 * cipher is kept here between requests, keyed by a random Correlation Value and bound to the
 * client and key that started it. Sessions are few and short-lived: an idle one is dropped after
 * IDLE_MS, and at most MAX_SESSIONS exist at once, so a client cannot pile up cipher state.
 *
 * The table lives in this process, not in the store: a cipher context cannot be persisted, and a
 * restart ends every stream (the client then gets Invalid Correlation Value and starts again).
 */
import { randomBytes } from 'node:crypto';
import { KmipError, Reason } from '../server/errors';
import type { CipherRun } from './symmetric';

/** Why these limits: a stream is one client's message in flight, not a long-lived channel. */
const IDLE_MS = 5 * 60 * 1000;
const MAX_SESSIONS = 1024;

interface Session {
  readonly run: CipherRun;
  readonly owner: string;
  readonly uid: string;
  /** Bytes processed so far (length rules apply to the whole message). */
  total: number;
  lastUsed: number;
}

const sessions = new Map<string, Session>();

function sweep(now: number): void {
  for (const [k, s] of sessions) if (now - s.lastUsed > IDLE_MS) sessions.delete(k);
}

export function openStream(run: CipherRun, owner: string, uid: string, now: number, processed: number): Buffer {
  sweep(now);
  if (sessions.size >= MAX_SESSIONS) throw new KmipError(Reason.ServerLimitExceeded, 'too many multi-part operations in progress');
  const id = randomBytes(16);
  sessions.set(id.toString('hex'), { run, owner, uid, total: processed, lastUsed: now });
  return id;
}

/** The session a Correlation Value names, for the same client, key and direction. */
export function resumeStream(id: Uint8Array, owner: string, uid: string, direction: CipherRun['direction'], now: number): { run: CipherRun; total: number } {
  sweep(now);
  const s = sessions.get(Buffer.from(id).toString('hex'));
  if (!s || s.owner !== owner || s.uid !== uid || s.run.direction !== direction) {
    throw new KmipError(Reason.InvalidCorrelationValue, 'no multi-part operation has this Correlation Value');
  }
  s.lastUsed = now;
  return { run: s.run, total: s.total };
}

export function advanceStream(id: Uint8Array, bytes: number): void {
  const s = sessions.get(Buffer.from(id).toString('hex'));
  if (s) s.total += bytes;
}

export function closeStream(id: Uint8Array): void {
  sessions.delete(Buffer.from(id).toString('hex'));
}
