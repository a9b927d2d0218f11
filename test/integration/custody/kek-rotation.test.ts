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
import { tokenProtectorConfig } from '../../../src/server-hsm';
import { ROTATION_FILE } from '../../../src/custody/rotation';
import { CustodyToken } from '../../../src/custody/token';
import { CURRENT_KEK_FILE, currentKekId } from '../../../src/keys/kek-current';
import * as pkcs11js from 'pkcs11js';

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

/** SHA-256 of every key object file of the data dir's SoftHSM2 token (token.object, the token's own record, aside). */
function tokenObjectFiles(): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.object') && e.name !== 'token.object') out.set(p, crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex'));
    }
  };
  walk(path.join(dataDir, 'softhsm'));
  return out;
}

it('never changes a KEK on the token: SIGKILLs inside the switch (where labels used to move) lose nothing, a rerun finishes, a restarted server agrees', async () => {
  const [start] = (await status()).keks.filter((k) => k.role === 'current');
  const fromKek = start!.kekId;
  expect(currentKekId(dataDir)).toBe(fromKek);
  const before = tokenObjectFiles();
  expect(before.size).toBeGreaterThan(0);

  const pausedRun = async (point: string) => {
    const run = spawnCli(['kek', 'rotate', '--batch', '10', '--data-dir', dataDir, '--json'], { KMIP_SERVER_TEST_PAUSE: point });
    await new Promise<void>((resolve, reject) => {
      // The pause point says so on stderr, then waits there: the kill lands inside the window.
      let seen = '';
      run.child.stderr!.on('data', (d: Buffer) => {
        seen += d.toString();
        if (seen.includes(`paused at ${point}`)) {
          run.child.kill('SIGKILL');
          resolve();
        }
      });
      run.done.then((res) => {
        if (res.signal === null) reject(new Error(`rotation ended before the pause point ${point}: ${res.stdout} ${res.stderr}`));
      }, reject);
    });
    expect((await run.done).signal).toBe('SIGKILL');
  };

  // Killed with the new KEK made but not yet current: the old KEK is still current.
  await pausedRun('kek-switch');
  expect(currentKekId(dataDir)).toBe(fromKek);
  expect(await expectAllIdentical()).toBe(originals.size);
  // Killed with the new KEK just named current, the rotation's state not yet saved past `switch`.
  await pausedRun('kek-switched');
  const toKek = currentKekId(dataDir);
  expect(toKek).not.toBe(fromKek);
  expect(await expectAllIdentical()).toBe(originals.size);
  // Every key file the token held before is byte for byte as it was: no KEK was ever rewritten.
  const during = tokenObjectFiles();
  for (const [file, digest] of before) expect(during.get(file)).toBe(digest);

  const finish = await kek('rotate');
  expect(finish.code).toBe(0);
  expect(jsonOut(finish)).toMatchObject({ fromKekId: fromKek, toKekId: toKek, resumed: true, done: true, remaining: 0, serverSwitched: [server.child.pid] });
  expect(await expectAllIdentical()).toBe(originals.size);
  const after = tokenObjectFiles();
  for (const [file, digest] of before) expect(after.get(file)).toBe(digest);
  // The new KEK keeps the label it was made with; the old one keeps its own.
  const keks = (await status()).keks as { kekId: string; role: string; objects: number; label?: string }[];
  expect(keks.find((k) => k.kekId === toKek)).toMatchObject({ role: 'current', objects: originals.size, label: `kmip-kek.${toKek}` });
  expect(keks.find((k) => k.kekId === fromKek)).toMatchObject({ role: 'earlier', objects: 0 });

  // A server started now finds the current KEK the data dir names (not by label) and makes new objects under it.
  client.close();
  expect(await server.stop()).toBe(0);
  server = await startServerProcess({ dataDir });
  client = clientFor(server);
  expect(await expectAllIdentical()).toBe(originals.size);
  const created = await client.create(ObjectType.SymmetricKey, [attribute('Cryptographic Algorithm', CryptographicAlgorithm.AES), attribute('Cryptographic Length', 256)]);
  originals.set(created.uniqueIdentifier, comparable((await client.get(created.uniqueIdentifier)).object));
  expect((await status()).keks.find((k) => k.kekId === toKek)).toMatchObject({ objects: originals.size });
  expect((await kek('retire', '--kek', fromKek)).code).toBe(0);
  expect(await expectAllIdentical()).toBe(originals.size);
});

it('settles a data dir of an earlier version whose label move a kill cut (new KEK lost): names the old KEK current, makes the new one again, finishes', async () => {
  const [start] = (await status()).keks.filter((k) => k.role === 'current');
  const fromKek = start!.kekId;
  // The state an earlier version (current KEK = the one labelled as KEK, rotations moved labels)
  // left when a kill cut its label move and SoftHSM2 lost the new KEK's file: the rotation saved
  // at `switch`, the old KEK already under its retired label, no new KEK, no kek-current.json.
  fs.rmSync(path.join(dataDir, CURRENT_KEK_FILE));
  const lostKek = crypto.randomBytes(16).toString('hex');
  fs.writeFileSync(
    path.join(dataDir, ROTATION_FILE),
    JSON.stringify({ fromKekId: fromKek, toKekId: lostKek, phase: 'switch', startedAt: new Date().toISOString(), rewrapped: 0 }),
    { mode: 0o600 },
  );
  const token = await CustodyToken.open(tokenProtectorConfig(loadConfig({ dataDir }), { mayCreateToken: false }));
  try {
    const [old] = token.find({ id: fromKek });
    // Only the earlier version changed labels; done here by hand to make its state.
    token.lib.C_SetAttributeValue(token.session, old!.handle, [{ type: pkcs11js.CKA_LABEL, value: `${token.config.kekLabel}.old.${fromKek}` }]);
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
  expect(currentKekId(dataDir)).toBe(result['toKekId']);
});
