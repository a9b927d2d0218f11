/**
 * The backup file: a clear header (what the backup holds and which KEK protects it: enough to
 * refuse early and name a missing KEK, nothing secret) and the store snapshot encrypted with
 * AES-256-GCM under a fresh backup key. The backup key is itself protected by the HSM KEK
 * (KeyProtector.protect, bound to the backup's id), so restoring needs that KEK in the token or
 * its escrow. The header is the GCM associated data: it cannot be edited without the tag failing.
 *
 * Layout: MAGIC (8 bytes) | uint32be header length | header (UTF-8 JSON) | ciphertext | tag (16).
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes, randomUUID } from 'node:crypto';
import type { KeyProtector, ProtectedMaterial } from '../keys/key-protector';

export const BACKUP_MAGIC = Buffer.from('KMIPBAK1', 'ascii');
const TAG_BYTES = 16;
const IV_BYTES = 12;
/** Headers are small (the KEK inventory is a few lines); a bigger one is a corrupt length. */
const MAX_HEADER_BYTES = 1 << 20;

/** One KEK the snapshot's objects are wrapped under, and how many rows need it. */
export interface KekInventoryEntry {
  readonly kekId: string;
  /** The configured KEK label, on the current KEK's entry (earlier KEKs are found by id, their labels are not read). */
  readonly label?: string;
  /** The KEK the data dir named current (kek-current.json) when the backup was made. */
  readonly current?: true;
  /** Objects whose material is wrapped under it. */
  readonly objects: number;
  /** Objects whose withheld Digest is wrapped under it. */
  readonly digests: number;
}

export interface BackupHeader {
  readonly format: 1;
  readonly backupId: string;
  readonly createdAt: string;
  readonly serverVersion: string;
  /** The store's schema version (SQLite user_version) in the snapshot. */
  readonly schemaVersion: number;
  readonly objects: number;
  /** Object Type enumeration value (decimal) -> count. */
  readonly objectTypes: Readonly<Record<string, number>>;
  readonly kekInventory: readonly KekInventoryEntry[];
  /** The audit trail's last durable line when the backup was made (audit-head.json), if any. */
  readonly auditHead: { readonly seq: number; readonly hash: string } | null;
  /** The backup key, protected by the KEK (base64 fields). */
  readonly backupKey: { readonly kekId: string; readonly mechanism: string; readonly iv: string; readonly ciphertext: string };
  readonly cipher: 'aes-256-gcm';
  readonly iv: string;
}

export class BackupFileError extends Error {
  override readonly name = 'BackupFileError';
}

/** The identifier the backup key's protection is bound to (a blob moved to another backup fails). */
function backupKeyBinding(backupId: string): string {
  return `kmip-backup:${backupId}`;
}

export type HeaderFields = Omit<BackupHeader, 'format' | 'backupId' | 'backupKey' | 'cipher' | 'iv'>;

/** Encrypts `snapshot` under a fresh backup key protected by the KEK; returns the file's bytes and its header. */
export async function sealBackup(keys: KeyProtector, fields: HeaderFields, snapshot: Uint8Array): Promise<{ file: Buffer; header: BackupHeader }> {
  const backupId = randomUUID();
  const key = randomBytes(32);
  try {
    const wrapped = await keys.protect(backupKeyBinding(backupId), key);
    const iv = randomBytes(IV_BYTES);
    const header: BackupHeader = {
      format: 1,
      backupId,
      ...fields,
      backupKey: {
        kekId: wrapped.kekId,
        mechanism: wrapped.mechanism,
        iv: Buffer.from(wrapped.iv).toString('base64'),
        ciphertext: Buffer.from(wrapped.ciphertext).toString('base64'),
      },
      cipher: 'aes-256-gcm',
      iv: iv.toString('base64'),
    };
    const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
    const prefix = Buffer.concat([BACKUP_MAGIC, uint32(headerBytes.length), headerBytes]);
    const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(prefix);
    const body = Buffer.concat([cipher.update(snapshot), cipher.final()]);
    return { file: Buffer.concat([prefix, body, cipher.getAuthTag()]), header };
  } finally {
    key.fill(0);
  }
}

/** The header of a backup file, read without any key (the file is not yet authenticated). */
export function readBackupHeader(file: Buffer): { header: BackupHeader; prefixLength: number } {
  if (file.length < BACKUP_MAGIC.length + 4 + TAG_BYTES || !file.subarray(0, BACKUP_MAGIC.length).equals(BACKUP_MAGIC)) {
    throw new BackupFileError('not a kmip-server backup file (bad magic or too short)');
  }
  const length = file.readUInt32BE(BACKUP_MAGIC.length);
  const start = BACKUP_MAGIC.length + 4;
  if (length > MAX_HEADER_BYTES || start + length + TAG_BYTES > file.length) throw new BackupFileError('the backup file is truncated or its header length is corrupt');
  let header: BackupHeader;
  try {
    header = JSON.parse(file.subarray(start, start + length).toString('utf8')) as BackupHeader;
  } catch {
    throw new BackupFileError('the backup file\'s header is not valid JSON (corrupt file)');
  }
  if (header.format !== 1 || header.cipher !== 'aes-256-gcm' || typeof header.backupId !== 'string' || typeof header.backupKey?.kekId !== 'string') {
    throw new BackupFileError(`unsupported backup format ${JSON.stringify(header.format)}`);
  }
  return { header, prefixLength: start + length };
}

/**
 * Unwraps the backup key with the KEK and decrypts the snapshot, checking the GCM tag over the
 * header and the body. Nothing is returned unless the whole file authenticates.
 */
export async function openBackup(keys: KeyProtector, file: Buffer): Promise<{ header: BackupHeader; snapshot: Buffer }> {
  const { header, prefixLength } = readBackupHeader(file);
  const blob: ProtectedMaterial = {
    kekId: header.backupKey.kekId,
    mechanism: header.backupKey.mechanism,
    iv: Buffer.from(header.backupKey.iv, 'base64'),
    ciphertext: Buffer.from(header.backupKey.ciphertext, 'base64'),
  };
  const key = Buffer.from(await keys.unprotect(backupKeyBinding(header.backupId), blob));
  try {
    if (key.length !== 32) throw new BackupFileError('the backup key has the wrong length (corrupt file)');
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(header.iv, 'base64'), { authTagLength: TAG_BYTES });
    decipher.setAAD(file.subarray(0, prefixLength));
    decipher.setAuthTag(file.subarray(file.length - TAG_BYTES));
    const plain = decipher.update(file.subarray(prefixLength, file.length - TAG_BYTES));
    try {
      decipher.final();
    } catch {
      plain.fill(0);
      throw new BackupFileError('the backup file does not authenticate (GCM tag mismatch): it was altered or corrupted; nothing was written');
    }
    return { header, snapshot: plain };
  } finally {
    key.fill(0);
  }
}

/** The digest `backup` prints and `restore --digest` checks: SHA-256 of the whole file, hex. */
export function fileDigest(file: Uint8Array): string {
  return createHash('sha256').update(file).digest('hex');
}

function uint32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}
