/**
 * The data dir names the current KEK (kek-current.json) and a real server process agrees: a data
 * dir of an earlier version (no file: the KEK labelled kmip-kek is current) gets the file at its
 * next start and serves every object; a file naming a KEK the token lacks, or a damaged file,
 * stops the start with one line naming it, and the token is left as it was (no KEK made).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { attribute } from '../../../src/client';
import { CryptographicAlgorithm, ObjectType } from '../../../src/spec/generated/enums';
import { CURRENT_KEK_FILE, currentKekId } from '../../../src/keys/kek-current';
import { clientFor, comparable, jsonOut, runCli } from '../../helpers/custody';
import { startServerProcess } from '../../helpers/server-process';

jest.setTimeout(300_000);

let root: string;
beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-kek-current-'));
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const keks = async (dataDir: string) => (jsonOut(await runCli(['kek', 'status', '--data-dir', dataDir, '--json'])) as unknown as { keks: { kekId: string; role: string; label: string }[] }).keks;

it('migrates a data dir of an earlier version at start, and refuses a file naming a KEK the token lacks', async () => {
  const dataDir = path.join(root, 'data');
  let server = await startServerProcess({ dataDir });
  let client = clientFor(server);
  const originals = new Map<string, string>();
  try {
    for (let i = 0; i < 5; i++) {
      const m = await client.create(ObjectType.SymmetricKey, [attribute('Cryptographic Algorithm', CryptographicAlgorithm.AES), attribute('Cryptographic Length', 256)]);
      originals.set(m.uniqueIdentifier, comparable((await client.get(m.uniqueIdentifier)).object));
    }
  } finally {
    client.close();
    expect(await server.stop()).toBe(0);
  }
  // The first start named the KEK it made, which carries the KEK label.
  const first = currentKekId(dataDir);
  expect(first).toMatch(/^[0-9a-f]{32}$/);
  expect(fs.statSync(path.join(dataDir, CURRENT_KEK_FILE)).mode & 0o777).toBe(0o600);
  expect(await keks(dataDir)).toEqual([expect.objectContaining({ kekId: first, role: 'current', label: 'kmip-kek' })]);

  // An earlier version's data dir: no file. Status already finds the current KEK by label.
  fs.rmSync(path.join(dataDir, CURRENT_KEK_FILE));
  expect(await keks(dataDir)).toEqual([expect.objectContaining({ kekId: first, role: 'current' })]);
  server = await startServerProcess({ dataDir });
  client = clientFor(server);
  try {
    expect(server.output()).toContain(`KEK ${first} named current in ${CURRENT_KEK_FILE}`);
    expect(currentKekId(dataDir)).toBe(first);
    for (const [id, want] of originals) expect(comparable((await client.get(id)).object)).toBe(want);
  } finally {
    client.close();
    expect(await server.stop()).toBe(0);
  }

  // A file naming a KEK the token does not hold: one line naming it, and no KEK is made in its place.
  const absent = crypto.randomBytes(16).toString('hex');
  fs.writeFileSync(path.join(dataDir, CURRENT_KEK_FILE), JSON.stringify({ kekId: absent, since: new Date().toISOString() }), { mode: 0o600 });
  await expect(startServerProcess({ dataDir })).rejects.toThrow(`the data dir names KEK ${absent} as current, but the token does not hold it`);
  // A damaged file: named, not silently replaced by the label rule.
  fs.writeFileSync(path.join(dataDir, CURRENT_KEK_FILE), '{"kekId": 12', { mode: 0o600 });
  await expect(startServerProcess({ dataDir })).rejects.toThrow(`${path.join(dataDir, CURRENT_KEK_FILE)} is not JSON`);
  fs.rmSync(path.join(dataDir, CURRENT_KEK_FILE));
  expect((await keks(dataDir)).map((k) => k.kekId)).toEqual([first]);
});
