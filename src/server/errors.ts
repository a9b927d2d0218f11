/**
 * The one mapper from any thrown value to the Result Reason / Result Message a client of a given
 * protocol version may receive. KmipError and Reason themselves are in kmip/errors.ts.
 */
import { randomUUID } from 'node:crypto';
import { KmipError, Reason, reasonForVersion, type ReasonValue } from '../kmip/errors';
import { TtlvError } from '../../ttlv/errors';
import type { TtlvItem } from '../../ttlv/types';
import { KeyProtectorError } from '../keys/key-protector';
import { StoreError } from '../store/object-store';
import type { ProtocolVersion } from '../spec/versions';

export interface MappedError {
  readonly reason: ReasonValue;
  readonly message: string;
  /** Set for unexpected errors: the client sees only this id; the log has the detail. */
  readonly correlationId?: string;
  readonly internal?: unknown;
  /** A failure's Response Payload, where the operation defines one (KmipError.payload). */
  readonly payload?: readonly TtlvItem[];
}

/** Any thrown value to a KMIP failure. Internal text is never echoed to the client. */
export function mapError(e: unknown, v: ProtocolVersion): MappedError {
  if (e instanceof KmipError) return { reason: reasonForVersion(e.reason, v, e.olderReason), message: e.message, payload: e.payload };
  if (e instanceof TtlvError) {
    return { reason: reasonForVersion(Reason.InvalidMessage, v), message: `malformed TTLV: ${e.code} at byte ${e.offset}` };
  }
  if (e instanceof KeyProtectorError) {
    // The HSM is down or refused: the client learns the request could not be served, not why;
    // the detail (a CKR_ name, never a PIN or key bytes) goes to the log under the id.
    const correlationId = randomUUID();
    const what = e.code === 'HSM_UNAVAILABLE' ? 'the HSM is unavailable; retry later' : `key protection failed (${e.code})`;
    return { reason: Reason.CryptographicFailure, message: `${what} (correlation id ${correlationId})`, correlationId, internal: e };
  }
  if ((e instanceof StoreError && e.code === 'IO') || isStorageFailure(e)) {
    // Disk full or an I/O error: the write was rolled back. SQLite's message names the condition,
    // never a value; the client gets the condition only.
    const correlationId = randomUUID();
    const why = /full/i.test(e instanceof Error ? e.message : '') ? 'the disk is full' : 'a storage I/O error';
    // A database across the network (store/postgres-store.ts) lost: reads fail too, not only saves.
    const unreachable = e instanceof StoreError && /unreachable/.test(e.message);
    return {
      reason: Reason.GeneralFailure,
      message: unreachable
        ? `the key store is unreachable; nothing was changed; retry later (correlation id ${correlationId})`
        : `the key store could not save the change (${why}); retry later (correlation id ${correlationId})`,
      correlationId,
      internal: e,
    };
  }
  if (e instanceof StoreError && e.code === 'CONFLICT') {
    // Other requests kept changing the object between this one's read and write (handle-message
    // ran it again each time): nothing of it was written.
    return { reason: Reason.GeneralFailure, message: 'the object is being changed by other requests; nothing was changed, retry' };
  }
  const correlationId = randomUUID();
  return {
    reason: Reason.GeneralFailure,
    message: `internal error (correlation id ${correlationId})`,
    correlationId,
    internal: e,
  };
}

/** SQLite's own error for a full disk or a failing device, when it reaches us unwrapped. */
function isStorageFailure(e: unknown): boolean {
  const code = e instanceof Error ? (e as { code?: unknown }).code : undefined;
  return typeof code === 'string' && (code === 'SQLITE_FULL' || code.startsWith('SQLITE_IOERR'));
}
