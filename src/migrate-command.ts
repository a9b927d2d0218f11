/**
 * `kmip-server migrate --from DIR --to postgresql://...`: copies the embedded SQLite store of a data
 * dir into an empty PostgreSQL database (store/copy-to-postgres.ts), verifies the counts and prints
 * what to change in the configuration. The server may keep running meanwhile; `--catch-up`, run
 * once it is stopped, copies what it wrote after the first run. Registered by one call in cli.ts.
 */
import fs from 'node:fs';
import type { Command } from 'commander';
import { loadConfig } from './config';
import { SqliteObjectStore } from './store/sqlite';
import { PostgresObjectStore } from './store/postgres-store';
import { SqliteApprovalStore } from './store/sqlite-approvals';
import { redactedUrl } from './store/postgres-url';
import { copyToPostgres, type ApprovalCopy } from './store/copy-to-postgres';
import { PostgresApprovalStore } from './store/postgres-approvals';
import { StoreError } from './store/object-store';
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
  const shown = redactedUrl(flags.to);
  const source = new SqliteObjectStore({ path: config.storePath, sharedWithOtherProcesses: true });
  let target: PostgresObjectStore;
  try {
    target = await PostgresObjectStore.open({ url: flags.to, poolSize: 4 });
  } catch (e) {
    source.close();
    throw e;
  }
  // Requests held for approval go with the objects (a store from before schema 7 has none).
  let approvals: ApprovalCopy | undefined;
  try {
    const from = approvalsOf(config.storePath);
    approvals = from && { from, to: await PostgresApprovalStore.open({ url: flags.to }) };
  } catch (e) {
    source.close();
    await target.closeAsync();
    throw e;
  }
  try {
    const log = flags.json ? undefined : (line: string) => console.log(line);
    const report = await copyToPostgres(source, target, { catchUp: flags.catchUp === true, ...(log ? { log } : {}), ...(approvals ? { approvals } : {}) });
    const running = dataDirHolder(config.dataDir);
    if (flags.json) {
      console.log(JSON.stringify({ ...report, from: config.storePath, to: shown, serverRunning: running !== undefined }));
      return;
    }
    console.log(`copied ${report.objects} objects and ${report.grants} grants and ${report.approvals} requests held for approval from ${config.storePath} to ${shown} (${report.passes} passes, counts verified)`);
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
    await approvals?.from.close();
    await approvals?.to.close();
  }
}

/** The source's approvals, or undefined for a store from before them (no table: nothing to copy). */
function approvalsOf(storePath: string): SqliteApprovalStore | undefined {
  try {
    return new SqliteApprovalStore(storePath);
  } catch (e) {
    if (e instanceof StoreError && e.code === 'SCHEMA') return undefined;
    throw e;
  }
}
