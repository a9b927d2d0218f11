/**
 * A real server process on the PostgreSQL engine (config `store.engine: "postgres"`), talked to
 * over TLS by the client library: Create, Get and Locate answer from PostgreSQL (the rows are in the
 * database, no SQLite file is made), what was acknowledged is there after a restart, and a database
 * unreachable at start stops the server with one line naming the URL without its password.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { KmipClient, attribute, nameAttribute } from '../../../src/client';
import { CryptographicAlgorithm, CryptographicUsageMask, ObjectType } from '../../../src/spec/generated/enums';
import { requireEnvironment } from '../../helpers/environment';
import { freshDatabase, postgresForTests, postgresMissing } from '../../helpers/postgres';
import { PROJECT_ROOT, startServerProcess, type ServerProcess } from '../../helpers/server-process';
import { POSTGRES_SCHEMA_VERSION } from '../../../src/store/postgres-migrations';

jest.setTimeout(240_000);

let root: string;
let pg: Awaited<ReturnType<typeof postgresForTests>> | undefined;
const servers: ServerProcess[] = [];
const clients: KmipClient[] = [];

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-pg-server-'));
});
afterAll(async () => {
  for (const c of clients) c.close();
  for (const s of servers) await s.stop();
  pg?.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

function configFile(name: string, store: unknown): string {
  const file = path.join(root, name);
  fs.writeFileSync(file, JSON.stringify({ store }), { mode: 0o600 });
  return file;
}

function client(server: ServerProcess): KmipClient {
  const c = new KmipClient({
    servers: [`127.0.0.1:${server.port}`],
    servername: 'localhost',
    ca: fs.readFileSync(path.join(server.pkiDir, 'ca.pem')),
    cert: fs.readFileSync(path.join(server.pkiDir, 'client.pem')),
    key: fs.readFileSync(path.join(server.pkiDir, 'client-key.pem')),
    version: { major: 2, minor: 1 },
  });
  clients.push(c);
  return c;
}

function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['-r', path.join(PROJECT_ROOT, 'scripts', 'register-ts.js'), path.join(PROJECT_ROOT, 'scripts', 'run-cli.ts'), ...args],
      { cwd: PROJECT_ROOT, timeout: 120_000 },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const aes = (name: string) => [
  attribute('Cryptographic Algorithm', CryptographicAlgorithm.AES),
  attribute('Cryptographic Length', 256),
  attribute('Cryptographic Usage Mask', CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt),
  nameAttribute(name),
];

const pgTest = requireEnvironment('PostgreSQL (initdb, pg_ctl)', postgresMissing()).test;

pgTest('Create, Get and Locate over TLS answer from PostgreSQL, survive a restart of the server, and `schedule` reads the dates there', async () => {
  pg ??= await postgresForTests();
  const url = await freshDatabase(pg.adminUrl);
  const dataDir = path.join(root, 'node');
  const config = configFile('pg.json', { engine: 'postgres', url, poolSize: 4 });
  let server = await startServerProcess({ dataDir, extraArgs: ['--config', config] });
  servers.push(server);
  let c = client(server);
  const created = await Promise.all(['pg-a', 'pg-b', 'pg-c'].map((n) => c.create(ObjectType.SymmetricKey, aes(n))));
  const uids = created.map((r) => r.uniqueIdentifier);
  const got = await c.get(uids[1]!);
  expect(got.uniqueIdentifier).toBe(uids[1]);
  expect((await c.locate([nameAttribute('pg-b')])).uniqueIdentifiers).toEqual([uids[1]]);
  expect((await c.locate([attribute('Cryptographic Algorithm', CryptographicAlgorithm.AES)])).uniqueIdentifiers.sort()).toEqual([...uids].sort());

  // The rows are PostgreSQL's, wrapped (no key material in the clear), and no SQLite store was made.
  const db = new Client({ connectionString: url });
  await db.connect();
  try {
    const rows = await db.query<{ uid: string; ciphertext: Buffer | null }>('SELECT uid, ciphertext FROM objects ORDER BY seq');
    expect(rows.rows.map((r) => r.uid).sort()).toEqual([...uids].sort());
    for (const r of rows.rows) expect(r.ciphertext?.length).toBeGreaterThan(32);
    expect((await db.query('SELECT version FROM schema_version')).rows[0]).toEqual({ version: POSTGRES_SCHEMA_VERSION });
  } finally {
    await db.end();
  }
  expect(fs.existsSync(path.join(dataDir, 'kmip.sqlite'))).toBe(false);

  const deactivation = Math.floor(Date.now() / 1000) + 3600;
  const dated = (await c.create(ObjectType.SymmetricKey, [...aes('pg-dated'), attribute('Deactivation Date', new Date(deactivation * 1000))])).uniqueIdentifier;
  c.close();
  expect(await server.stop()).toBe(0);
  server = await startServerProcess({ dataDir, extraArgs: ['--config', config] });
  servers.push(server);
  c = client(server);
  expect((await c.locate([nameAttribute('pg-c')])).uniqueIdentifiers).toEqual([uids[2]]);
  const again = await c.get(uids[0]!);
  expect(again.uniqueIdentifier).toBe(uids[0]);

  // The scheduler's timetable, read beside the running node from the same database.
  const schedule = await runCli(['schedule', '--data-dir', dataDir, '--config', config, '--within', 'PT3H', '--json']);
  expect(schedule).toMatchObject({ code: 0, stderr: '' });
  const events = (JSON.parse(schedule.stdout) as { events: { uid: string; event: string; at: string }[] }).events;
  expect(events).toEqual([{ uid: dated, event: 'Deactivation Date', at: new Date(deactivation * 1000).toISOString().replace('.000Z', 'Z') }]);
});

pgTest("a node whose HSM token lacks the database's current KEK refuses to start, in one line naming the token", async () => {
  pg ??= await postgresForTests();
  const url = await freshDatabase(pg.adminUrl);
  const config = configFile('kek-check.json', { engine: 'postgres', url, poolSize: 2 });
  // The first node names its KEK as the database's current one.
  const first = await startServerProcess({ dataDir: path.join(root, 'kek-first'), extraArgs: ['--config', config] });
  servers.push(first);
  expect(await first.stop()).toBe(0);
  // A node on a data dir of its own has a token of its own, without that KEK.
  const r = await runCli(['start', '--listen', '127.0.0.1:0', '--data-dir', path.join(root, 'kek-other'), '--config', config]);
  expect(r.code).not.toBe(0);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(/the database names KEK [0-9a-f]+ as current \(table kek_current\), but .*kek-other.* does not hold it/);
});

async function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

test('a database unreachable at start stops the server with one line naming the URL without its password', async () => {
  const port = await closedPort();
  const secret = 'not-the-password-9d1f';
  const config = configFile('down.json', { engine: 'postgres', url: `postgresql://kmip:${secret}@127.0.0.1:${port}/keys` });
  const dataDir = path.join(root, 'down');
  const r = await runCli(['start', '--listen', '127.0.0.1:0', '--data-dir', dataDir, '--config', config]);
  expect(r.code).not.toBe(0);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).toContain(`postgresql://kmip@127.0.0.1:${port}/keys`);
  expect(r.stderr).toContain('ECONNREFUSED');
  expect(r.stderr).not.toContain(secret);
});

// Each refusal's wording is tested against loadConfig in test/unit/config/store-config.test.ts; here, that the server stops on one.
test('a bad store setting stops the server with one line naming its key', async () => {
  const r = await runCli(['start', '--listen', '127.0.0.1:0', '--data-dir', path.join(root, 'bad'), '--config', configFile('bad.json', { engine: 'postgres' })]);
  expect(r.code).not.toBe(0);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).toContain('config: store.url: is required');
});
