/**
 * `kmip-server backup` and `restore` as an operator runs them: a real server process on a real
 * SQLite store and SoftHSM2 token, the commands as child processes beside it, and every object
 * read back through the client library from a server started on the restored data dir.
 */
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { KmipClient, type TtlvItem } from '../../../src/client';
import { encodeTtlv } from '../../../ttlv';
import { ObjectType } from '../../../src/spec/generated/enums';
import { PROJECT_ROOT, startServerProcess, type ServerProcess } from '../../helpers/server-process';
import { everyType } from '../../helpers/custody';
import { devClient } from '../../helpers/dev-client';
import { currentKekId } from '../../../src/keys/kek-current';

jest.setTimeout(240_000);

const run = promisify(execFile);

/** Runs `kmip-server ARGS` from source; resolves with its exit code and output (never rejects). */
async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, ['-r', path.join(PROJECT_ROOT, 'scripts', 'register-ts.js'), path.join(PROJECT_ROOT, 'scripts', 'run-cli.ts'), ...args], { cwd: PROJECT_ROOT, maxBuffer: 64 << 20 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

function clientFor(server: ServerProcess): KmipClient {
  return devClient(server.port, server.pkiDir, { version: { major: 2, minor: 1 } });
}


/** One object of every type the server stores (the drill's round); returns their ids. */
function createEveryType(c: KmipClient, pkiDir: string): Promise<string[]> {
  return everyType(c, new crypto.X509Certificate(fs.readFileSync(path.join(pkiDir, 'ca.pem'))).raw);
}

/** Each object as Get returns it (type and the whole object's TTLV), by id. */
async function readAll(c: KmipClient, ids: readonly string[]): Promise<Map<string, { type: number; bytes: string }>> {
  const out = new Map<string, { type: number; bytes: string }>();
  for (const id of ids) {
    const got = await c.get(id);
    out.set(id, { type: got.objectType, bytes: encodeTtlv(got.object).toString('hex') });
  }
  return out;
}

/** Every byte string in the objects: key material, certificate and opaque values. */
function byteStrings(item: TtlvItem, found: Buffer[] = []): Buffer[] {
  if (Array.isArray(item.value)) for (const child of item.value as TtlvItem[]) byteStrings(child, found);
  else if (item.value instanceof Uint8Array && item.value.length >= 16) found.push(Buffer.from(item.value));
  return found;
}

let tmp: string;
let source: ServerProcess | undefined;
let restored: ServerProcess | undefined;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-custody-'));
});

afterAll(async () => {
  await source?.stop();
  await restored?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** The sha256 of each custody record of this action in a data dir's side trail. */
function custodySteps(dataDir: string, action: string): string[] {
  const file = path.join(dataDir, 'custody-audit.log');
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.includes(`"action":"${action}"`))
    .map((l) => (JSON.parse(l) as { sha256: string }).sha256);
}

describe('backup and restore', () => {
  let ids: string[];
  let original: Map<string, { type: number; bytes: string }>;
  let materials: Buffer[];
  let kekOfBackup: string;
  const backupFile = () => path.join(tmp, 'store.kbak');

  it('backs up a running server: object count, file digest, no plaintext key byte in the file', async () => {
    source = await startServerProcess({ dataDir: path.join(tmp, 'a') });
    const c = clientFor(source);
    try {
      ids = await createEveryType(c, source.pkiDir);
      original = await readAll(c, ids);
      materials = [];
      for (const id of ids) materials.push(...byteStrings((await c.get(id)).object));
    } finally {
      c.close();
    }
    expect(new Set([...original.values()].map((o) => o.type))).toEqual(
      new Set([ObjectType.SymmetricKey, ObjectType.PrivateKey, ObjectType.PublicKey, ObjectType.SecretData, ObjectType.OpaqueObject, ObjectType.Certificate, ObjectType.PGPKey, ObjectType.SplitKey]),
    );

    const r = await cli(['backup', '--data-dir', source.dataDir, '--out', backupFile(), '--json']);
    expect(r).toMatchObject({ code: 0 });
    const summary = JSON.parse(r.stdout.trim()) as { objects: number; sha256: string; backupKekId: string; kekInventory: { kekId: string; objects: number }[] };
    expect(summary.objects).toBe(ids.length);
    kekOfBackup = summary.backupKekId;
    expect(summary.kekInventory.map((k) => k.kekId)).toEqual([kekOfBackup]);
    // The data dir's current KEK is marked: a restore into a new data dir names it current there.
    expect(summary.kekInventory[0]).toMatchObject({ current: true });
    expect(currentKekId(source.dataDir)).toBe(kekOfBackup);
    const file = fs.readFileSync(backupFile());
    expect(summary.sha256).toBe(crypto.createHash('sha256').update(file).digest('hex'));
    expect(fs.statSync(backupFile()).mode & 0o777).toBe(0o600);
    expect(summary.kekInventory.reduce((n, k) => n + k.objects, 0)).toBe(ids.length);
    // Neither the key bytes nor the public values appear: the whole snapshot is encrypted.
    expect(materials.length).toBeGreaterThanOrEqual(ids.length);
    for (const m of materials) expect(file.indexOf(m)).toBe(-1);
    // The human summary names the count and the digest.
    const human = await cli(['backup', '--data-dir', source.dataDir, '--out', path.join(tmp, 'second.kbak')]);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain(`objects: ${ids.length}`);
    expect(human.stdout).toMatch(/sha256: [0-9a-f]{64}/);
    // Both backups are custody steps in the side trail, which verifies.
    expect(custodySteps(source.dataDir, 'backup')).toEqual([summary.sha256, expect.stringMatching(/^[0-9a-f]{64}$/)]);
    expect((await cli(['audit', 'verify', '--data-dir', source.dataDir, path.join(source.dataDir, 'custody-audit.log')])).code).toBe(0);
  });

  it('refuses a running server\'s data dir in one line, and a non-empty store without --force', async () => {
    const running = await cli(['restore', '--in', backupFile(), '--data-dir', source!.dataDir]);
    expect(running.code).toBe(1);
    expect(running.stderr.trim().split('\n')).toHaveLength(1);
    expect(running.stderr).toMatch(/in use by another server/);
    await source!.stop();
    const before = fs.statSync(path.join(source!.dataDir, 'kmip.sqlite'), { bigint: true }).mtimeNs;
    const full = await cli(['restore', '--in', backupFile(), '--data-dir', source!.dataDir]);
    expect(full.code).toBe(1);
    expect(full.stderr).toMatch(new RegExp(`holds ${ids.length} objects: restore replaces it only with --force`));
    expect(fs.statSync(path.join(source!.dataDir, 'kmip.sqlite'), { bigint: true }).mtimeNs).toBe(before);
  });

  it('refuses a tampered file before it writes anything', async () => {
    const dir = path.join(tmp, 'tampered');
    fs.mkdirSync(dir, { mode: 0o700 });
    fs.cpSync(path.join(tmp, 'a', 'softhsm'), path.join(dir, 'softhsm'), { recursive: true });
    const bad = Buffer.from(fs.readFileSync(backupFile()));
    bad[bad.length - 100] ^= 0x01;
    fs.writeFileSync(path.join(tmp, 'bad.kbak'), bad);
    const r = await cli(['restore', '--in', path.join(tmp, 'bad.kbak'), '--data-dir', dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/does not authenticate/);
    expect(fs.readdirSync(dir).filter((f) => f.startsWith('kmip.sqlite'))).toEqual([]);
    // A wrong --digest is refused before the token is even opened.
    const wrong = await cli(['restore', '--in', backupFile(), '--data-dir', dir, '--digest', '0'.repeat(64)]);
    expect(wrong.stderr).toMatch(/SHA-256 is [0-9a-f]{64}, not the/);
    expect(fs.readdirSync(dir).filter((f) => f.startsWith('kmip.sqlite'))).toEqual([]);
  });

  it('names the missing KEK and the escrow command when the token lacks it', async () => {
    const dir = path.join(tmp, 'no-kek');
    const r = await cli(['restore', '--in', backupFile(), '--data-dir', dir]);
    expect(r.code).toBe(1);
    const kekId = kekOfBackup;
    expect(r.stderr).toContain(kekId);
    expect(r.stderr).toContain('kmip-server kek recover --data-dir');
    expect(fs.existsSync(path.join(dir, 'kmip.sqlite'))).toBe(false);
    expect(fs.existsSync(path.join(dir, 'softhsm'))).toBe(false);
    // A token of another server's, without this backup's KEK: refused the same way, naming it.
    const foreign = path.join(tmp, 'foreign');
    await run(process.execPath, ['-r', path.join(PROJECT_ROOT, 'scripts', 'register-ts.js'), '-e', `require('./src/embedded').createEmbeddedCore(${JSON.stringify(foreign)}).then((e) => e.close())`], { cwd: PROJECT_ROOT });
    const other = await cli(['restore', '--in', backupFile(), '--data-dir', foreign]);
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(new RegExp(`does not hold KEK ${kekId}, which this backup needs: recover it from its escrow shares first: kmip-server kek recover`));
    expect(fs.existsSync(path.join(foreign, 'kmip.sqlite'))).toBe(true);
    expect(fs.readdirSync(foreign).filter((f) => f.startsWith('kmip.sqlite.restoring'))).toEqual([]);
  });

  it('restores into a new data dir with the token: every object reads back identical', async () => {
    const dir = path.join(tmp, 'b');
    fs.mkdirSync(dir, { mode: 0o700 });
    fs.cpSync(path.join(tmp, 'a', 'softhsm'), path.join(dir, 'softhsm'), { recursive: true });
    const digest = crypto.createHash('sha256').update(fs.readFileSync(backupFile())).digest('hex');
    const r = await cli(['restore', '--in', backupFile(), '--data-dir', dir, '--digest', digest, '--json']);
    expect(r).toMatchObject({ code: 0 });
    const summary = JSON.parse(r.stdout.trim()) as { objects: number; unwrapped: number; failed: unknown[] };
    expect(summary.objects).toBe(ids.length);
    expect(summary.failed).toEqual([]);
    expect(summary.unwrapped).toBeGreaterThanOrEqual(ids.length);
    expect(fs.statSync(path.join(dir, 'kmip.sqlite')).mode & 0o777).toBe(0o600);
    expect(currentKekId(dir)).toBe(kekOfBackup);

    restored = await startServerProcess({ dataDir: dir });
    const c = clientFor(restored);
    try {
      expect(await readAll(c, ids)).toEqual(original);
    } finally {
      c.close();
    }
    await restored.stop();
    // --force replaces a store that holds objects.
    const forced = await cli(['restore', '--in', backupFile(), '--data-dir', dir, '--force', '--json']);
    expect(forced.code).toBe(0);
    expect(JSON.parse(forced.stdout.trim())).toMatchObject({ objects: ids.length, replacedObjects: ids.length, failed: [] });
    expect(custodySteps(dir, 'restore')).toEqual([digest, digest]);
  });
});
