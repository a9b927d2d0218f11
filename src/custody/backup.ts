/**
 * `kmip-server backup`: an online snapshot of a (possibly running) server's store, with the audit
 * chain head, the KEK inventory and the server version, sealed into one backup file (backup-file.ts).
 * The snapshot is made in a private temporary directory and removed once sealed; the output file is
 * written 0600 under a temporary name and renamed, so a failed backup leaves no partial file.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { KeyProtector } from '../keys/key-protector';
import { HEAD_FILE, parseHead } from '../audit/chain';
import { snapshotStore, storeInventory } from '../store/sqlite-snapshot';
import { fileDigest, sealBackup, type KekInventoryEntry } from './backup-file';
import type { Progress } from './progress';

export interface BackupRequest {
  readonly dataDir: string;
  readonly storePath: string;
  readonly out: string;
  readonly keys: KeyProtector;
  readonly kekLabel: string;
  readonly serverVersion: string;
  readonly progress?: Progress;
}

export interface BackupSummary {
  readonly out: string;
  readonly backupId: string;
  /** The KEK that protects the backup key: restoring needs it in the token, or its escrow. */
  readonly backupKekId: string;
  readonly objects: number;
  readonly objectTypes: Readonly<Record<string, number>>;
  readonly kekInventory: readonly KekInventoryEntry[];
  readonly auditHead: { readonly seq: number; readonly hash: string } | null;
  readonly bytes: number;
  /** SHA-256 of the file, hex: give it to `restore --digest`. */
  readonly sha256: string;
  readonly snapshotMs: number;
  readonly restarts: number;
}

export class BackupError extends Error {
  override readonly name = 'BackupError';
}

export async function runBackup(req: BackupRequest): Promise<BackupSummary> {
  if (!fs.existsSync(req.storePath)) throw new BackupError(`no store at ${req.storePath}: is ${req.dataDir} a server's data dir?`);
  const out = path.resolve(req.out);
  if (fs.existsSync(out)) throw new BackupError(`${out} exists: choose a new file name (a backup never overwrites one)`);
  if (!fs.existsSync(path.dirname(out))) throw new BackupError(`the directory ${path.dirname(out)} does not exist`);
  // Read before the snapshot: the head only moves forward, so the snapshot is at or after it.
  const headFile = path.join(req.dataDir, HEAD_FILE);
  const auditHead = fs.existsSync(headFile) ? parseHead(fs.readFileSync(headFile, 'utf8')) : null;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-backup-'));
  const temp = `${out}.partial-${process.pid}`;
  try {
    const snapshotFile = path.join(work, 'store.sqlite');
    const started = Date.now();
    const snap = await snapshotStore(req.storePath, snapshotFile, (p) => req.progress?.update(p.totalPages - p.remainingPages, p.totalPages));
    const snapshotMs = Date.now() - started;
    req.progress?.finish();
    const inv = storeInventory(snapshotFile);
    const kekInventory: KekInventoryEntry[] = [...inv.keks].map(([kekId, n]) => ({
      kekId,
      ...(kekId === req.keys.kekId ? { label: req.kekLabel, current: true as const } : {}),
      objects: n.objects,
      digests: n.digests,
    }));
    const snapshot = fs.readFileSync(snapshotFile);
    const { file: sealed, header } = await sealBackup(
      req.keys,
      {
        createdAt: new Date().toISOString(),
        serverVersion: req.serverVersion,
        schemaVersion: inv.schemaVersion,
        objects: inv.objects,
        objectTypes: inv.objectTypes,
        kekInventory,
        auditHead,
      },
      snapshot,
    );
    fs.writeFileSync(temp, sealed, { mode: 0o600, flag: 'wx' });
    const fd = fs.openSync(temp, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(temp, out);
    return {
      out,
      backupId: header.backupId,
      backupKekId: header.backupKey.kekId,
      objects: inv.objects,
      objectTypes: inv.objectTypes,
      kekInventory,
      auditHead,
      bytes: sealed.length,
      sha256: fileDigest(sealed),
      snapshotMs,
      restarts: snap.restarts,
    };
  } finally {
    fs.rmSync(temp, { force: true });
    fs.rmSync(work, { recursive: true, force: true });
  }
}
