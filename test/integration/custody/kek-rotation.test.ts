/**
 * KEK rotation beside a real running server (real SoftHSM2 token, real SQLite store): Gets keep
 * succeeding while every object is re-wrapped and the server switches to the new KEK without a
 * restart; a rotation SIGKILLed at several points leaves no object unreadable and finishes when run
 * again; `kek retire` refuses a KEK still referenced and destroys it once it is not; every step is
 * in the custody audit trail, which `audit verify` accepts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { attribute, nameAttribute, type KmipClient } from '../../../src/client';
import { CryptographicAlgorithm, ObjectType } from '../../../src/spec/generated/enums';
import { clientFor, comparable, jsonOut, runCli, spawnCli } from '../../helpers/custody';
import { startServerProcess, type ServerProcess } from '../../helpers/server-process';
import crypto from 'node:crypto';
import { loadConfig } from '../../../src/config';
import { tokenProtectorConfig } from '../../../src/main';
import { ROTATION_FILE } from '../../../src/custody/rotation';
import { CustodyToken, retiredKekLabel } from '../../../src/custody/token';

jest.setTimeout(600_000);

let root: string;
let dataDir: string;
let server: ServerProcess;
let client: KmipClient;
const originals = new Map<string, string>();

const kek = (...args: string[]) => runCli(['kek', ...args, '--data-dir', dataDir, '--json']);

async function createKeys(n: number): Promise<void> {
  for (let i = 0; i < n; i += 25) {
    const made = await Promise.all(
      Array.from({ length: Math.min(25, n - i) }, (_, j) =>
        client.create(ObjectType.SymmetricKey, [attribute('Cryptographic Algorithm', CryptographicAlgorithm.AES), attribute('Cryptographic Length', 256), nameAttribute(`rot-${i + j}`)]),
      ),
    );
    for (const m of made) originals.set(m.uniqueIdentifier, comparable((await client.get(m.uniqueIdentifier)).object));
  }
}

/** Every object reads back identical through the running server; returns how many were checked. */
async function expectAllIdentical(): Promise<number> {
  const ids = [...originals.keys()];
  for (let i = 0; i < ids.length; i += 50) {
    const got = await Promise.all(ids.slice(i, i + 50).map((id) => client.get(id)));
    for (const g of got) expect(comparable(g.object)).toBe(originals.get(g.uniqueIdentifier));
  }
  return ids.length;
}

async function status(): Promise<{ keks: { kekId: string; role: string; objects: number }[] }> {
  const r = await kek('status');
  expect(r.code).toBe(0);
  return jsonOut(r) as unknown as { keks: { kekId: string; role: string; objects: number }[] };
}

/** Lines of the custody audit trail naming this action. */
function audited(action: string): number {
  const file = path.join(dataDir, 'custody-audit.log');
  if (!fs.existsSync(file)) return 0;
  return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.includes(`"action":"${action}"`)).length;
}

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-kek-rotation-'));
  dataDir = path.join(root, 'data');
  server = await startServerProcess({ dataDir });
  client = clientFor(server);
  await createKeys(300);
});

afterAll(async () => {
  client?.close();
  await server?.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

it('refuses to escrow a KEK that was not created escrowable, naming the HSM backup instead', async () => {
  const r = await kek('escrow', '--shares', '3', '--threshold', '2', '--out', path.join(root, 'shares'));
  expect(r.code).toBe(1);
  expect(r.stderr).toContain('was not created escrowable');
  expect(r.stderr).toContain("HSM's own backup");
  expect(fs.existsSync(path.join(root, 'shares'))).toBe(false);
});

it('re-wraps every object under a new KEK while Gets are in flight, then retires the old KEK once nothing needs it', async () => {
  const [before] = (await status()).keks;
  expect(before).toMatchObject({ role: 'current', objects: 300 });
  const oldKek = before!.kekId;

  // Refused while it is the current KEK (it protects every object).
  const early = await kek('retire', '--kek', oldKek);
  expect(early.code).toBe(1);
  expect(early.stderr).toContain('is the current KEK');

  let reading = true;
  let reads = 0;
  const readers = (async () => {
    const ids = [...originals.keys()];
    while (reading) {
      const id = ids[reads % ids.length]!;
      expect(comparable((await client.get(id)).object)).toBe(originals.get(id));
      reads++;
    }
  })();
  const rotated = await kek('rotate', '--batch', '25');
  reading = false;
  await readers;
  expect(rotated.code).toBe(0);
  const r = jsonOut(rotated);
  expect(r).toMatchObject({ fromKekId: oldKek, done: true, rewrapped: 300, remaining: 0, serverSwitched: [server.child.pid] });
  expect(reads).toBeGreaterThan(0);

  const after = (await status()).keks;
  expect(after.find((k) => k.kekId === oldKek)).toMatchObject({ role: 'earlier', objects: 0 });
  expect(after.find((k) => k.kekId === r['toKekId'])).toMatchObject({ role: 'current', objects: 300 });
  expect(await expectAllIdentical()).toBe(300);

  // The same server process, never restarted, now makes new objects under the new KEK.
  const created = await client.create(ObjectType.SymmetricKey, [attribute('Cryptographic Algorithm', CryptographicAlgorithm.AES), attribute('Cryptographic Length', 256)]);
  originals.set(created.uniqueIdentifier, comparable((await client.get(created.uniqueIdentifier)).object));
  expect((await status()).keks.find((k) => k.kekId === r['toKekId'])).toMatchObject({ objects: 301 });

  const retired = await kek('retire', '--kek', oldKek);
  expect(retired.code).toBe(0);
  expect((await status()).keks.map((k) => k.kekId)).not.toContain(oldKek);
  expect(await expectAllIdentical()).toBe(301);
  expect(audited('kek-rotate-done')).toBe(1);
  expect(audited('kek-retire')).toBe(1);
  // The refusal before it is in the trail too.
  expect(audited('kek-retire-refused')).toBe(1);
  expect(audited('kek-rotate-server-switched')).toBe(1);
});

it('survives SIGKILLs at several points of a rotation: nothing unreadable, and a rerun finishes it', async () => {
  const [start] = (await status()).keks.filter((k) => k.role === 'current');
  const fromKek = start!.kekId;
  const auditFile = path.join(dataDir, 'custody-audit.log');
  // Killed after these audited steps: the new KEK made (before or at the switch), one batch, several batches.
  const killPoints: [string, number][] = [
    ['kek-rotate-created', audited('kek-rotate-created') + 1],
    ['kek-rewrap-batch', audited('kek-rewrap-batch') + 1],
    ['kek-rewrap-batch', audited('kek-rewrap-batch') + 4],
  ];
  for (const [action, count] of killPoints) {
    const run = spawnCli(['kek', 'rotate', '--batch', '10', '--data-dir', dataDir, '--json']);
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        const lines = fs.existsSync(auditFile) ? fs.readFileSync(auditFile, 'utf8').split('\n').filter((l) => l.includes(`"action":"${action}"`)).length : 0;
        if (lines >= count) {
          clearInterval(timer);
          run.child.kill('SIGKILL');
          resolve();
        }
      }, 5);
      run.done.then((res) => {
        clearInterval(timer);
        if (res.signal === null) reject(new Error(`rotation ended before the kill point ${action}: ${res.stdout} ${res.stderr}`));
      }, reject);
    });
    expect((await run.done).signal).toBe('SIGKILL');
    // Zero objects unreadable, whichever KEK each row names now.
    expect(await expectAllIdentical()).toBe(301);
  }
  const mid = (await status()).keks;
  const stillOld = mid.find((k) => k.kekId === fromKek);
  expect(stillOld?.objects).toBeGreaterThan(0);
  const refused = await kek('retire', '--kek', fromKek);
  expect(refused.code).toBe(1);
  expect(refused.stderr).toMatch(/unfinished rotation|still protects/);

  const finish = await kek('rotate');
  expect(finish.code).toBe(0);
  expect(jsonOut(finish)).toMatchObject({ fromKekId: fromKek, resumed: true, done: true, remaining: 0 });
  const end = (await status()).keks;
  expect(end.find((k) => k.kekId === fromKek)).toMatchObject({ objects: 0 });
  expect(end.find((k) => k.role === 'current')).toMatchObject({ objects: 301 });
  expect(end.filter((k) => k.role === 'next')).toEqual([]);
  expect(await expectAllIdentical()).toBe(301);

  const verify = await runCli(['audit', 'verify', auditFile, '--data-dir', dataDir]);
  expect(verify.stdout).toContain('audit trail intact');
  expect(verify.code).toBe(0);
});

it('makes the new KEK again when a cut label move lost it, and finishes the rotation', async () => {
  const [start] = (await status()).keks.filter((k) => k.role === 'current');
  const fromKek = start!.kekId;
  // The state a kill leaves when SoftHSM2 lost the new KEK's file while its label was being set:
  // the rotation saved at `switch`, the old KEK already under its retired label, no new KEK on the token.
  const lostKek = crypto.randomBytes(16).toString('hex');
  fs.writeFileSync(
    path.join(dataDir, ROTATION_FILE),
    JSON.stringify({ fromKekId: fromKek, toKekId: lostKek, phase: 'switch', startedAt: new Date().toISOString(), rewrapped: 0 }),
    { mode: 0o600 },
  );
  const token = await CustodyToken.open(tokenProtectorConfig(loadConfig({ dataDir }), { mayCreateToken: false }));
  try {
    const [old] = token.find({ id: fromKek });
    token.setLabel(old!.handle, retiredKekLabel(token.config.kekLabel, fromKek));
    expect(token.one(token.config.kekLabel)).toBeUndefined();
  } finally {
    await token.close();
  }

  const r = await kek('rotate');
  expect(r.code).toBe(0);
  const result = jsonOut(r);
  expect(result).toMatchObject({ fromKekId: fromKek, resumed: true, done: true, remaining: 0 });
  expect(result['toKekId']).not.toBe(lostKek);
  const keks = (await status()).keks;
  expect(keks.find((k) => k.role === 'current')).toMatchObject({ kekId: result['toKekId'], objects: originals.size });
  expect(keks.map((k) => k.kekId)).not.toContain(lostKek);
  expect(await expectAllIdentical()).toBe(originals.size);
  const resume = fs.readFileSync(path.join(dataDir, 'custody-audit.log'), 'utf8').split('\n').filter((l) => l.includes('"action":"kek-rotate-resume"')).pop()!;
  expect((JSON.parse(resume) as { remade: string[] }).remade).toEqual([lostKek]);
});
