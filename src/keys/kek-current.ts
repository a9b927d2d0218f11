/**
 * Which KEK is current (new objects are wrapped under it), kept in the data dir, not on the token.
 *
 * SoftHSM2 rewrites a key's file in place when an attribute changes (C_SetAttributeValue), so a
 * kill while a KEK's label is being changed can lose that KEK and every object wrapped under it. So
 * no KEK on the token is ever changed after it is made: `kek rotate` makes the new KEK with its
 * final label and moves "current" by replacing this file (temporary file synced, renamed over, the
 * directory synced), and an earlier KEK stays untouched until `kek retire` destroys it.
 *
 * A data dir from before this file (its current KEK was the one labelled `kekLabel`) gets the file
 * at its next server start or custody command, naming the key that label finds then.
 */
import fs from 'node:fs';
import path from 'node:path';
import { KeyProtectorError } from './key-protector';
import { replaceFileDurably } from './durable-file';

export const CURRENT_KEK_FILE = 'kek-current.json';

export interface CurrentKek {
  /** CKA_ID of the current KEK, hex. */
  readonly kekId: string;
  /** When it became current (ISO 8601). */
  readonly since: string;
}

const HEX_ID = /^(?:[0-9a-f]{2})+$/;

/** The current KEK's id, or undefined for a data dir that has no file yet (label rule). */
export function readCurrentKek(dataDir: string): CurrentKek | undefined {
  const file = path.join(dataDir, CURRENT_KEK_FILE);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new KeyProtectorError('CONFIG', `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let parsed: Partial<CurrentKek>;
  try {
    parsed = JSON.parse(text) as Partial<CurrentKek>;
  } catch {
    throw new KeyProtectorError('CONFIG', `${file} is not JSON: it names the current KEK ({"kekId": "<CKA_ID hex>"}); kmip-server kek status lists the token's KEKs`);
  }
  if (typeof parsed.kekId !== 'string' || !HEX_ID.test(parsed.kekId)) {
    throw new KeyProtectorError('CONFIG', `${file} names no KEK: kekId must be a CKA_ID in lowercase hex (kmip-server kek status lists them)`);
  }
  return { kekId: parsed.kekId, since: typeof parsed.since === 'string' ? parsed.since : '' };
}

/** The current KEK's id, or undefined (label rule). */
export function currentKekId(dataDir: string): string | undefined {
  return readCurrentKek(dataDir)?.kekId;
}

/**
 * Names `kekId` as current. Written whole to a temporary file, synced, renamed over, and the
 * directory synced: after a crash the file names the old KEK or the new one, never neither.
 */
export function writeCurrentKek(dataDir: string, kekId: string): CurrentKek {
  if (!HEX_ID.test(kekId)) throw new KeyProtectorError('CONFIG', `a KEK without a CKA_ID (${kekId}) cannot be named current in ${CURRENT_KEK_FILE}`);
  const record: CurrentKek = { kekId, since: new Date().toISOString() };
  replaceFileDurably(path.join(dataDir, CURRENT_KEK_FILE), `${JSON.stringify(record)}\n`, { syncDirectory: true });
  return record;
}

/**
 * Names `kekId` as current unless the data dir names one already: the migration of a data dir
 * that predates the file (`kekId` is the KEK the label rule found), and a data dir a recovery or a
 * restore fills (the escrow's or backup's current KEK). True if it wrote the file.
 */
export function nameCurrentKekIfUnset(dataDir: string, kekId: string): boolean {
  if (readCurrentKek(dataDir) !== undefined || !HEX_ID.test(kekId)) return false;
  writeCurrentKek(dataDir, kekId);
  return true;
}
