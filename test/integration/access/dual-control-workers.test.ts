/**
 * Dual control with `--workers 2`: requests wait in the store, so a Poll answered by either worker
 * process finds them, and an approved request polled from several connections at once runs exactly
 * once (the store's compare-and-set claims it): one Poll gets its result, the others Operation
 * Pending or the result status it left, never a second run.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KmipClient, attribute, ttlv, type ProtocolVersion } from '../../../src/client';
import { encodeRequest, decodeResponse } from '../../../src/client/messages';
import { AsynchronousIndicator, CryptographicAlgorithm, CryptographicUsageMask, ObjectType, Operation, ResultStatus } from '../../../src/spec/generated/enums';
import { Tag } from '../../../src/spec/generated/tags';
import { issueClientCertificate } from '../../../src/pki/dev-pki';
import { startServerProcess, type ServerProcess } from '../../helpers/server-process';
import { jsonOut, runCli } from '../../helpers/custody';

jest.setTimeout(300_000);

const V21: ProtocolVersion = { major: 2, minor: 1 };
let root: string;
let dataDir: string;
let configFile: string;
let server: ServerProcess;
const clients: KmipClient[] = [];

function clientAs(cn: string): KmipClient {
  const dir = path.join(root, 'certs');
  if (!fs.existsSync(path.join(dir, `${cn}.pem`))) issueClientCertificate(path.join(dataDir, 'pki'), cn, dir, { fileBase: cn });
  // One connection per client: separate clients are dealt to the workers in turn.
  const c = new KmipClient({ servers: [`127.0.0.1:${server.port}`], servername: 'localhost', ca: fs.readFileSync(path.join(dataDir, 'pki', 'ca.pem')), cert: fs.readFileSync(path.join(dir, `${cn}.pem`)), key: fs.readFileSync(path.join(dir, `${cn}-key.pem`)), version: V21, maxConnections: 1 });
  clients.push(c);
  return c;
}

async function send(c: KmipClient, operation: number, payload: Parameters<typeof ttlv.structure>[1], asynchronous: boolean) {
  const header = asynchronous ? [ttlv.enumeration(Tag.AsynchronousIndicator, AsynchronousIndicator.Optional)] : [];
  return decodeResponse(await c.sendMessage(encodeRequest(V21, [{ operation, payload }], { header }))).items[0]!;
}

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-dual-workers-'));
  dataDir = path.join(root, 'data');
  const policyFile = path.join(root, 'policy.json');
  fs.writeFileSync(policyFile, JSON.stringify({ roles: { securityOfficer: ['dave'] }, dualControl: [{ operations: ['Destroy'] }] }));
  configFile = path.join(root, 'config.json');
  fs.writeFileSync(configFile, JSON.stringify({ accessPolicy: policyFile }));
  server = await startServerProcess({ dataDir, extraArgs: ['--config', configFile, '--workers', '2'] });
});

afterAll(async () => {
  for (const c of clients) c.close();
  await server?.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

test('any worker answers the Poll; of eight concurrent Polls of an approved Destroy, one runs it', async () => {
  const alice = clientAs('alice');
  const created = await alice.create(ObjectType.SymmetricKey, [
    attribute('Cryptographic Algorithm', CryptographicAlgorithm.AES),
    attribute('Cryptographic Length', 128),
    attribute('Cryptographic Usage Mask', CryptographicUsageMask.Encrypt),
  ]);
  const uid = ttlv.textString(Tag.UniqueIdentifier, created.uniqueIdentifier);
  const held = await send(alice, Operation.Destroy, [uid], true);
  expect(held.status).toBe(ResultStatus.OperationPending);
  const acv = [ttlv.byteString(Tag.AsynchronousCorrelationValue, Buffer.from(held.asyncCorrelationValue!))];
  const pollers = Array.from({ length: 8 }, () => clientAs('alice'));
  for (const p of pollers) expect((await send(p, Operation.Poll, acv, false)).status).toBe(ResultStatus.OperationPending);
  const list = jsonOut(await runCli(['approve', 'list', '--json', '--data-dir', dataDir, '--config', configFile])) as { approvals: { id: string }[] };
  expect((await runCli(['approve', list.approvals[0]!.id, '--as', 'dave', '--data-dir', dataDir, '--config', configFile])).code).toBe(0);
  const answers = await Promise.all(pollers.map((p) => send(p, Operation.Poll, acv, false)));
  const withPayload = answers.filter((a) => a.status === ResultStatus.Success && a.payload?.some((x) => x.tag === Tag.UniqueIdentifier));
  expect(withPayload).toHaveLength(1);
  for (const a of answers) expect([ResultStatus.Success, ResultStatus.OperationPending]).toContain(a.status);
  // The one run is in the trail once.
  await new Promise((r) => setTimeout(r, 200));
  const runs = fs.readFileSync(path.join(dataDir, 'audit.log'), 'utf8').split('\n').filter((l) => l.includes('"approvedBy":"dave"') && l.includes('"operation":"Destroy"'));
  expect(runs).toHaveLength(1);
});
