/**
 * The pykmip-server drop-in, end to end: a server.conf (with certificates the dev PKI makes now),
 * the real server started with --pykmip-config, and Debian's PyKMIP client (python3-pykmip)
 * through create, Locate by Operation Policy Name "default", get, destroy. Also over real TLS:
 * the cipher suites and enable_tls_client_auth of server.conf, Request Header credentials
 * selecting sub-identities of one shared certificate, and the one-line start-up errors.
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { ttlv, type TtlvItem } from '../../ttlv/types';
import { Tag } from '../../src/spec/generated/tags';
import { CredentialType, ObjectType, Operation, ResultReason, ResultStatus } from '../../src/spec/generated/enums';
import { ensureDevPki, issueClientCertificate } from '../../src/pki/dev-pki';
import { hashPassword } from '../../src/server/credentials';
import { PROJECT_ROOT, startServerProcess, type ServerProcess } from '../helpers/server-process';
import { PYTHON, ok, runPyKmip, type Step } from '../helpers/pykmip';
import { KmipTlsClient } from '../helpers/tls-client';
import { attributesFor, parseResponse, requestMessage, successPayload, textOf } from '../helpers/kmip-client';
import { aesTemplate } from '../helpers/ops-harness';

const SCRIPT = path.join(__dirname, 'pykmip_compat.py');
const CLI = ['-r', path.join(PROJECT_ROOT, 'scripts', 'register-ts.js'), path.join(PROJECT_ROOT, 'scripts', 'run-cli.ts')];
/** The dev PKI's server key is EC P-256: these suites can serve it; none is a TLS 1.3 suite. */
const SUITES = ['TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', 'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384', 'TLS_RSA_WITH_AES_128_CBC_SHA256'];

let dir: string;
let pkiDir: string;
let server: ServerProcess;
let port: number;
/** Passwords made at test time; never written anywhere but the hashes. */
const pw = { alice: randomBytes(12).toString('base64'), bob: randomBytes(12).toString('base64'), device: randomBytes(12).toString('base64') };

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

function runCli(args: readonly string[], stdin = ''): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...CLI, ...args], { cwd: PROJECT_ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 110_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(stdin);
  });
}

function serverConf(p: number, extra: string): string {
  return [
    '[server]',
    'hostname=127.0.0.1',
    `port=${p}`,
    `certificate_path=${path.join(pkiDir, 'server.pem')}`,
    `key_path=${path.join(pkiDir, 'server-key.pem')}`,
    `ca_path=${path.join(pkiDir, 'ca.pem')}`,
    'auth_suite=TLS1.2',
    'policy_path=/etc/pykmip/policies',
    'logging_level=INFO',
    `database_path=${path.join(dir, 'pykmip.database')}`,
    extra,
  ].join('\n');
}

/** Waits (bounded) for the audit log to hold a record matching `match`. */
async function auditRecord(dataDir: string, match: (r: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  const file = path.join(dataDir, 'audit.log');
  const deadline = Date.now() + 20_000;
  for (;;) {
    const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    const found = text.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>).find(match);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no matching audit record in:\n${text}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const certFiles = (base: string) => ({ cert: path.join(dir, `${base}.pem`), key: path.join(dir, `${base}-key.pem`), ca: path.join(pkiDir, 'ca.pem') });
const clientFiles = () => ({ cert: path.join(pkiDir, 'client.pem'), key: path.join(pkiDir, 'client-key.pem'), ca: path.join(pkiDir, 'ca.pem') });

beforeAll(async () => {
  if (!fs.existsSync(PYTHON)) throw new Error('/usr/bin/python3 is missing: apt-get install -y python3-pykmip');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-dropin-'));
  pkiDir = path.join(dir, 'pki');
  ensureDevPki(pkiDir);
  // One certificate that several tenants share, as vCenter hosts or NetApp nodes do.
  issueClientCertificate(pkiDir, 'vcenter', dir);
  // alice's hash comes from the command operators use; the others from the same function.
  const made = await runCli(['hash-password'], `${pw.alice}\n`);
  expect(made.code).toBe(0);
  const aliceHash = made.stdout.trim();
  expect(aliceHash).toMatch(/^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
  expect(made.stdout + made.stderr).not.toContain(pw.alice);
  const json = path.join(dir, 'kmip.json');
  fs.writeFileSync(
    json,
    JSON.stringify({
      credentials: { vcenter: { users: { alice: aliceHash, bob: await hashPassword(pw.bob) }, devices: { 'SN-0001': await hashPassword(pw.device) } } },
    }),
  );
  port = await freePort();
  const conf = path.join(dir, 'server.conf');
  fs.writeFileSync(conf, serverConf(port, `tls_cipher_suites=\n    ${SUITES.join('\n    ')}\n`));
  server = await startServerProcess({ listen: null, dataDir: path.join(dir, 'data'), extraArgs: ['--pykmip-config', conf, '--config', json] });
}, 120_000);

afterAll(async () => {
  if (server) expect(await server.stop()).toBe(0);
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('listens where server.conf says and prints one line for each setting without an equivalent', () => {
  expect(server.port).toBe(port);
  const out = server.output();
  for (const note of ['policy_path: no equivalent', 'database_path: no equivalent', 'logging_level: no equivalent', 'enable_tls_client_auth: True', 'compatibility profile \\"pykmip\\"']) {
    expect(out).toContain(note);
  }
  // database_path is not our store: the data directory is.
  expect(fs.existsSync(path.join(dir, 'pykmip.database'))).toBe(false);
  expect(fs.existsSync(path.join(dir, 'data', 'kmip.sqlite'))).toBe(true);
});

describe.each(['1.0', '1.1', '1.2', '1.3', '1.4'])('PyKMIP client, KMIP %s', (version) => {
  let steps: Map<string, Step>;
  beforeAll(async () => {
    steps = await runPyKmip(SCRIPT, { port, pkiDir }, [version, 'profile'], clientFiles());
  }, 120_000);

  test('create, Operation Policy Name "default", Locate by it, get, destroy', () => {
    const uid = ok(steps, 'create') as string;
    expect(ok(steps, 'policy_name')).toBe('default');
    expect(ok(steps, 'locate_default')).toContain(uid);
    expect(ok(steps, 'get')).toBe(32);
    expect(ok(steps, 'destroy')).toBeNull();
    expect(ok(steps, 'locate_after_destroy')).not.toContain(uid);
  });
});

describe('TLS as server.conf says', () => {
  const connect = (opts: tls.ConnectionOptions) =>
    new Promise<tls.TLSSocket>((resolve, reject) => {
      const files = clientFiles();
      const s = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: fs.readFileSync(files.ca), cert: fs.readFileSync(files.cert), key: fs.readFileSync(files.key), ...opts });
      s.once('secureConnect', () => resolve(s));
      s.once('error', reject);
    });

  test('tls_cipher_suites: TLS 1.2 with a listed suite, even for a client offering TLS 1.3', async () => {
    const s = await connect({});
    try {
      expect(s.getProtocol()).toBe('TLSv1.2');
      expect(['ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384']).toContain(s.getCipher().name);
    } finally {
      s.destroy();
    }
  });

  test('a suite the list leaves out is refused', async () => {
    await expect(connect({ maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-CHACHA20-POLY1305' })).rejects.toThrow();
  });

  test('enable_tls_client_auth (default True): a certificate without EKU clientAuth is refused and audited', async () => {
    const base = path.join(dir, 'noeku');
    const openssl = (args: string[]) =>
      new Promise<void>((resolve, reject) => execFile('openssl', args, { timeout: 30_000 }, (e) => (e ? reject(e) : resolve())));
    await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${base}-key.pem`]);
    await openssl(['req', '-new', '-key', `${base}-key.pem`, '-subj', '/CN=noeku', '-out', `${base}.csr`]);
    await openssl(['x509', '-req', '-in', `${base}.csr`, '-CA', path.join(pkiDir, 'ca.pem'), '-CAkey', path.join(pkiDir, 'ca-key.pem'), '-set_serial', '77', '-days', '1', '-out', `${base}.pem`]);
    const files = certFiles('noeku');
    // The server closes the connection once the handshake is done; under TLS 1.2 the client may
    // see that before or after its own handshake completes. Either way no request is answered.
    const attempt = async () => {
      const client = await KmipTlsClient.connect({ port, ca: fs.readFileSync(files.ca), cert: fs.readFileSync(files.cert), key: fs.readFileSync(files.key) });
      try {
        return await client.request(requestMessage({ major: 1, minor: 2 }, [{ operation: Operation.Query, payload: [] }]));
      } finally {
        client.close();
      }
    };
    await expect(attempt()).rejects.toThrow(/closed|reset|EPIPE|disconnected/);
    const r = await auditRecord(server.dataDir, (x) => x['event'] === 'connection-rejected' && String(x['reason']).includes('Extended Key Usage clientAuth'));
    expect(r['reason']).toBe('client certificate has no Extended Key Usage clientAuth');
  });
});

describe('Request Header credentials select sub-identities of a shared certificate', () => {
  let aliceKey: string;

  test('alice (right password) creates a key that is hers: bob cannot Get or Locate it, alice can', async () => {
    const asAlice = await runPyKmip(SCRIPT, { port, pkiDir }, ['1.2', 'as', 'alice', pw.alice], certFiles('vcenter'));
    aliceKey = ok(asAlice, 'create') as string;
    const asBob = await runPyKmip(SCRIPT, { port, pkiDir }, ['1.2', 'as', 'bob', pw.bob, aliceKey], certFiles('vcenter'));
    const bobKey = ok(asBob, 'create') as string;
    expect(asBob.get(`get ${aliceKey}`)!.ok).toBe(false);
    expect(asBob.get(`get ${aliceKey}`)!.reason).toBe('ITEM_NOT_FOUND');
    expect(ok(asBob, 'locate')).toEqual([bobKey]);
    const again = await runPyKmip(SCRIPT, { port, pkiDir }, ['1.2', 'as', 'alice', pw.alice, aliceKey, bobKey], certFiles('vcenter'));
    expect(ok(again, `get ${aliceKey}`)).toBe(16);
    expect(again.get(`get ${bobKey}`)!.ok).toBe(false);
    expect(ok(again, 'locate')).toEqual(expect.arrayContaining([aliceKey]));
    expect(ok(again, 'locate')).not.toContain(bobKey);
    const record = await auditRecord(server.dataDir, (x) => x['event'] === 'operation' && x['client'] === 'vcenter/alice' && x['operation'] === 'Create');
    expect(record['credentialPresented']).toBe(true);
  }, 120_000);

  test('the shared certificate without a credential is an identity of its own: it sees neither', async () => {
    const files = certFiles('vcenter');
    const client = await KmipTlsClient.connect({ port, ca: fs.readFileSync(files.ca), cert: fs.readFileSync(files.cert), key: fs.readFileSync(files.key) });
    try {
      const r = parseResponse(await client.request(requestMessage({ major: 1, minor: 2 }, [{ operation: Operation.Get, payload: [ttlv.textString(Tag.UniqueIdentifier, aliceKey)] }])));
      expect(r.items[0]!.reason).toBe(ResultReason.ItemNotFound);
    } finally {
      client.close();
    }
  });

  test.each([
    ['a wrong password', 'alice', 'not-the-password'],
    ['a user not listed', 'mallory', 'anything'],
  ])('%s: Authentication Not Successful, audited without the password', async (_what, user, password) => {
    const steps = await runPyKmip(SCRIPT, { port, pkiDir }, ['1.2', 'as', user, password], certFiles('vcenter'));
    const create = steps.get('create')!;
    expect(create.ok).toBe(false);
    expect(create.reason).toBe('AUTHENTICATION_NOT_SUCCESSFUL');
    const record = await auditRecord(
      server.dataDir,
      (x) => x['event'] === 'message-rejected' && x['client'] === 'vcenter' && String(x['reason']).includes(`user "${user}"`),
    );
    expect(record['resultReason']).toBe(String(ResultReason.AuthenticationNotSuccessful));
    expect(fs.readFileSync(path.join(server.dataDir, 'audit.log'), 'utf8')).not.toContain(password);
  }, 60_000);

  describe('a Device credential (our codec over TLS)', () => {
    const device = (password: string): TtlvItem =>
      ttlv.structure(Tag.Authentication, [
        ttlv.structure(Tag.Credential, [
          ttlv.enumeration(Tag.CredentialType, CredentialType.Device),
          ttlv.structure(Tag.CredentialValue, [ttlv.textString(Tag.DeviceSerialNumber, 'SN-0001'), ttlv.textString(Tag.Password, password)]),
        ]),
      ]);
    const v = { major: 1, minor: 4 };
    const create = (client: KmipTlsClient, password: string) =>
      client.request(
        requestMessage(v, [{ operation: Operation.Create, payload: [ttlv.enumeration(Tag.ObjectType, ObjectType.SymmetricKey), attributesFor(v, aesTemplate(undefined, 12, 128))] }], [device(password)]),
      );

    test('right password: the device owns what it creates; wrong password: refused', async () => {
      const files = certFiles('vcenter');
      const client = await KmipTlsClient.connect({ port, ca: fs.readFileSync(files.ca), cert: fs.readFileSync(files.cert), key: fs.readFileSync(files.key) });
      try {
        const uid = textOf(successPayload(parseResponse(await create(client, pw.device))), Tag.UniqueIdentifier)!;
        const located = parseResponse(await client.request(requestMessage(v, [{ operation: Operation.Locate, payload: [] }], [device(pw.device)])));
        expect(successPayload(located).value.filter((i) => i.tag === Tag.UniqueIdentifier).map((i) => i.value)).toEqual([uid]);
        const refused = parseResponse(await create(client, 'wrong'));
        expect(refused.items[0]!.status).toBe(ResultStatus.OperationFailed);
        expect(refused.items[0]!.reason).toBe(ResultReason.AuthenticationNotSuccessful);
        expect(refused.items[0]!.message).toBe('the credential of device "SN-0001" was not accepted');
      } finally {
        client.close();
      }
      await auditRecord(server.dataDir, (x) => x['event'] === 'operation' && x['client'] === 'vcenter/device/SN-0001');
    });
  });
});

describe('start-up errors: one line naming the setting, exit status 1', () => {
  test.each([
    ['auth_suite missing', (p: number) => serverConf(p, '').replace('auth_suite=TLS1.2\n', ''), '[server] auth_suite'],
    ['port not a number', (p: number) => serverConf(p, '').replace(`port=${p}`, 'port=kmip'), '[server] port'],
    ['unknown cipher suite', (p: number) => serverConf(p, 'tls_cipher_suites=TLS_NOT_A_SUITE'), '[server] tls_cipher_suites'],
    ['certificate file absent', (p: number) => serverConf(p, '').replace(/certificate_path=.*/, 'certificate_path=/nonexistent.pem'), '[server] certificate_path'],
  ])('%s', async (_what, make, key) => {
    const conf = path.join(dir, `bad-${Math.random().toString(36).slice(2)}.conf`);
    fs.writeFileSync(conf, make(5696));
    const r = await runCli(['start', '--pykmip-config', conf, '--data-dir', path.join(dir, 'unused')]);
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`${conf} ${key}:`);
    expect(r.stdout).not.toContain('listening');
  }, 120_000);

  test('hash-password with nothing on standard input: one line, exit status 1', async () => {
    const r = await runCli(['hash-password'], '');
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  }, 120_000);
});
