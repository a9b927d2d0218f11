/**
 * The two store engines as the store-port tests open them: the embedded SQLite store on a real file
 * and the PostgreSQL store on the run's throwaway cluster (./postgres.ts), each a fresh database.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { SqliteObjectStore } from '../../src/store/sqlite';
import { PostgresObjectStore } from '../../src/store/postgres-store';
import type { ObjectStore } from '../../src/store/object-store';
import type { GrantStore } from '../../src/store/grants';
import type { ApprovalStore } from '../../src/store/approval-store';
import { SqliteApprovalStore } from '../../src/store/sqlite-approvals';
import { PostgresApprovalStore } from '../../src/store/postgres-approvals';
import { freshDatabase, postgresForTests, postgresMissing } from './postgres';

export type EngineStore = ObjectStore & { settled(): Promise<void>; grants(): GrantStore };

/** What a store test needs of an engine: a store, and the same store opened again (another connection, another node). */
export interface Engine {
  open(): Promise<EngineStore>;
  /** Dual control's approval store on the same data, over connections of its own (the store is migrated first). */
  approvals(): Promise<ApprovalStore>;
  /** The approval store of a store no server has migrated yet: opening must refuse it. */
  unmigratedApprovals(): Promise<ApprovalStore>;
  /** Closes every store it opened (cleanly: queued deferred writes are kept) and drops the data. */
  cleanup(): Promise<void>;
}

const sqliteEngine = (): Engine => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-contract-'));
  const opened: SqliteObjectStore[] = [];
  const approvals: ApprovalStore[] = [];
  const file = path.join(dir, 'objects.db');
  return {
    async open() {
      const s = new SqliteObjectStore({ path: file });
      opened.push(s);
      return s;
    },
    async approvals() {
      if (opened.length === 0) opened.push(new SqliteObjectStore({ path: file }));
      const s = new SqliteApprovalStore(file);
      approvals.push(s);
      return s;
    },
    async unmigratedApprovals() {
      const old = path.join(dir, 'unmigrated.db');
      new Database(old).close();
      return new SqliteApprovalStore(old);
    },
    async cleanup() {
      for (const s of approvals) await s.close();
      for (const s of opened) s.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
};

let pg: Awaited<ReturnType<typeof postgresForTests>> | undefined;
const postgresEngine = async (): Promise<Engine> => {
  pg ??= await postgresForTests();
  const url = await freshDatabase(pg.adminUrl);
  const opened: PostgresObjectStore[] = [];
  const approvals: ApprovalStore[] = [];
  const adminUrl = pg.adminUrl;
  return {
    async open() {
      const s = await PostgresObjectStore.open({ url, poolSize: 4 });
      opened.push(s);
      return s;
    },
    async approvals() {
      if (opened.length === 0) opened.push(await PostgresObjectStore.open({ url, poolSize: 4 }));
      const s = await PostgresApprovalStore.open({ url });
      approvals.push(s);
      return s;
    },
    async unmigratedApprovals() {
      return PostgresApprovalStore.open({ url: await freshDatabase(adminUrl) });
    },
    async cleanup() {
      for (const s of approvals) await s.close();
      for (const s of opened) await s.closeAsync();
    },
  };
};

/** Call from the test file's afterAll. */
export async function stopTestPostgres(): Promise<void> {
  await pg?.stop();
  pg = undefined;
}

/** Label, factory, and why the engine cannot run here (undefined: it can). */
export const STORE_ENGINES: readonly [string, () => Promise<Engine>, string | undefined][] = [
  ['SQLite', async () => sqliteEngine(), undefined],
  ['PostgreSQL', postgresEngine, postgresMissing()],
];
