/**
 * With several worker processes exactly one runs the lifecycle scheduler (the primary gives the
 * role to one worker, and to its replacement when it dies): a date is acted on once, by the real
 * clock, in a real server process with its embedded SoftHSM2 token and SQLite file.
 */
import fs from 'node:fs';
import path from 'node:path';
import { CryptographicAlgorithm, ObjectType, State } from '../../../src/spec/generated/enums';
import { KmipClient, attribute, nameAttribute } from '../../../src/client';
import type { AuditRecord } from '../../../src/audit/audit-log';
import { processEnded, startServerProcess, workerPids, type ServerProcess } from '../../helpers/server-process';
import { devClient } from '../../helpers/dev-client';

jest.setTimeout(240_000);

let server: ServerProcess;
let client: KmipClient;

beforeAll(async () => {
  server = await startServerProcess({ extraArgs: ['--workers', '2'] });
  client = newClient();
});

afterAll(async () => {
  client?.close();
  await server?.stop();
  if (server) fs.rmSync(server.dataDir, { recursive: true, force: true });
});

function newClient(): KmipClient {
  return devClient(server.port, server.pkiDir);
}

async function until(what: string, probe: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n${server.output()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function scheduledFor(uid: string): AuditRecord[] {
  return fs
    .readFileSync(path.join(server.dataDir, 'audit.log'), 'utf8')
    .split('\n')
    .filter((l) => l.includes('"scheduled"') && l.includes(uid))
    .map((l) => JSON.parse(l) as AuditRecord);
}

/** A key whose Activation Date is 2 s away; resolves once Locate finds it Active, without reading it. */
async function activatedOnce(name: string, timeoutMs = 30_000): Promise<void> {
  const activation = new Date(Math.ceil(Date.now() / 1000) * 1000 + 2000);
  const created = await client
    .create(ObjectType.SymmetricKey, [
      attribute('Cryptographic Algorithm', CryptographicAlgorithm.AES),
      attribute('Cryptographic Length', 128),
      nameAttribute(name),
      attribute('Activation Date', activation),
    ])
    .catch((e: Error) => {
      // What the server's processes said, and its audit trail's last lines, name the cause.
      const trail = fs.readFileSync(path.join(server.dataDir, 'audit.log'), 'utf8').trim().split('\n').slice(-5).join('\n');
      throw new Error(`${e.message}\n--- server output\n${server.output()}\n--- audit trail, last lines\n${trail}`);
    });
  const uid = created.uniqueIdentifier;
  await until(`${name} Active`, async () => (await client.locate([nameAttribute(name), attribute('State', State.Active)])).uniqueIdentifiers.length === 1, timeoutMs);
  expect(Date.now()).toBeGreaterThanOrEqual(activation.getTime());
  // The audit file is the primary's: the worker's record reaches it shortly after the write.
  await until(`${name}'s audit record`, async () => scheduledFor(uid).length > 0);
  await new Promise((r) => setTimeout(r, 1500));
  expect(scheduledFor(uid).map((r) => r.operation)).toEqual(['Activation Date reached']);
}

it('one worker acts on a date, once', async () => {
  await activatedOnce('workers-1');
});

/** Whether a worker process was given the scheduler's role (its environment, as the primary forked it). */
function hasRole(pid: number): boolean {
  return fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes('KMIP_SERVER_SCHEDULER=1');
}

it('the role passes to the worker that replaces the scheduling one, and only to it', async () => {
  const before = workerPids(server);
  expect(before.filter(hasRole)).toHaveLength(1);
  const [victim] = before.filter(hasRole);
  process.kill(victim!, 'SIGKILL');
  await until('the scheduling worker replaced', async () => processEnded(victim!) && workerPids(server).filter((p) => !before.includes(p)).length === 1, 90_000);
  const after = workerPids(server);
  const [replacement] = after.filter((p) => !before.includes(p));
  expect(after.filter(hasRole)).toEqual([replacement]);
  // The client's connection may have been the killed worker's, and this process may not have read
  // its close yet (the replacement can be up before the loop turns): a Create sent on it fails, as
  // it should, unsent again. A client whose server died reconnects: so does this one.
  client.close();
  client = newClient();
  // The replacement starts its scheduler once it has opened the store: give it time on a loaded machine.
  await activatedOnce('workers-2', 90_000);
});
