/**
 * /metrics object counts (`kmip_objects`) on the PostgreSQL engine, from real server processes: the
 * one process of a server counts PostgreSQL's rows, and with two workers the primary (which holds
 * no store) counts them once over a connection of its own, whatever the number of workers.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Operation } from '../../../src/spec/generated/enums';
import { Tag } from '../../../src/spec/generated/tags';
import { connectClient, startServerProcess, type ServerProcess } from '../../helpers/server-process';
import type { KmipTlsClient } from '../../helpers/tls-client';
import { parseResponse, registerAesPayload, requestMessage, successPayload, textOf } from '../../helpers/kmip-client';
import { httpGet, metricsPortOf, sample } from '../../helpers/metrics-scrape';
import { requireEnvironment } from '../../helpers/environment';
import { waitFor } from '../../helpers/wait';
import { freshDatabase, postgresForTests, postgresMissing } from '../../helpers/postgres';

jest.setTimeout(240_000);

const V = { major: 1, minor: 4 };
let root: string;
let pg: Awaited<ReturnType<typeof postgresForTests>> | undefined;
const servers: ServerProcess[] = [];
const clients: KmipTlsClient[] = [];

async function register(c: KmipTlsClient): Promise<string> {
  const answer = parseResponse(await c.request(requestMessage(V, [{ operation: Operation.Register, payload: registerAesPayload(randomBytes(32)) }])));
  return textOf(successPayload(answer), Tag.UniqueIdentifier)!;
}

async function startOnPostgres(name: string, extraArgs: string[] = []): Promise<{ server: ServerProcess; port: number }> {
  pg ??= await postgresForTests();
  const url = await freshDatabase(pg.adminUrl);
  const config = path.join(root, `${name}.json`);
  fs.writeFileSync(config, JSON.stringify({ metrics: { listen: '127.0.0.1:0' }, store: { engine: 'postgres', url, poolSize: 4 } }), { mode: 0o600 });
  const server = await startServerProcess({ dataDir: path.join(root, name), extraArgs: ['--config', config, ...extraArgs] });
  servers.push(server);
  return { server, port: metricsPortOf(server.output()) };
}

const pgDescribe = requireEnvironment('PostgreSQL (initdb, pg_ctl)', postgresMissing()).describe;

pgDescribe('object counts on PostgreSQL', () => {
  beforeAll(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-pg-metrics-'));
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    for (const s of servers) await s.stop();
    pg?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  test('one process counts the rows PostgreSQL holds', async () => {
    const { server, port } = await startOnPostgres('single');
    const c = await connectClient(server);
    clients.push(c);
    await register(c);
    await register(c);
    await waitFor('the two keys to be counted', async () => sample((await httpGet(port, '/metrics')).body, 'kmip_objects', { type: 'SymmetricKey', state: 'PreActive' }) === 2);
  });

  test('with two workers, the primary counts them once', async () => {
    const { server, port } = await startOnPostgres('workers', ['--workers', '2']);
    const mine: KmipTlsClient[] = [];
    for (let i = 0; i < 4; i++) mine.push(await connectClient(server));
    clients.push(...mine);
    for (const c of mine) await register(c);
    await waitFor('the four keys to be counted', async () => sample((await httpGet(port, '/metrics')).body, 'kmip_objects', { type: 'SymmetricKey', state: 'PreActive' }) === 4);
    expect(await httpGet(port, '/readyz')).toMatchObject({ status: 200 });
  });
});
