/**
 * The two store engines as the store-port tests open them: the embedded SQLite store on a real file
 * and the PostgreSQL store on the run's throwaway cluster (./postgres.ts), each a fresh database.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SqliteObjectStore } from '../../src/store/sqlite';
import { PostgresObjectStore } from '../../src/store/postgres-store';
import type { ObjectStore } from '../../src/store/object-store';
import type { GrantStore } from '../../src/store/grants';
import { freshDatabase, postgresForTests, postgresMissing } from './postgres';

export type EngineStore = ObjectStore & { settled(): Promise<void>; grants(): GrantStore };

/** What a store test needs of an engine: a store, and the same store opened again (another connection, another node). */
export interface Engine {
  open(): Promise<EngineStore>;
  /** Closes every store it opened (cleanly: queued deferred writes are kept) and drops the data. */
  cleanup(): Promise<void>;
}

const sqliteEngine = (): Engine => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-contract-'));
  const opened: SqliteObjectStore[] = [];
  return {
    async open() {
      const s = new SqliteObjectStore({ path: path.join(dir, 'objects.db') });
      opened.push(s);
      return s;
    },
    async cleanup() {
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
  return {
    async open() {
      const s = await PostgresObjectStore.open({ url, poolSize: 4 });
      opened.push(s);
      return s;
    },
    async cleanup() {
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
