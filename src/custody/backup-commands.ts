/**
 * `kmip-server backup` and `kmip-server restore`, registered on the command line by one call from
 * cli.ts. Composition-root work: it reads the configuration and opens the token the way `audit
 * verify` does (a session of its own beside a running server, nothing created).
 */
import fs from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { EMBEDDED_TOKEN_DIR, KEK_LABEL, loadConfig, requireEmbeddedStore, type ServerConfig } from '../config';
import { lockDataDir, restrictNewFiles } from '../data-dir';
import { SERVER_INFO } from '../main';
import { openHsmForVerify } from '../server-hsm';
import { ObjectType } from '../spec/generated/enums';
import { runBackup, type BackupSummary } from './backup';
import { runRestore, type RestoreSummary } from './restore';
import { progressBar } from './progress';
import { openCustodyAudit } from './custody-audit';
import type { KeyProtector } from '../keys/key-protector';

type Sub = (parent: Command, name: string, description: string) => Command;

const TYPE_NAMES = new Map<string, string>(Object.entries(ObjectType).map(([name, v]) => [String(v), name]));

/** Object Type values -> the spec's names, for people and scripts. */
function byTypeName(counts: Readonly<Record<string, number>>): Record<string, number> {
  return Object.fromEntries(Object.entries(counts).map(([t, n]) => [TYPE_NAMES.get(t) ?? `ObjectType ${t}`, n]));
}

function value(v: string): string {
  if (v.startsWith('--')) throw new InvalidArgumentError(`needs a value, not the flag ${v}`);
  return v;
}

function tokenDescription(config: ServerConfig): string {
  return config.hsm === null ? `the embedded SoftHSM2 token in ${path.join(config.dataDir, EMBEDDED_TOKEN_DIR)}` : `token "${config.hsm.tokenLabel}" of ${config.hsm.module}`;
}

/** A backup or restore is a custody step: recorded in the side trail the kek commands keep, MAC'd by the token. */
async function recordCustodyStep(dataDir: string, keys: KeyProtector, action: string, fields: Readonly<Record<string, string | number>>): Promise<void> {
  const audit = await openCustodyAudit(dataDir, keys.auditMac === undefined ? undefined : (data) => keys.auditMac!(data));
  try {
    await audit.record(action, fields);
  } finally {
    await audit.close();
  }
}

interface BackupFlags {
  readonly dataDir?: string;
  readonly config?: string;
  readonly out: string;
  readonly json?: boolean;
}

async function backupCommand(flags: BackupFlags): Promise<void> {
  restrictNewFiles();
  const config = loadConfig({ configFile: flags.config, dataDir: flags.dataDir });
  requireEmbeddedStore(config, 'kmip-server backup');
  const keys = await openHsmForVerify(config);
  let summary: BackupSummary;
  try {
    summary = await runBackup({
      dataDir: config.dataDir,
      storePath: config.storePath,
      out: flags.out,
      keys,
      kekLabel: config.hsm?.kekLabel ?? KEK_LABEL,
      serverVersion: SERVER_INFO.serverVersion,
      progress: progressBar('backup'),
    });
    await recordCustodyStep(config.dataDir, keys, 'backup', { backupId: summary.backupId, out: summary.out, objects: summary.objects, sha256: summary.sha256, backupKekId: summary.backupKekId });
  } finally {
    await keys.close();
  }
  const types = byTypeName(summary.objectTypes);
  if (flags.json === true) {
    console.log(JSON.stringify({ ...summary, objectTypes: types }));
    return;
  }
  console.log(`backup written: ${summary.out}`);
  console.log(`objects: ${summary.objects} (${Object.entries(types).map(([t, n]) => `${t} ${n}`).join(', ') || 'none'})`);
  console.log(`backup key protected by KEK ${summary.backupKekId}`);
  console.log(`KEKs the objects need: ${summary.kekInventory.map((k) => `${k.kekId}${k.current ? ' (current)' : ''}: ${k.objects} objects, ${k.digests} digests`).join('; ') || 'none'}`);
  console.log(`sha256: ${summary.sha256}`);
}

/**
 * The token as restore opens it: nothing created. A data dir without the embedded token's files is
 * refused before SoftHSM2 is asked (which would leave a token directory behind).
 */
async function openTokenForRestore(config: ServerConfig) {
  const tokenDir = path.join(config.dataDir, EMBEDDED_TOKEN_DIR);
  if (config.hsm === null && !fs.existsSync(path.join(tokenDir, 'tokens'))) throw new Error('there is no token there');
  return openHsmForVerify(config);
}

interface RestoreFlags {
  readonly in: string;
  readonly dataDir?: string;
  readonly config?: string;
  readonly force?: boolean;
  readonly digest?: string;
  readonly json?: boolean;
}

async function restoreCommand(flags: RestoreFlags): Promise<void> {
  restrictNewFiles();
  const config = loadConfig({ configFile: flags.config, dataDir: flags.dataDir });
  requireEmbeddedStore(config, 'kmip-server restore');
  fs.mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  // Held throughout: a server started meanwhile would serve a store being replaced.
  const unlock = lockDataDir(config.dataDir);
  let summary: RestoreSummary;
  try {
    summary = await runRestore({
      file: path.resolve(flags.in),
      dataDir: config.dataDir,
      storePath: config.storePath,
      force: flags.force === true,
      ...(flags.digest !== undefined ? { expectDigest: flags.digest } : {}),
      openKeys: () => openTokenForRestore(config),
      tokenDescription: tokenDescription(config),
      progress: progressBar('unwrap'),
    });
    const keys = await openTokenForRestore(config);
    try {
      await recordCustodyStep(config.dataDir, keys, 'restore', { backupId: summary.backupId, sha256: summary.sha256, objects: summary.objects, unwrapped: summary.unwrapped, failed: summary.failed.length });
    } finally {
      await keys.close();
    }
  } finally {
    unlock();
  }
  const types = byTypeName(summary.objectTypes);
  if (flags.json === true) console.log(JSON.stringify({ ...summary, objectTypes: types }));
  else {
    console.log(`restored backup ${summary.backupId} of ${summary.createdAt} (server ${summary.serverVersion}) into ${config.storePath}`);
    console.log(`objects: ${summary.objects} (${Object.entries(types).map(([t, n]) => `${t} ${n}`).join(', ') || 'none'}); unwrapped ${summary.unwrapped} blobs, ${summary.failed.length} failed`);
    for (const f of summary.failed.slice(0, 20)) console.log(`  not unwrapped: ${f.uid}: ${f.reason}`);
  }
  if (summary.failed.length > 0) process.exitCode = 1;
}

/** Adds `backup` and `restore` to the root command; `sub` makes a subcommand the way cli.ts does. */
export function registerBackupCommands(root: Command, sub: Sub): void {
  sub(root, 'backup', 'write an encrypted, authenticated online backup of the store (beside a running server)')
    .requiredOption('--out <FILE>', 'the backup file to write (never overwritten; 0600)', value)
    .option('--data-dir <DIR>', 'the server\'s data dir (default ./data)', value)
    .option('--config <FILE>', 'the server\'s configuration file', value)
    .option('--json', 'print a JSON summary')
    .action((opts: BackupFlags) => backupCommand(opts));
  sub(root, 'restore', 'verify a backup file, then restore it into a stopped server\'s data dir and unwrap every object')
    .requiredOption('--in <FILE>', 'the backup file', value)
    .option('--data-dir <DIR>', 'the data dir to restore into (default ./data)', value)
    .option('--config <FILE>', 'the server\'s configuration file', value)
    .option('--force', 'replace a store that holds objects')
    .option('--digest <SHA256>', 'the digest `backup` printed: refuse a file that does not match', value)
    .option('--json', 'print a JSON summary')
    .action((opts: RestoreFlags) => restoreCommand(opts));
}
