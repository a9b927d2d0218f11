/**
 * `cryptoperiods` reloaded on SIGHUP (real server process, real TLS client): the configuration file
 * read again gives new keys the new rule from the next request on, the change is one
 * `config-reloaded` record in the audit trail, and a bad rule on reload keeps the rules in force
 * with one `reload failed` line naming the key.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { attribute, attributeValues, nameAttribute, type KmipClient } from '../../../src/client';
import { CryptographicAlgorithm, ObjectType } from '../../../src/spec/generated/enums';
import { clientFor } from '../../helpers/custody';
import { startServerProcess, type ServerProcess } from '../../helpers/server-process';
import { auditRecords, sighup } from '../../helpers/tls-attempt';

jest.setTimeout(180_000);

const DAY = 86400;
let root: string;
let configFile: string;
let server: ServerProcess;
let client: KmipClient;

const writeRules = (rules: unknown) => fs.writeFileSync(configFile, JSON.stringify({ cryptoperiods: rules }));

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-cryptoperiods-reload-'));
  configFile = path.join(root, 'config.json');
  writeRules([{ match: { objectType: 'Symmetric Key' }, deactivateAfter: 'P1Y' }]);
  server = await startServerProcess({ dataDir: path.join(root, 'data'), extraArgs: ['--config', configFile] });
  client = clientFor(server);
});

afterAll(async () => {
  client?.close();
  await server?.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

/** Days from now to the Deactivation Date a new AES key gets (rounded). */
async function newKeyDays(): Promise<number> {
  const { uniqueIdentifier } = await client.create(ObjectType.SymmetricKey, [
    attribute('Cryptographic Algorithm', CryptographicAlgorithm.AES),
    attribute('Cryptographic Length', 256),
    nameAttribute(`reload-${crypto.randomUUID()}`),
  ]);
  const [date] = attributeValues((await client.getAttributes(uniqueIdentifier)).attributes, 'Deactivation Date');
  return Math.round((Number(date as bigint) - Date.now() / 1000) / DAY);
}

it('applies a changed rule from the next request on, audits it once, and keeps the rules in force when the file is bad', async () => {
  expect(await newKeyDays()).toBe(365);

  writeRules([{ match: { objectType: 'Symmetric Key' }, deactivateAfter: 'P30D' }]);
  const line = await sighup(server);
  expect(line).toEqual(expect.objectContaining({ msg: 'reloaded', cryptoperiods: { rules: 1, changed: true } }));
  expect(await newKeyDays()).toBe(30);
  const reloaded = () => auditRecords(path.join(server.dataDir, 'audit.log')).filter((r) => r['event'] === 'config-reloaded');
  expect(reloaded()).toEqual([expect.objectContaining({ reason: 'cryptoperiods: 1 rules replaced by 1' })]);

  // The same file again: nothing changed, nothing audited.
  expect(await sighup(server)).toEqual(expect.objectContaining({ msg: 'reloaded', cryptoperiods: { rules: 1, changed: false } }));
  expect(reloaded()).toHaveLength(1);

  // A bad rule: one line naming its key; the 30-day rule stays in force.
  writeRules([{ match: { objectType: 'Symmetric Key' }, deactivateAfter: '30 days' }]);
  const failed = await sighup(server);
  expect(failed['msg']).toBe('reload failed');
  expect(String(failed['error'])).toContain('cryptoperiods[0].deactivateAfter');
  expect(String(failed['error'])).toContain('the cryptoperiods stay as they were (1 rules)');
  expect(server.child.exitCode).toBeNull();
  expect(await newKeyDays()).toBe(30);
  expect(reloaded()).toHaveLength(1);
});
