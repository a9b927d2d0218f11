/**
 * PostgreSQL lost while a server serves (its own throwaway cluster, stopped and started under the
 * server): requests that need the database answer General Failure with a clear message and the
 * server keeps running; nothing half-written; once PostgreSQL is back, service resumes without a
 * restart of the server, and every acknowledged object is there.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KmipClient, KmipResultError, attribute, nameAttribute } from '../../../src/client';
import { CryptographicAlgorithm, CryptographicUsageMask, ObjectType, ResultReason } from '../../../src/spec/generated/enums';
import { requireEnvironment } from '../../helpers/environment';
import { freshDatabase, postgresBinDir, startPostgresCluster, type PostgresCluster } from '../../helpers/postgres';
import { startServerProcess, type ServerProcess } from '../../helpers/server-process';

jest.setTimeout(240_000);

let root: string;
let cluster: PostgresCluster | undefined;
let server: ServerProcess | undefined;
let client: KmipClient | undefined;

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-pg-outage-'));
});
afterAll(async () => {
  client?.close();
  await server?.stop();
  cluster?.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

const aes = (name: string) => [
  attribute('Cryptographic Algorithm', CryptographicAlgorithm.AES),
  attribute('Cryptographic Length', 256),
  attribute('Cryptographic Usage Mask', CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt),
  nameAttribute(name),
];

async function failureOf(p: Promise<unknown>): Promise<KmipResultError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof KmipResultError) return e;
    throw e;
  }
  throw new Error('expected a KMIP failure, the request succeeded');
}

requireEnvironment('PostgreSQL (initdb, pg_ctl)', postgresBinDir() === undefined ? 'no initdb/pg_ctl' : undefined).test(
  'the database stopped under a serving node: General Failure, nothing half-written, service back when it returns',
  async () => {
    cluster = await startPostgresCluster();
    const url = await freshDatabase(cluster.adminUrl);
    const config = path.join(root, 'pg.json');
    fs.writeFileSync(config, JSON.stringify({ store: { engine: 'postgres', url, poolSize: 4 } }), { mode: 0o600 });
    server = await startServerProcess({ dataDir: path.join(root, 'node'), extraArgs: ['--config', config] });
    const pki = server.pkiDir;
    client = new KmipClient({
      servers: [`127.0.0.1:${server.port}`],
      servername: 'localhost',
      ca: fs.readFileSync(path.join(pki, 'ca.pem')),
      cert: fs.readFileSync(path.join(pki, 'client.pem')),
      key: fs.readFileSync(path.join(pki, 'client-key.pem')),
      version: { major: 2, minor: 1 },
    });
    const before = (await client.create(ObjectType.SymmetricKey, aes('before-outage'))).uniqueIdentifier;

    cluster.stopServer();
    const c = client;
    for (const attempt of [() => c.create(ObjectType.SymmetricKey, aes('during-outage')), () => c.get(before), () => c.locate([nameAttribute('before-outage')])]) {
      const f = await failureOf(attempt());
      expect(f.reason).toBe(ResultReason.GeneralFailure);
      expect(f.message).toContain('the key store is unreachable');
      expect(f.message).not.toContain(url);
    }
    expect(server.child.exitCode).toBeNull();

    cluster.startServer();
    // The pool drops the dead connections and opens new ones: no restart of the server.
    const after = (await client.create(ObjectType.SymmetricKey, aes('after-outage'))).uniqueIdentifier;
    expect((await client.get(before)).uniqueIdentifier).toBe(before);
    expect((await client.get(after)).uniqueIdentifier).toBe(after);
    // The Create refused during the outage left nothing behind.
    expect((await client.locate([nameAttribute('during-outage')])).uniqueIdentifiers).toEqual([]);
    expect((await client.locate([attribute('Cryptographic Algorithm', CryptographicAlgorithm.AES)])).uniqueIdentifiers.sort()).toEqual([before, after].sort());
  },
);
