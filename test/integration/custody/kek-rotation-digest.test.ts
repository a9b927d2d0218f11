/**
 * `kmip-server kek rotate` on a store holding a destroyed key: Destroy keeps the key's Digest
 * sealed under the binding `${uid}\0Digest` (objects/digest-index.ts sealBinding), and rotation
 * must re-wrap it under that same binding. It once used the bare identifier, so any such store
 * failed the rotation with "protected key material does not authenticate".
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { attribute, attributeValues, type KmipClient } from '../../../src/client';
import { CryptographicAlgorithm, ObjectType, State } from '../../../src/spec/generated/enums';
import { clientFor, jsonOut, runCli } from '../../helpers/custody';
import { startServerProcess, type ServerProcess } from '../../helpers/server-process';

jest.setTimeout(300_000);

let root: string;
let server: ServerProcess;
let client: KmipClient;

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-kek-digest-'));
  server = await startServerProcess({ dataDir: path.join(root, 'data') });
  client = clientFor(server);
});

afterAll(async () => {
  client?.close();
  await server?.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

test('a destroyed key\'s sealed Digest is re-wrapped by kek rotate and still reads after the old KEK is retired', async () => {
  const dataDir = path.join(root, 'data');
  const make = () => client.create(ObjectType.SymmetricKey, [attribute('Cryptographic Algorithm', CryptographicAlgorithm.AES), attribute('Cryptographic Length', 256)]);
  const kept = (await make()).uniqueIdentifier;
  const gone = (await make()).uniqueIdentifier;
  const digestBefore = attributeValues((await client.getAttributes(gone, ['Digest'])).attributes, 'Digest');
  expect(digestBefore).toHaveLength(1);
  await client.destroy(gone);

  const rotated = await runCli(['kek', 'rotate', '--data-dir', dataDir, '--json']);
  expect(rotated.stderr).toBe('');
  expect(rotated.code).toBe(0);
  const oldKek = jsonOut(rotated)['fromKekId'] as string;
  const retired = await runCli(['kek', 'retire', '--kek', oldKek, '--data-dir', dataDir, '--json']);
  expect(retired.stderr).toBe('');
  expect(retired.code).toBe(0);

  const after = (await client.getAttributes(gone, ['Digest', 'State'])).attributes;
  expect(attributeValues(after, 'State')).toEqual([State.Destroyed]);
  expect(attributeValues(after, 'Digest')).toEqual(digestBefore);
  expect((await client.get(kept)).objectType).toBe(ObjectType.SymmetricKey);
});
