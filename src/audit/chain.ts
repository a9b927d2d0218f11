/**
 * The audit trail's chain, shared by its writer (trail.ts) and its checker (verify.ts).
 *
 * Every line is one JSON object that begins `{"seq":N,"prev":"…",`: `seq` counts lines across the
 * whole trail (+1 per line, across restarts and rotated files) and `prev` is the hex SHA-256 of the
 * previous line's exact UTF-8 bytes without its newline (GENESIS_PREV before the first line ever).
 * A checkpoint line (`"event":"checkpoint"`) adds `mac`: the HSM audit key's HMAC-SHA256 of
 * checkpointMacInput(seq, prev), so that a trail recomputed from end to end without the HSM fails
 * at its first checkpoint.
 */
import { createHash } from 'node:crypto';

export const GENESIS_PREV = '0'.repeat(64);

/** The chain link a line leaves for the next one. */
export function lineHash(line: string | Buffer): string {
  return createHash('sha256').update(line).digest('hex');
}

/** `body`: a JSON object text (its fields after seq and prev). */
export function chainLine(seq: number, prev: string, body: string): string {
  return body === '{}' ? `{"seq":${seq},"prev":"${prev}"}` : `{"seq":${seq},"prev":"${prev}",${body.slice(1)}`;
}

/** What a checkpoint's MAC covers: its place in the trail and the chain head before it. */
export function checkpointMacInput(seq: number, prev: string): Buffer {
  return Buffer.from(`kmip-audit-checkpoint\n${seq}\n${prev}`, 'utf8');
}

/**
 * The note the writer chains after an incomplete line it found at the end of the file on start (a
 * write cut short by a crash or power loss, left as evidence): it names the fragment's length, so a
 * checker can tell this fragment from an edited line.
 */
export const TORN_LINE_MESSAGE = 'incomplete last line found at start (a write cut short); left as evidence, the chain continues from the line before it';

/**
 * The data dir's record of the last line known durable: the writer updates it after every sync, so
 * a trail cut back below it is noticed (by the writer at start and by `audit verify`) even where no
 * checkpoint follows the cut.
 */
export const HEAD_FILE = 'audit-head.json';

export interface ChainHead {
  readonly seq: number;
  /** lineHash of the line with that seq. */
  readonly hash: string;
}

export function parseHead(text: string): ChainHead | null {
  try {
    const v = JSON.parse(text) as { seq?: unknown; hash?: unknown };
    if (typeof v.seq === 'number' && Number.isSafeInteger(v.seq) && v.seq >= 0 && typeof v.hash === 'string' && /^[0-9a-f]{64}$/.test(v.hash)) {
      return { seq: v.seq, hash: v.hash };
    }
  } catch {
    // Unreadable (e.g. a power loss during its update): no head.
  }
  return null;
}
