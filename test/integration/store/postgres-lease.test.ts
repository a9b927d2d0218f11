/**
 * The scheduler's lease on the throwaway PostgreSQL cluster: one holder at a time, renewed by its
 * holder only, taken over once it expires unrenewed, given up at release; and a LeasedScheduler
 * whose database goes away stops its scheduler before the lease could expire (its watchdog).
 */
import { Client } from 'pg';
import { PostgresLease } from '../../../src/store/postgres-lease';
import { PostgresObjectStore } from '../../../src/store/postgres-store';
import { LeasedScheduler } from '../../../src/scheduler/leased';
import type { LifecycleScheduler } from '../../../src/scheduler/lifecycle-scheduler';
import { requireEnvironment } from '../../helpers/environment';
import { freshDatabase, postgresForTests, postgresMissing } from '../../helpers/postgres';

jest.setTimeout(60_000);

let pg: Awaited<ReturnType<typeof postgresForTests>> | undefined;
const leases: PostgresLease[] = [];

async function migratedDatabase(): Promise<string> {
  pg ??= await postgresForTests();
  const url = await freshDatabase(pg.adminUrl);
  await (await PostgresObjectStore.open({ url, poolSize: 1 })).closeAsync();
  return url;
}

function lease(url: string, holder: string, ttlMs: number): PostgresLease {
  const l = new PostgresLease(url, 'scheduler', holder, ttlMs);
  leases.push(l);
  return l;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const pgDescribe = requireEnvironment('PostgreSQL (initdb, pg_ctl)', postgresMissing()).describe;

pgDescribe('the lease', () => {
  afterAll(async () => {
    for (const l of leases) await l.close().catch(() => undefined);
    pg?.stop();
  });

  test('one holder at a time; taken over only after it expires unrenewed; released at once', async () => {
    const url = await migratedDatabase();
    const a = lease(url, 'node-a', 1_500);
    const b = lease(url, 'node-b', 1_500);
    expect(await a.acquire()).toBe(true);
    expect(await b.acquire()).toBe(false);
    await sleep(800);
    expect(await a.acquire()).toBe(true); // renewed
    await sleep(900);
    expect(await b.acquire()).toBe(false); // 1.7 s after the first take, but renewed 0.9 s ago
    expect(await b.holderNow()).toBe('node-a');
    await sleep(1_700);
    expect(await b.acquire()).toBe(true); // a stopped renewing: expired, taken over
    expect(await a.acquire()).toBe(false);
    await b.release();
    expect(await a.holderNow()).toBeUndefined();
    expect(await a.acquire()).toBe(true);
  });

  test('a holder whose database goes away stops its scheduler before the lease expires', async () => {
    const url = await migratedDatabase();
    const events: string[] = [];
    const fakeScheduler = { close: async () => void events.push('closed') } as unknown as LifecycleScheduler;
    const ttl = 3_000;
    const leased = new LeasedScheduler(lease(url, 'node-c', ttl), ttl, 500, () => (events.push('started'), fakeScheduler), (f) => events.push(String(f.lease)));
    leased.begin();
    for (let i = 0; i < 50 && !leased.running; i++) await sleep(100);
    expect(leased.running).toBe(true);
    const lastRenewed = Date.now();
    // The database is dropped under it: every renewal fails from now on.
    const admin = new Client({ connectionString: pg!.adminUrl });
    await admin.connect();
    await admin.query(`DROP DATABASE ${new URL(url).pathname.slice(1)} WITH (FORCE)`);
    await admin.end();
    for (let i = 0; i < 60 && leased.running; i++) await sleep(100);
    expect(leased.running).toBe(false);
    expect(Date.now() - lastRenewed).toBeLessThan(ttl);
    expect(events).toEqual(expect.arrayContaining(['started', 'taken', 'not renewed', 'closed', 'lost']));
    await leased.close();
  });
});
