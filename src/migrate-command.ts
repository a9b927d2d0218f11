/**
 * `kmip-server migrate --from DIR --to postgresql://...`: copies the embedded SQLite store of a data
 * dir into an empty PostgreSQL database (store/copy-to-postgres.ts), verifies the counts and prints
 * what to change in the configuration. The server may keep running meanwhile; `--catch-up`, run
 * once it is stopped, copies what it wrote after the first run. Registered by one call in cli.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from './config';
import { SqliteObjectStore } from './store/sqlite';
import { PostgresObjectStore } from './store/postgres-store';
import { SqliteApprovalStore } from './store/sqlite-approvals';
import { redactedUrl } from './store/postgres-url';
import { copyToPostgres } from './store/copy-to-postgres';
import { dataDirHolder } from './data-dir';

interface MigrateFlags {
  readonly from: string;
  readonly to: string;
  readonly config?: string;
  readonly catchUp?: boolean;
  readonly json?: boolean;
}

export function registerMigrateCommand(program: Command): void {
  program
    .command('migrate')
    .description('copy the embedded store of a data dir into an empty PostgreSQL database (online), verify the counts, print the configuration to use')
    .requiredOption('--from <DIR>', 'the data dir whose SQLite store is copied')
    .requiredOption('--to <URL>', 'the PostgreSQL database: postgresql://USER@HOST:PORT/DATABASE (password through PGPASSWORD or ~/.pgpass)')
    .option('--config <FILE>', "the server's configuration file (for a store.path outside the data dir)")
    .option('--catch-up', 'the target already holds an earlier copy: bring it up to the source (run after stopping the server)')
    .option('--json', 'print a JSON summary')
    .action((flags: MigrateFlags) => migrate(flags));
}

async function migrate(flags: MigrateFlags): Promise<void> {
  if (!/^postgres(ql)?:\/\//.test(flags.to)) throw new Error(`--to: must be a postgresql:// URL, not "${redactedUrl(flags.to)}"`);
  const config = loadConfig({ configFile: flags.config, dataDir: flags.from });
  if (config.storeEngine.engine !== 'sqlite') throw new Error('--from: the configuration already names the postgres engine: there is no embedded store to copy');
  if (!fs.existsSync(config.storePath)) throw new Error(`--from: no store at ${config.storePath}: is it the server's data dir?`);
  await refuseUndecidedApprovals(config.storePath);
  const shown = redactedUrl(flags.to);
  const source = new SqliteObjectStore({ path: config.storePath, sharedWithOtherProcesses: true });
  let target: PostgresObjectStore;
  try {
    target = await PostgresObjectStore.open({ url: flags.to, poolSize: 4 });
  } catch (e) {
    source.close();
    throw e;
  }
  try {
    const log = flags.json ? undefined : (line: string) => console.log(line);
    const report = await copyToPostgres(source, target, { catchUp: flags.catchUp === true, ...(log ? { log } : {}) });
    const running = dataDirHolder(config.dataDir);
    if (flags.json) {
      console.log(JSON.stringify({ ...report, from: config.storePath, to: shown, serverRunning: running !== undefined }));
      return;
    }
    console.log(`copied ${report.objects} objects and ${report.grants} grants from ${config.storePath} to ${shown} (${report.passes} passes, counts verified)`);
    if (!report.settled) console.log('the source store was still changing during the last pass');
    if (running !== undefined) {
      console.log(`the server (PID ${running}) is still serving from the SQLite store: stop it, run this command again with --catch-up, then start it on PostgreSQL`);
    }
    console.log('in the configuration file, set:');
    console.log(`  "store": { "engine": "postgres", "url": "${shown}", "poolSize": 10 }`);
    console.log(`keep the data dir ${config.dataDir} (or its HSM token) for every node: the objects stay wrapped under its KEK`);
  } finally {
    source.close();
    await target.closeAsync();
  }
}

/**
 * A request held for approval runs later on the store it was held on: the postgres engine keeps
 * approvals of its own (or will), so a copy with undecided ones would strand them.
 */
async function refuseUndecidedApprovals(storePath: string): Promise<void> {
  let approvals: SqliteApprovalStore;
  try {
    approvals = new SqliteApprovalStore(storePath);
  } catch {
    return; // a store without the approvals table has none
  }
  try {
    const open = await approvals.list(['pending', 'approved', 'running']);
    if (open.length > 0) throw new Error(`${open.length} requests held for approval in ${path.basename(storePath)} (${open.map((a) => a.id).join(', ')}): approve, deny or cancel them first (kmip-server approve)`);
  } finally {
    approvals.close();
  }
}
