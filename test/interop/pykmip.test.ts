/**
 * Debian's PyKMIP client (/usr/bin/python3, python3-pykmip) against our server started by its own
 * command line, over real mutual TLS with the dev PKI the first start creates.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ok, runPyKmip, useServerProcess } from '../helpers/pykmip';

const SCRIPT = path.join(__dirname, 'pykmip_client.py');
const server = useServerProcess();

const runScenario = (version: string, scenario: string) => runPyKmip(SCRIPT, server(), [version, scenario]);

describe.each(['1.2', '1.4'])('PyKMIP client, KMIP %s', (version) => {
  test('create, get, get attributes, attribute list, locate, activate, revoke, destroy', async () => {
    const steps = await runScenario(version, 'lifecycle');
    const uid = ok(steps, 'create') as string;
    expect(uid).toMatch(/^[0-9a-f-]{36}$/);
    const keyHex = ok(steps, 'get') as string;
    expect(keyHex.length).toBe(64);
    // Neither the store (with its WAL) nor the audit log holds the key's bytes.
    const key = Buffer.from(keyHex, 'hex');
    const files = fs.readdirSync(server().dataDir).filter((f) => f.startsWith('kmip.sqlite') || f === 'audit.log');
    expect(files).toEqual(expect.arrayContaining(['kmip.sqlite', 'audit.log']));
    for (const f of files) {
      const bytes = fs.readFileSync(path.join(server().dataDir, f));
      expect(bytes.includes(key)).toBe(false);
      expect(bytes.includes(Buffer.from(keyHex))).toBe(false);
    }
    expect(ok(steps, 'get_attributes')).toEqual(['Cryptographic Algorithm', 'Cryptographic Length', 'State']);
    expect(ok(steps, 'get_attribute_list')).toEqual(expect.arrayContaining(['Cryptographic Algorithm', 'Name', 'State', 'Unique Identifier']));
    expect(ok(steps, 'locate')).toContain(uid);
    ok(steps, 'activate');
    expect(ok(steps, 'state_after_activate')).toBe('ACTIVE');
    ok(steps, 'revoke');
    ok(steps, 'destroy');
    expect(steps.get('get_destroyed')!.ok).toBe(false);
  });

  test('modify and delete an attribute', async () => {
    const steps = await runScenario(version, 'attributes');
    const uid = ok(steps, 'create');
    expect(ok(steps, 'modify_attribute')).toBe(uid);
    expect(ok(steps, 'names_after_modify')).toEqual(['after']);
    expect(ok(steps, 'delete_attribute')).toBe(uid);
    expect(ok(steps, 'names_after_delete')).toEqual([]);
  });

  test('register and get secret data, a symmetric key and an opaque object', async () => {
    const steps = await runScenario(version, 'register');
    ok(steps, 'register_secret');
    expect(ok(steps, 'get_secret')).toBe('correct horse battery staple');
    ok(steps, 'register_key');
    expect(ok(steps, 'get_key')).toBe(Buffer.from([...Array(32).keys()]).toString('hex'));
    ok(steps, 'register_opaque');
    expect(ok(steps, 'get_opaque')).toBe('opaque blob');
  });
});
