/**
 * Debian's PyKMIP client through the cryptographic services, against our server started by its
 * own command line over real mutual TLS: Create Key Pair and Get of both halves, Sign and
 * Signature Verify, Encrypt and Decrypt with a server-chosen IV, MAC, and Register of a certificate.
 */
import { execFile } from 'node:child_process';
import { createHmac, X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { startServerProcess, type ServerProcess } from '../helpers/server-process';

const PYTHON = '/usr/bin/python3';
const SCRIPT = path.join(__dirname, 'pykmip_crypto.py');

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

function run(version: string, certHex: string): Promise<Map<string, Step>> {
  const pki = server.pkiDir;
  const args = [SCRIPT, '127.0.0.1', String(server.port), path.join(pki, 'client.pem'), path.join(pki, 'client-key.pem'), path.join(pki, 'ca.pem'), version, certHex];
  return new Promise((resolve, reject) => {
    execFile(PYTHON, args, { timeout: 90_000 }, (err, stdout, stderr) => {
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

describe.each(['1.2', '1.4'])('PyKMIP client, KMIP %s, cryptographic services', (version) => {
  test('key pair, sign/verify, encrypt/decrypt, MAC, certificate', async () => {
    // The server's own CA certificate is a real X.509 certificate to register.
    const certDer = new X509Certificate(fs.readFileSync(path.join(server.pkiDir, 'ca.pem'))).raw;
    const steps = await run(version, certDer.toString('hex'));
    const pair = ok(steps, 'create_key_pair') as string[];
    expect(pair).toHaveLength(2);
    expect(ok(steps, 'get_public')).toBe('PKCS_1');
    expect(ok(steps, 'get_private')).toBe('PKCS_1');
    ok(steps, 'activate');
    expect((ok(steps, 'sign') as string).length).toBe(512);
    expect(ok(steps, 'signature_verify')).toBe('VALID');
    expect(ok(steps, 'signature_verify_tampered')).toBe('INVALID');
    const [ciphertext, iv] = ok(steps, 'encrypt') as [string, string];
    expect(ciphertext.length).toBe(64);
    expect(iv.length).toBe(32);
    expect(ok(steps, 'decrypt')).toBe('interoperability');
    const mac = ok(steps, 'mac') as string;
    const key = Buffer.from(ok(steps, 'get_hmac_key') as string, 'hex');
    expect(mac).toBe(createHmac('sha256', key).update('interoperability').digest('hex'));
    ok(steps, 'register_certificate');
    expect(ok(steps, 'get_certificate')).toBe(certDer.toString('hex'));
  });
});
