/**
 * Debian's PyKMIP client (/usr/bin/python3, python3-pykmip) against our server started by its own
 * command line, over real mutual TLS with the dev PKI the first start creates.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startServerProcess, type ServerProcess } from '../helpers/server-process';

const PYTHON = '/usr/bin/python3';
const SCRIPT = path.join(__dirname, 'pykmip_client.py');

interface Step {
  step: string;
  ok: boolean;
  value?: unknown;
  error?: string;
}

let server: ServerProcess;

beforeAll(async () => {
  if (!fs.existsSync(PYTHON)) throw new Error('/usr/bin/python3 is missing: apt-get install -y python3-pykmip');
  server = await startServerProcess();
}, 120_000);

afterAll(async () => {
  if (server) {
    expect(await server.stop()).toBe(0);
    fs.rmSync(server.dataDir, { recursive: true, force: true });
  }
});

function runScenario(version: string, scenario: string): Promise<Map<string, Step>> {
  const pki = server.pkiDir;
  const args = [SCRIPT, '127.0.0.1', String(server.port), path.join(pki, 'client.pem'), path.join(pki, 'client-key.pem'), path.join(pki, 'ca.pem'), version, scenario];
  return new Promise((resolve, reject) => {
    execFile(PYTHON, args, { timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`pykmip client failed: ${err.message}\n${stderr}\n${stdout}`));
      const steps = new Map<string, Step>();
      for (const line of stdout.split('\n').filter((l) => l.startsWith('{'))) {
        const s = JSON.parse(line) as Step;
        steps.set(s.step, s);
      }
      resolve(steps);
    });
  });
}

function ok(steps: Map<string, Step>, name: string): unknown {
  const s = steps.get(name);
  expect(s).toBeDefined();
  if (!s!.ok) throw new Error(`${name} failed: ${s!.error}`);
  return s!.value;
}

describe.each(['1.2', '1.4'])('PyKMIP client, KMIP %s', (version) => {
  test('create, get, get attributes, attribute list, locate, activate, revoke, destroy', async () => {
    const steps = await runScenario(version, 'lifecycle');
    const uid = ok(steps, 'create') as string;
    expect(uid).toMatch(/^[0-9a-f-]{36}$/);
    const keyHex = ok(steps, 'get') as string;
    expect(keyHex.length).toBe(64);
    // Neither the store (with its WAL) nor the audit log holds the key's bytes.
    const key = Buffer.from(keyHex, 'hex');
    const files = fs.readdirSync(server.dataDir).filter((f) => f.startsWith('kmip.sqlite') || f === 'audit.log');
    expect(files).toEqual(expect.arrayContaining(['kmip.sqlite', 'audit.log']));
    for (const f of files) {
      const bytes = fs.readFileSync(path.join(server.dataDir, f));
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
