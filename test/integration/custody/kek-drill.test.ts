/**
 * The disaster drill of issue 15, item 3, end to end with real parts: a server (escrowable KEK on
 * its embedded SoftHSM2 token) holds 1,000 objects of every type; an online backup; the KEK escrowed
 * 3 of 5; the data dir and the token deleted; two shares refused; the KEK recovered from custodians
 * 1, 3 and 5 into a new SoftHSM2 token; the backup restored; every object reads back identical
 * through the client library from a server started on the new data dir.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { attribute, type KmipClient } from '../../../src/client';
import { encodeTtlv } from '../../../ttlv';
import { CryptographicAlgorithm, ObjectType } from '../../../src/spec/generated/enums';
import { clientFor, escrowableConfig, everyType, jsonOut, runCli } from '../../helpers/custody';
import { startServerProcess, type ServerProcess } from '../../helpers/server-process';
import { currentKekId } from '../../../src/keys/kek-current';

jest.setTimeout(900_000);

const TOTAL = 1000;

async function readAll(c: KmipClient, ids: readonly string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (let i = 0; i < ids.length; i += 50) {
    const got = await Promise.all(ids.slice(i, i + 50).map((id) => c.get(id)));
    for (const g of got) out.set(g.uniqueIdentifier, `${g.objectType}:${encodeTtlv(g.object).toString('hex')}`);
  }
  return out;
}

let root: string;
let server: ServerProcess | undefined;

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-kek-drill-'));
});

afterAll(async () => {
  await server?.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

it('the drill: backup, escrow 3 of 5, lose data dir and token, recover from shares 1, 3, 5 into a new token, restore: every object identical', async () => {
  const config = escrowableConfig(root);
  const first = path.join(root, 'first');
  server = await startServerProcess({ dataDir: first, extraArgs: ['--config', config] });
  let c = clientFor(server);
  const ids: string[] = [];
  let original: Map<string, string>;
  try {
    const der = new crypto.X509Certificate(fs.readFileSync(path.join(server.pkiDir, 'ca.pem'))).raw;
    while (ids.length + 44 <= TOTAL) ids.push(...(await Promise.all(Array.from({ length: 4 }, () => everyType(c, der)))).flat());
    while (ids.length < TOTAL) {
      ids.push((await c.create(ObjectType.SymmetricKey, [attribute('Cryptographic Algorithm', CryptographicAlgorithm.AES), attribute('Cryptographic Length', 128)])).uniqueIdentifier);
    }
    original = await readAll(c, ids);
  } finally {
    c.close();
  }
  expect(original.size).toBe(TOTAL);
  expect(new Set([...original.values()].map((v) => Number(v.split(':')[0])))).toEqual(
    new Set([ObjectType.SymmetricKey, ObjectType.PrivateKey, ObjectType.PublicKey, ObjectType.SecretData, ObjectType.OpaqueObject, ObjectType.Certificate, ObjectType.PGPKey, ObjectType.SplitKey]),
  );

  // Backup and escrow, both beside the running server.
  const backupFile = path.join(root, 'drill.kbak');
  const backup = await runCli(['backup', '--data-dir', first, '--config', config, '--out', backupFile, '--json']);
  expect(backup.code).toBe(0);
  expect(jsonOut(backup)['objects']).toBe(TOTAL);
  const sharesDir = path.join(root, 'shares');
  const escrow = await runCli(['kek', 'escrow', '--data-dir', first, '--config', config, '--shares', '5', '--threshold', '3', '--out', sharesDir, '--json']);
  expect(escrow.code).toBe(0);
  const kekId = jsonOut(escrow)['kekId'] as string;
  const share = (i: number) => path.join(sharesDir, `custodian-${i}-of-5.json`);
  for (let i = 1; i <= 5; i++) {
    expect(fs.statSync(share(i)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(fs.readFileSync(share(i), 'utf8'))).toMatchObject({ custodian: i, shares: 5, threshold: 3, kekId });
  }

  // The disaster: the data dir goes, with the store and the embedded token in it.
  await server.stop();
  server = undefined;
  fs.rmSync(first, { recursive: true, force: true });

  const second = path.join(root, 'second');
  const two = await runCli(['kek', 'recover', '--data-dir', second, '--config', config, '--share', share(1), '--share', share(3)]);
  expect(two.code).toBe(1);
  expect(two.stderr).toContain(`recovering KEK ${kekId} needs 3 of the 5`);

  const recovered = await runCli(['kek', 'recover', '--data-dir', second, '--config', config, '--share', share(1), '--share', share(3), '--share', share(5), '--json']);
  expect(recovered.stderr).toBe('');
  expect(recovered.code).toBe(0);
  const r = jsonOut(recovered);
  expect(r).toMatchObject({ kekId, custodians: [1, 3, 5], alreadyPresent: [] });
  // Nothing was written by the refused attempt: all three keys (KEK, index key, audit key) come now.
  expect((r['restored'] as { role: string }[]).map((k) => k.role)).toEqual(['kek', 'index', 'audit']);
  // The new data dir names the escrow's current KEK as its own.
  expect(currentKekId(second)).toBe(kekId);

  const restore = await runCli(['restore', '--in', backupFile, '--data-dir', second, '--config', config, '--json']);
  expect(restore.code).toBe(0);
  expect(jsonOut(restore)).toMatchObject({ objects: TOTAL, failed: [] });

  server = await startServerProcess({ dataDir: second, extraArgs: ['--config', config] });
  c = clientFor(server);
  try {
    expect(await readAll(c, ids)).toEqual(original);
  } finally {
    c.close();
  }
  const status = await runCli(['kek', 'status', '--data-dir', second, '--config', config, '--json']);
  expect(jsonOut(status)['keks']).toEqual([expect.objectContaining({ kekId, role: 'current', objects: TOTAL, escrowable: true })]);
});
