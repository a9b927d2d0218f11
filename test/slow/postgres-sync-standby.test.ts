/**
 * Durability with a synchronous standby (issue 18 item 3): the PostgreSQL store asks every
 * connection for synchronous_commit remote_apply, so when the primary names a synchronous standby
 * a write is acknowledged only once that standby has applied it. Its own throwaway cluster (the
 * test changes synchronous_standby_names, which would hold up every other file on a shared one):
 * a real streaming standby (pg_basebackup -R); with it named but stopped, an insert is not
 * acknowledged (its backend waits in SyncRep); once it is back, it is; and every acknowledged
 * object is readable on the standby at the moment of the acknowledgement.
 */
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { PostgresObjectStore } from '../../src/store/postgres-store';
import type { NewObject } from '../../src/store/object-store';
import { Tag } from '../../src/spec/generated/tags';
import { NameType, ObjectType, State } from '../../src/spec/generated/enums';
import { ttlv } from '../../ttlv/types';
import { requireEnvironment } from '../helpers/environment';
import { databaseUrl, freshDatabase, postgresBinDir, startPostgresCluster, type PostgresCluster } from '../helpers/postgres';
import { waitFor } from '../helpers/wait';

jest.setTimeout(180_000);

const STANDBY = 'kmip_sync_standby';

let cluster: PostgresCluster | undefined;
let standby: Awaited<ReturnType<PostgresCluster['startStandby']>> | undefined;
let store: PostgresObjectStore | undefined;

afterAll(async () => {
  // The database first: a write still held for the standby then fails instead of holding up the close.
  standby?.stop();
  cluster?.stop();
  await store?.closeAsync();
});

function newObject(uid: string): NewObject {
  return {
    uid,
    objectType: ObjectType.SymmetricKey,
    state: State.PreActive,
    owner: 'alice',
    attributes: [{ name: 'Name', index: 0, value: ttlv.structure(Tag.Name, [ttlv.textString(Tag.NameValue, uid), ttlv.enumeration(Tag.NameType, NameType.UninterpretedTextString)]) }],
    protectedMaterial: { kekId: 'kek', mechanism: 'aes-gcm', iv: randomBytes(12), ciphertext: randomBytes(48) },
  };
}

async function sql<T extends Record<string, unknown>>(url: string, text: string, values: unknown[] = []): Promise<T[]> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(text, values)).rows;
  } finally {
    await c.end();
  }
}

requireEnvironment('PostgreSQL (initdb, pg_ctl, pg_basebackup)', postgresBinDir() === undefined ? 'no initdb/pg_ctl' : undefined).test(
  'with a synchronous standby named, a write is acknowledged only once the standby has applied it',
  async () => {
    cluster = await startPostgresCluster();
    const url = await freshDatabase(cluster.adminUrl);
    const db = new URL(url).pathname.slice(1);
    store = await PostgresObjectStore.open({ url, poolSize: 2 });
    await store.insert(newObject('before-standby'));
    standby = await cluster.startStandby(STANDBY);
    const onStandby = async (uid: string) => (await sql(databaseUrl(standby!.adminUrl, db), 'SELECT uid FROM objects WHERE uid = $1', [uid])).length;
    await waitFor('the standby replaying the primary', async () => (await onStandby('before-standby')) === 1, { timeoutMs: 30_000 });

    // The standby away and named as synchronous: a commit is in the primary's WAL but its backend
    // waits for the standby, and the write is not acknowledged.
    standby.stopServer();
    await sql(cluster.adminUrl, `ALTER SYSTEM SET synchronous_standby_names = '${STANDBY}'`);
    await sql(cluster.adminUrl, 'SELECT pg_reload_conf()');
    let acknowledged = false;
    const pending = store.insert(newObject('held')).then(() => (acknowledged = true));
    await waitFor(
      () => 'a store backend waiting for the synchronous standby',
      async () => (await sql(cluster!.adminUrl, `SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND wait_event = 'SyncRep'`, [db])).length === 1,
      { timeoutMs: 30_000 },
    );
    await new Promise((r) => setTimeout(r, 1000));
    expect(acknowledged).toBe(false);

    // The standby back: the held write is applied there, then acknowledged, and readable there at once.
    standby.startServer();
    await pending;
    expect(await onStandby('held')).toBe(1);
    const [mode] = await sql<{ sync_state: string }>(cluster.adminUrl, 'SELECT sync_state FROM pg_stat_replication WHERE application_name = $1', [STANDBY]);
    expect(mode?.sync_state).toBe('sync');

    // remote_apply: each acknowledged write is readable on the standby at once, not merely flushed there.
    for (let i = 0; i < 30; i++) {
      await store.insert(newObject(`after-${i}`));
      expect(await onStandby(`after-${i}`)).toBe(1);
    }
  },
);
