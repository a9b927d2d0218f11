/**
 * The lifecycle scheduler on PostgreSQL with two server processes (nodes) on one database: exactly
 * one holds the scheduler's lease (a row in the database) and acts on a date, once; when it is
 * SIGKILLed it stops renewing, and the other takes the lease over at its expiry and acts on the next
 * date. Real processes, each with its own data dir and embedded token, and the real clock.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { CryptographicAlgorithm, ObjectType, State } from '../../src/spec/generated/enums';
import { KmipClient, attribute, nameAttribute } from '../../src/client';
import { startServerProcess, type ServerProcess } from '../helpers/server-process';
import { devClient } from '../helpers/dev-client';
import { requireEnvironment } from '../helpers/environment';
import { freshDatabase, postgresForTests, postgresMissing } from '../helpers/postgres';
import { SCHEDULER_LEASE } from '../../src/server-store';

jest.setTimeout(300_000);

let root: string;
let url: string;
let pg: Awaited<ReturnType<typeof postgresForTests>> | undefined;
const nodes: ServerProcess[] = [];
const clients: KmipClient[] = [];

async function until(what: string, probe: () => Promise<boolean> | boolean, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n${nodes.map((n) => n.output()).join('\n----\n')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const holds = (n: ServerProcess) => n.output().includes('"lease":"taken"');

/** The nodes share one data dir (one token, so one KEK), each with an audit trail of its own. */
const NODE_NAMES = ['a', 'b'] as const;
const auditFile = (name: string) => `audit-${name}.log`;

/** Records of the scheduler acting on `uid`, from both nodes' audit files. */
function scheduledFor(uid: string): string[] {
  return nodes.flatMap((n, i) =>
    fs
      .readFileSync(path.join(n.dataDir, auditFile(NODE_NAMES[i]!)), 'utf8')
      .split('\n')
      .filter((l) => l.includes('"scheduled"') && l.includes(uid))
      .map((l) => (JSON.parse(l) as { operation: string }).operation),
  );
}

async function leaseHolder(): Promise<string | undefined> {
  const db = new Client({ connectionString: url });
  await db.connect();
  try {
    return (await db.query<{ holder: string }>("SELECT holder FROM leases WHERE name = 'scheduler'")).rows[0]?.holder;
  } finally {
    await db.end();
  }
}

/** A key whose Activation Date is 2 s away, made through `client`; resolves once it is Active and the one record is written. */
async function activatedOnce(client: KmipClient, name: string): Promise<void> {
  const activation = new Date(Math.ceil(Date.now() / 1000) * 1000 + 2000);
  const { uniqueIdentifier: uid } = await client.create(ObjectType.SymmetricKey, [
    attribute('Cryptographic Algorithm', CryptographicAlgorithm.AES),
    attribute('Cryptographic Length', 128),
    nameAttribute(name),
    attribute('Activation Date', activation),
  ]);
  await until(`${name} Active`, async () => (await client.locate([nameAttribute(name), attribute('State', State.Active)])).uniqueIdentifiers.length === 1);
  expect(Date.now()).toBeGreaterThanOrEqual(activation.getTime());
  await until(`${name}'s audit record`, () => scheduledFor(uid).length > 0);
  await new Promise((r) => setTimeout(r, 1500));
  expect(scheduledFor(uid)).toEqual(['Activation Date reached']);
}

const pgDescribe = requireEnvironment('PostgreSQL (initdb, pg_ctl)', postgresMissing()).describe;

pgDescribe('the scheduler on two nodes of one database', () => {
  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-pg-sched-'));
    pg = await postgresForTests();
    url = await freshDatabase(pg.adminUrl);
    for (const name of NODE_NAMES) {
      const config = path.join(root, `config-${name}.json`);
      fs.writeFileSync(config, JSON.stringify({ store: { engine: 'postgres', url, poolSize: 4 }, audit: { file: auditFile(name) } }), { mode: 0o600 });
      nodes.push(await startServerProcess({ dataDir: path.join(root, 'node'), extraArgs: ['--config', config] }));
    }
    for (const n of nodes) clients.push(devClient(n.port, n.pkiDir));
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    for (const n of nodes) await n.stop();
    pg?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  test('one node holds the lease and acts on a date once; killed, the other takes over and acts on the next', async () => {
    await until('a node to take the lease', () => nodes.some(holds));
    // Both have tried at least once by now (each tries at start): still exactly one holder.
    await new Promise((r) => setTimeout(r, SCHEDULER_LEASE.renewMs + 1000));
    expect(nodes.filter(holds)).toHaveLength(1);
    const holder = nodes.findIndex(holds);
    const other = 1 - holder;
    expect(await leaseHolder()).toContain(`:${nodes[holder]!.child.pid}:`);

    // A key made through the node that does not run the scheduler is activated by the one that does.
    await activatedOnce(clients[other]!, 'pg-sched-1');

    clients[holder]!.close();
    nodes[holder]!.child.kill('SIGKILL');
    const killedAt = Date.now();
    await until('the other node to take the lease over', () => holds(nodes[other]!), SCHEDULER_LEASE.ttlMs + SCHEDULER_LEASE.renewMs + 10_000);
    const takeover = Date.now() - killedAt;
    expect(takeover).toBeLessThanOrEqual(SCHEDULER_LEASE.ttlMs + SCHEDULER_LEASE.renewMs + 2_000);
    expect(await leaseHolder()).toContain(`:${nodes[other]!.child.pid}:`);
    process.stdout.write(`scheduler lease taken over ${takeover} ms after SIGKILL of its holder\n`);

    await activatedOnce(clients[other]!, 'pg-sched-2');
  });
});
