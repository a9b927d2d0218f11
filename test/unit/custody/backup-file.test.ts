/**
 * The backup file format against a real SoftHSM2 KEK: a round trip, and every kind of alteration
 * (header, body, tag, the protected backup key, truncation) refused before any plaintext is returned.
 */
import crypto from 'node:crypto';
import { BackupFileError, openBackup, readBackupHeader, sealBackup, type HeaderFields } from '../../../src/custody/backup-file';
import { KeyProtectorError } from '../../../src/keys/key-protector';
import type { Pkcs11KeyProtector } from '../../../src/keys/pkcs11';
import { openTestProtector } from '../../helpers/hsm';

let keys: Pkcs11KeyProtector;
beforeAll(async () => {
  keys = await openTestProtector();
});
afterAll(() => keys.close());

const FIELDS: HeaderFields = {
  createdAt: '2026-01-01T00:00:00.000Z',
  serverVersion: '0.1.0',
  schemaVersion: 1,
  objects: 3,
  objectTypes: { '2': 3 },
  kekInventory: [{ kekId: 'ab', objects: 3, digests: 0 }],
  auditHead: null,
};

/** Replaces the header JSON with `edit(header)` of the same length class, keeping the rest. */
function withHeader(file: Buffer, edit: (h: Record<string, unknown>) => Record<string, unknown>): Buffer {
  const { prefixLength } = readBackupHeader(file);
  const header = Buffer.from(JSON.stringify(edit(JSON.parse(file.subarray(12, prefixLength).toString('utf8')) as Record<string, unknown>)), 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(header.length);
  return Buffer.concat([file.subarray(0, 8), len, header, file.subarray(prefixLength)]);
}

describe('backup file', () => {
  const snapshot = crypto.randomBytes(5000);
  let file: Buffer;
  beforeAll(async () => {
    ({ file } = await sealBackup(keys, FIELDS, snapshot));
  });

  it('round-trips under the KEK, and the snapshot bytes are not in the file', async () => {
    const opened = await openBackup(keys, file);
    expect(opened.snapshot.equals(snapshot)).toBe(true);
    expect(opened.header).toMatchObject({ ...FIELDS, format: 1, cipher: 'aes-256-gcm' });
    expect(opened.header.backupKey.kekId).toBe(keys.kekId);
    expect(file.indexOf(snapshot.subarray(0, 32))).toBe(-1);
  });

  it('refuses a changed header field (the header is the associated data)', async () => {
    await expect(openBackup(keys, withHeader(file, (h) => ({ ...h, objects: 4 })))).rejects.toThrow(/does not authenticate/);
  });

  it('refuses a flipped body byte and a flipped tag byte', async () => {
    for (const at of [200, file.length - 1]) {
      const bad = Buffer.from(file);
      bad[at] ^= 0x80;
      await expect(openBackup(keys, bad)).rejects.toBeInstanceOf(BackupFileError);
    }
  });

  it('refuses a backup key moved from another backup (bound to the backup id)', async () => {
    const other = (await sealBackup(keys, FIELDS, snapshot)).file;
    const otherKey = readBackupHeader(other).header.backupKey;
    await expect(openBackup(keys, withHeader(file, (h) => ({ ...h, backupKey: otherKey })))).rejects.toBeInstanceOf(KeyProtectorError);
  });

  it('refuses a truncated file and another file type with a clear message', async () => {
    expect(() => readBackupHeader(file.subarray(0, 20))).toThrow(/truncated|too short/);
    expect(() => readBackupHeader(Buffer.from('SQLite format 3\0 and more bytes here'))).toThrow(/not a kmip-server backup file/);
  });
});
