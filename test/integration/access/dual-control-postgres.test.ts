/**
 * Dual control on the PostgreSQL engine, through a real server process and `kmip-server approve`
 * beside it: a held Destroy is a row in PostgreSQL's approvals table (no SQLite store is made), the
 * command lists and decides it from the database the configuration names, the requester's Poll runs
 * it as the requester, a restart keeps a request still pending, the requester cannot decide it, and
 * a denial is answered at the Poll.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { KmipClient, attribute, ttlv, type ProtocolVersion } from '../../../src/client';
import { encodeRequest, decodeResponse } from '../../../src/client/messages';
import { AsynchronousIndicator, CryptographicAlgorithm, CryptographicUsageMask, ObjectType, Operation, ResultStatus } from '../../../src/spec/generated/enums';
import { Tag } from '../../../src/spec/generated/tags';
import { issueClientCertificate } from '../../../src/pki/dev-pki';
import { STORE_FILE } from '../../../src/config';
import { requireEnvironment } from '../../helpers/environment';
import { freshDatabase, postgresForTests, postgresMissing } from '../../helpers/postgres';
import { startServerProcess, type ServerProcess } from '../../helpers/server-process';
import { jsonOut, runCli } from '../../helpers/custody';

jest.setTimeout(300_000);

const V21: ProtocolVersion = { major: 2, minor: 1 };
let root: string;
let dataDir: string;
let configFile: string;
let url: string;
let server: ServerProcess | undefined;
let pg: Awaited<ReturnType<typeof postgresForTests>> | undefined;
const clients: KmipClient[] = [];

function clientAs(cn: string): KmipClient {
  const dir = path.join(root, 'certs');
  if (!fs.existsSync(path.join(dir, `${cn}.pem`))) issueClientCertificate(path.join(dataDir, 'pki'), cn, dir, { fileBase: cn });
  const c = new KmipClient({ servers: [`127.0.0.1:${server!.port}`], servername: 'localhost', ca: fs.readFileSync(path.join(dataDir, 'pki', 'ca.pem')), cert: fs.readFileSync(path.join(dir, `${cn}.pem`)), key: fs.readFileSync(path.join(dir, `${cn}-key.pem`)), version: V21 });
  clients.push(c);
  return c;
}

async function send(c: KmipClient, operation: number, payload: Parameters<typeof ttlv.structure>[1], asynchronous: boolean) {
  const header = asynchronous ? [ttlv.enumeration(Tag.AsynchronousIndicator, AsynchronousIndicator.Optional)] : [];
  return decodeResponse(await c.sendMessage(encodeRequest(V21, [{ operation, payload }], { header }))).items[0]!;
}

async function approvalRows(): Promise<{ id: string; requester: string; operation: string; uid: string; state: string; decided_by: string | null }[]> {
  const db = new Client({ connectionString: url });
  await db.connect();
  try {
    return (await db.query('SELECT id, requester, operation, uid, state, decided_by FROM approvals ORDER BY created_at')).rows;
  } finally {
    await db.end();
  }
}

const approve = (args: string[]) => runCli(['approve', ...args, '--data-dir', dataDir, '--config', configFile]);

async function heldDestroy(alice: KmipClient): Promise<{ uid: string; acv: ReturnType<typeof ttlv.byteString>[] }> {
  const created = await alice.create(ObjectType.SymmetricKey, [
    attribute('Cryptographic Algorithm', CryptographicAlgorithm.AES),
    attribute('Cryptographic Length', 128),
    attribute('Cryptographic Usage Mask', CryptographicUsageMask.Encrypt),
  ]);
  const held = await send(alice, Operation.Destroy, [ttlv.textString(Tag.UniqueIdentifier, created.uniqueIdentifier)], true);
  expect(held.status).toBe(ResultStatus.OperationPending);
  return { uid: created.uniqueIdentifier, acv: [ttlv.byteString(Tag.AsynchronousCorrelationValue, Buffer.from(held.asyncCorrelationValue!))] };
}

const pgDescribe = requireEnvironment('PostgreSQL (initdb, pg_ctl)', postgresMissing()).describe;

pgDescribe('dual control on PostgreSQL', () => {
  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-dual-pg-'));
    dataDir = path.join(root, 'data');
    pg = await postgresForTests();
    url = await freshDatabase(pg.adminUrl);
    const policyFile = path.join(root, 'policy.json');
    fs.writeFileSync(policyFile, JSON.stringify({ roles: { securityOfficer: ['dave', 'carol'] }, dualControl: [{ operations: ['Destroy'] }] }));
    configFile = path.join(root, 'config.json');
    fs.writeFileSync(configFile, JSON.stringify({ accessPolicy: policyFile, store: { engine: 'postgres', url, poolSize: 4 } }), { mode: 0o600 });
    server = await startServerProcess({ dataDir, extraArgs: ['--config', configFile] });
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    await server?.stop();
    pg?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  test('held in PostgreSQL, decided by the approve command, run at the Poll; a restart keeps a pending one; a denial answers the Poll', async () => {
    const alice = clientAs('alice');
    const first = await heldDestroy(alice);
    // The request is PostgreSQL's row; the embedded store was never made.
    const rows = await approvalRows();
    expect(rows).toEqual([expect.objectContaining({ requester: 'alice', operation: 'Destroy', uid: first.uid, state: 'pending', decided_by: null })]);
    expect(fs.existsSync(path.join(dataDir, STORE_FILE))).toBe(false);
    const id = rows[0]!.id;
    const listed = jsonOut(await approve(['list', '--json'])) as { approvals: { id: string }[] };
    expect(listed.approvals.map((a) => a.id)).toEqual([id]);

    // The requester, no officer, cannot decide it.
    const own = await approve([id, '--as', 'alice']);
    expect(own.code).not.toBe(0);
    expect(own.stderr).toMatch(/alice is not a security officer/);
    expect((await send(alice, Operation.Poll, first.acv, false)).status).toBe(ResultStatus.OperationPending);

    // A restart keeps the pending request (it is in the database, not in the process).
    await server!.stop();
    server = await startServerProcess({ dataDir, extraArgs: ['--config', configFile] });
    const again = clientAs('alice');
    expect((await send(again, Operation.Poll, first.acv, false)).status).toBe(ResultStatus.OperationPending);

    expect((await approve([id, '--as', 'dave'])).code).toBe(0);
    const ran = await send(again, Operation.Poll, first.acv, false);
    expect(ran.status).toBe(ResultStatus.Success);
    expect(ran.payload?.find((x) => x.tag === Tag.UniqueIdentifier)?.value).toBe(first.uid);
    expect((await approvalRows()).find((r) => r.id === id)).toMatchObject({ state: 'done', decided_by: 'dave' });
    // It ran: the key is gone for its owner.
    await expect(again.get(first.uid)).rejects.toThrow();

    const second = await heldDestroy(again);
    const secondId = (await approvalRows()).find((r) => r.uid === second.uid)!.id;
    expect((await approve([secondId, '--as', 'dave', '--deny'])).code).toBe(0);
    const denied = await send(again, Operation.Poll, second.acv, false);
    expect(denied.status).toBe(ResultStatus.OperationFailed);
    expect((await again.get(second.uid)).uniqueIdentifier).toBe(second.uid);
    expect((await approvalRows()).find((r) => r.id === secondId)).toMatchObject({ state: 'denied', decided_by: 'dave' });
  });
});
