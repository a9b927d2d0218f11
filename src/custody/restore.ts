/**
 * `kmip-server restore`: everything is checked before anything is written (the file's digest when
 * given, its format, an empty store unless forced, every KEK the backup needs present in the token,
 * the GCM tag over header and snapshot); then the store file is replaced in one rename, and every
 * object's wrapped material (and withheld Digest) is unwrapped once to prove the token can serve it.
 * The caller holds the data dir's lock, so no server starts on a half-restored store.
 */
import fs from 'node:fs';
import path from 'node:path';
import { nameCurrentKekIfUnset } from '../keys/kek-current';
import { KeyProtectorError, type KeyProtector } from '../keys/key-protector';
import { sealBinding } from '../objects/digest-index';
import { schemaSupported, storeInventory, storeObjectCount, wrappedRows } from '../store/sqlite-snapshot';
import { BackupFileError, fileDigest, openBackup, readBackupHeader, type BackupHeader } from './backup-file';
import type { Progress } from './progress';

export interface RestoreRequest {
  readonly file: string;
  readonly dataDir: string;
  readonly storePath: string;
  readonly force: boolean;
  /** The hex SHA-256 `backup` printed; checked first when given. */
  readonly expectDigest?: string;
  /** Opens the data dir's token (nothing created); a failure is reported as a missing KEK. */
  readonly openKeys: () => Promise<KeyProtector>;
  /** Where the token is, for messages. */
  readonly tokenDescription: string;
  readonly progress?: Progress;
}

export interface RestoreSummary {
  readonly backupId: string;
  readonly createdAt: string;
  readonly serverVersion: string;
  readonly sha256: string;
  readonly objects: number;
  /** Object Type enumeration value (decimal) -> objects restored. */
  readonly objectTypes: Readonly<Record<string, number>>;
  /** Blobs unwrapped by the token after restoring (material and withheld Digests). */
  readonly unwrapped: number;
  /** Objects whose blob did not unwrap: uid and why. Empty on success. */
  readonly failed: readonly { readonly uid: string; readonly reason: string }[];
  readonly auditHead: BackupHeader['auditHead'];
  readonly replacedObjects: number;
}

export class RestoreError extends Error {
  override readonly name = 'RestoreError';
}

/** The escrow path named when the token lacks a KEK (issue 15 item 3). */
export function escrowHint(dataDir: string): string {
  return `recover it from its escrow shares first: kmip-server kek recover --data-dir ${dataDir} --share FILE --share FILE ...`;
}

export async function runRestore(req: RestoreRequest): Promise<RestoreSummary> {
  let file: Buffer;
  try {
    file = fs.readFileSync(req.file);
  } catch (e) {
    throw new RestoreError(`cannot read ${req.file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const sha256 = fileDigest(file);
  if (req.expectDigest !== undefined && req.expectDigest.toLowerCase() !== sha256) {
    throw new RestoreError(`the backup file's SHA-256 is ${sha256}, not the ${req.expectDigest} given: wrong or altered file; nothing was written`);
  }
  const { header } = readBackupHeader(file);
  if (!schemaSupported(header.schemaVersion)) {
    throw new RestoreError(`the backup holds store schema ${header.schemaVersion}, newer than this server (${header.serverVersion} made it): restore with that version or later`);
  }
  const existing = storeObjectCount(req.storePath);
  if (existing > 0 && !req.force) {
    throw new RestoreError(`the store ${req.storePath} holds ${existing} objects: restore replaces it only with --force`);
  }

  const needed = [...new Set([header.backupKey.kekId, ...header.kekInventory.map((k) => k.kekId)])];
  let keys: KeyProtector;
  try {
    keys = await req.openKeys();
  } catch (e) {
    throw new RestoreError(`${req.tokenDescription} cannot be opened (${(e as Error).message}), and the backup needs KEK ${needed.join(', ')}: ${escrowHint(req.dataDir)}; nothing was written`);
  }
  try {
    const missing = (await keys.missingKeks?.(needed)) ?? [];
    if (missing.length > 0) {
      throw new RestoreError(`${req.tokenDescription} does not hold KEK ${missing.join(', ')}, which this backup needs: ${escrowHint(req.dataDir)}; nothing was written`);
    }
    let snapshot: Buffer;
    try {
      ({ snapshot } = await openBackup(keys, file));
    } catch (e) {
      if (e instanceof KeyProtectorError && e.code === 'INTEGRITY') throw new BackupFileError('the backup key does not authenticate under the KEK: the file was altered or corrupted; nothing was written');
      if (e instanceof KeyProtectorError && e.code === 'UNKNOWN_KEK') throw new RestoreError(`${e.message}: ${escrowHint(req.dataDir)}; nothing was written`);
      throw e;
    }
    try {
      replaceStore(req.storePath, snapshot);
    } finally {
      snapshot.fill(0);
    }
    // A data dir without kek-current.json takes the backup's current KEK (the token holds it: checked above).
    nameCurrentKekIfUnset(req.dataDir, header.kekInventory.find((k) => k.current === true)?.kekId ?? header.backupKey.kekId);
    const inv = storeInventory(req.storePath);
    const { unwrapped, failed } = await unwrapEverything(keys, req.storePath, inv.objects, req.progress);
    return {
      backupId: header.backupId,
      createdAt: header.createdAt,
      serverVersion: header.serverVersion,
      sha256,
      objects: inv.objects,
      objectTypes: inv.objectTypes,
      unwrapped,
      failed,
      auditHead: header.auditHead,
      replacedObjects: existing,
    };
  } finally {
    await keys.close();
  }
}

/** Writes the snapshot beside the store and renames it over it (with the old WAL and shared memory gone first). */
function replaceStore(storePath: string, snapshot: Buffer): void {
  fs.mkdirSync(path.dirname(storePath), { recursive: true, mode: 0o700 });
  const temp = `${storePath}.restoring-${process.pid}`;
  fs.writeFileSync(temp, snapshot, { mode: 0o600, flag: 'wx' });
  try {
    const fd = fs.openSync(temp, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    // A WAL left beside the old store would be replayed into the restored one.
    for (const suffix of ['-wal', '-shm']) fs.rmSync(`${storePath}${suffix}`, { force: true });
    fs.renameSync(temp, storePath);
  } finally {
    fs.rmSync(temp, { force: true });
  }
}

async function unwrapEverything(keys: KeyProtector, storePath: string, total: number, progress?: Progress): Promise<{ unwrapped: number; failed: { uid: string; reason: string }[] }> {
  let unwrapped = 0;
  let seen = 0;
  const failed: { uid: string; reason: string }[] = [];
  for (const batch of wrappedRows(storePath)) {
    for (const row of batch) {
      for (const [binding, blob] of [[row.uid, row.material], [sealBinding(row.uid), row.digest]] as const) {
        if (blob === null) continue;
        try {
          (await keys.unprotect(binding, blob)).fill(0);
          unwrapped++;
        } catch (e) {
          failed.push({ uid: row.uid, reason: e instanceof KeyProtectorError ? `${e.code}: ${e.message}` : String(e) });
        }
      }
      seen++;
    }
    progress?.update(seen, total);
  }
  progress?.finish();
  return { unwrapped, failed };
}
