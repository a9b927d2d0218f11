/**
 * The `kmip` client command end to end: the real command (scripts/run-kmip.ts, from source) in a
 * child process against a real server process with its dev PKI, over TLS and HTTPS. Each test
 * checks what the server did (a later command reads it back), the exit code and what was printed.
 */
import { execFile } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { PROJECT_ROOT, startServerProcess, type ServerProcess } from '../../helpers/server-process';
import { main, type KmipCliIo } from '../../../src/kmip-cli';
import { ttlvDumpCommand } from '../../../src/ttlv-dump';
import { Enums, KmipClient, Tag, decodeResponse, encodeRequest, keyObject, ttlv } from '../../../src/client';

jest.setTimeout(240_000);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  raw: Buffer;
}

let server: ServerProcess;
let work: string;

function credentials(): string[] {
  return ['--ca', path.join(server.pkiDir, 'ca.pem'), '--cert', path.join(server.pkiDir, 'client.pem'), '--key', path.join(server.pkiDir, 'client-key.pem')];
}

/**
 * `kmip ARGS` in this process (the command's own main, with the dev PKI's client certificate and
 * the server's port unless ARGS name a server): the same code the bin runs, minus a process start
 * per call, which on a loaded machine costs seconds each.
 */
async function kmip(args: string[], opts: { input?: Buffer | string } = {}): Promise<Run> {
  const out: Buffer[] = [];
  let stderr = '';
  const io: KmipCliIo = {
    stdout: (t) => void out.push(Buffer.from(t)),
    stderr: (t) => void (stderr += t),
    readStdin: async () => Buffer.from(opts.input ?? ''),
  };
  const server_ = args.includes('--server') ? [] : ['--server', `localhost:${server.port}`];
  const before = process.exitCode;
  try {
    const code = await main([...credentials(), ...server_, ...args], io);
    expect(process.exitCode).toBe(code);
    const raw = Buffer.concat(out);
    return { code, stdout: raw.toString('utf8'), stderr, raw };
  } finally {
    process.exitCode = before;
  }
}

/** The real command in a child process, its connection settings in KMIP_* variables. */
function kmipProcess(args: string[], opts: { input?: Buffer | string; env?: Record<string, string> } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      ['-r', path.join(PROJECT_ROOT, 'scripts', 'register-ts.js'), path.join(PROJECT_ROOT, 'scripts', 'run-kmip.ts'), ...args],
      {
        cwd: PROJECT_ROOT,
        timeout: 90_000,
        encoding: 'buffer',
        env: {
          ...process.env,
          KMIP_SERVER: `localhost:${server.port}`,
          KMIP_CA: path.join(server.pkiDir, 'ca.pem'),
          KMIP_CERT: path.join(server.pkiDir, 'client.pem'),
          KMIP_KEY: path.join(server.pkiDir, 'client-key.pem'),
          ...opts.env,
        },
      },
      (err, stdout, stderr) => {
        const code = err ? Number((err as { code?: number }).code ?? 1) : 0;
        resolve({ code, stdout: stdout.toString('utf8'), stderr: stderr.toString('utf8'), raw: stdout });
      },
    );
    child.stdin!.end(opts.input ?? '');
  });
}

const file = (name: string) => path.join(work, name);

/** A loopback port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

beforeAll(async () => {
  server = await startServerProcess({ extraArgs: ['--https-listen', '127.0.0.1:0'] });
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-cli-'));
});

afterAll(async () => {
  await server?.stop('SIGTERM');
  fs.rmSync(work, { recursive: true, force: true });
  if (server) fs.rmSync(server.dataDir, { recursive: true, force: true });
});

test('discover-versions and query: what the server speaks, in text and JSON', async () => {
  const versions = await kmipProcess(['discover-versions']);
  expect(versions).toMatchObject({ code: 0, stderr: '' });
  expect(versions.stdout.trim().split('\n')[0]).toBe('2.1');
  expect(versions.stdout).toMatch(/^1\.0$/m);
  const query = await kmip(['--json', 'query']);
  expect(query.code).toBe(0);
  const q = JSON.parse(query.stdout) as { operations: string[]; objectTypes: string[] };
  expect(q.operations).toEqual(expect.arrayContaining(['Create', 'Get', 'Locate', 'Encrypt', 'Discover Versions']));
  expect(q.objectTypes).toEqual(expect.arrayContaining(['Symmetric Key', 'Certificate']));
});

test('create, activate, encrypt (GCM, data on stdin) and decrypt it back, locate by name, get-attributes', async () => {
  const name = `cli-key-${process.pid}`;
  const created = await kmip(['create', '--algorithm', 'aes', '--length', '256', '--name', name, '--attribute', `x-team=payments-${process.pid}`]);
  expect(created.code).toBe(0);
  const id = created.stdout.trim();
  expect(id).toMatch(/\S+/);
  expect((await kmip(['activate', id])).stdout.trim()).toBe(id);

  const plaintext = Buffer.from('attack at dawn, via the kmip command');
  const enc = await kmipProcess(['--json', 'encrypt', id, '--mode', 'GCM', '--tag-length', '16'], { input: plaintext });
  expect(enc.code).toBe(0);
  const e = JSON.parse(enc.stdout) as { data: string; iv: string; tag: string };
  expect(Buffer.from(e.data, 'hex')).toHaveLength(plaintext.length);
  expect(Buffer.from(e.data, 'hex').equals(plaintext)).toBe(false);
  fs.writeFileSync(file('ct.bin'), Buffer.from(e.data, 'hex'));
  const dec = await kmip(['decrypt', id, '--in', file('ct.bin'), '--mode', 'GCM', '--iv', e.iv, '--tag', e.tag, '--out', '-']);
  expect(dec.code).toBe(0);
  expect(dec.raw.equals(plaintext)).toBe(true);

  // A wrong tag: the server refuses, and the command says why with the Result Reason.
  const badTag = e.tag.replace(/^./, (c) => (c === '0' ? '1' : '0'));
  const refused = await kmip(['decrypt', id, '--in', file('ct.bin'), '--mode', 'GCM', '--iv', e.iv, '--tag', badTag]);
  expect(refused.code).toBe(1);
  expect(refused.stderr).toMatch(/^kmip: Decrypt failed: OperationFailed \(\w+\)/);
  expect(refused.stderr.trim().split('\n')).toHaveLength(1);

  const located = await kmip(['locate', '--name', name]);
  expect(located).toMatchObject({ code: 0, stdout: `${id}\n` });
  const attrs = await kmip(['--json', 'get-attributes', id, 'State', 'Cryptographic Algorithm', 'Cryptographic Length']);
  const values = Object.fromEntries((JSON.parse(attrs.stdout) as { attributes: { name: string; value: unknown }[] }).attributes.map((a) => [a.name, a.value]));
  expect(values).toEqual({ State: 'Active', 'Cryptographic Algorithm': 'AES', 'Cryptographic Length': 256 });
  const text = await kmip(['get-attributes', id, 'Cryptographic Usage Mask', 'x-team']);
  expect(text.stdout).toBe(`Cryptographic Usage Mask: Encrypt|Decrypt\nx-team: payments-${process.pid}\n`);
  expect((await kmip(['locate', '--attribute', `x-team=payments-${process.pid}`, '--state', 'active'])).stdout).toBe(`${id}\n`);
});

test('register raw key bytes, get them back to a 0600 file and as base64; an existing file is kept unless --force', async () => {
  const key = Buffer.from('6b6d69702d636c692d7465737420616573206b65792062797465732121212121', 'hex');
  fs.writeFileSync(file('raw.key'), key);
  const reg = await kmip(['--json', 'register', file('raw.key'), '--name', `raw-${process.pid}`]);
  expect(reg.code).toBe(0);
  const r = JSON.parse(reg.stdout) as { uniqueIdentifier: string; objectType: string; registered: string };
  expect(r).toMatchObject({ objectType: 'Symmetric Key', registered: 'AES 256-bit symmetric key' });

  const got = await kmip(['get', r.uniqueIdentifier, '--out', file('got.key')]);
  expect(got).toMatchObject({ code: 0, stdout: `${r.uniqueIdentifier} written to ${file('got.key')} (raw)\n` });
  expect(fs.readFileSync(file('got.key')).equals(key)).toBe(true);
  expect(fs.statSync(file('got.key')).mode & 0o777).toBe(0o600);

  const again = await kmip(['get', r.uniqueIdentifier, '--out', file('got.key')]);
  expect(again.code).toBe(2);
  expect(again.stderr).toBe(`kmip: ${file('got.key')} exists: pass --force to replace it\n`);
  expect((await kmip(['get', r.uniqueIdentifier, '--out', file('got.key'), '--force', '--format', 'hex'])).code).toBe(0);
  expect(fs.readFileSync(file('got.key'), 'utf8')).toBe(`${key.toString('hex')}\n`);

  const b64 = await kmip(['get', r.uniqueIdentifier, '--format', 'base64']);
  expect(b64.stdout).toBe(`${key.toString('base64')}\n`);
  const pem = await kmip(['get', r.uniqueIdentifier, '--format', 'pem']);
  expect(pem.code).toBe(2);
  expect(pem.stderr).toBe('kmip: a Symmetric Key has no PEM form: use raw, hex or base64\n');
});

test('register a PEM certificate and a PEM private key; get returns the same certificate and key (PEM and DER)', async () => {
  const certPem = fs.readFileSync(path.join(server.pkiDir, 'client.pem'), 'utf8');
  const cert = await kmip(['--json', 'register', path.join(server.pkiDir, 'client.pem')]);
  expect(cert.code).toBe(0);
  const c = JSON.parse(cert.stdout) as { uniqueIdentifier: string; objectType: string };
  expect(c.objectType).toBe('Certificate');
  const gotCert = await kmip(['get', c.uniqueIdentifier]);
  expect(new X509Certificate(gotCert.stdout).raw.equals(new X509Certificate(certPem).raw)).toBe(true);

  const keyFile = path.join(server.pkiDir, 'client-key.pem');
  const priv = await kmip(['register', keyFile, '--type', 'private-key']);
  expect(priv.code).toBe(0);
  const der = await kmip(['get', priv.stdout.trim(), '--format', 'der', '--out', file('client-key.der')]);
  expect(der.code).toBe(0);
  const want = createPrivateKey(fs.readFileSync(keyFile)).export({ type: 'pkcs8', format: 'der' });
  expect(fs.readFileSync(file('client-key.der')).equals(want)).toBe(true);

  const wrongType = await kmip(['register', keyFile, '--type', 'certificate']);
  expect(wrongType).toMatchObject({ code: 2, stderr: 'kmip: the file holds a Private Key, not a Certificate\n' });
});

test('create-key-pair, sign and verify: a good signature exits 0, a tampered message exits 5', async () => {
  const pair = await kmip(['--json', 'create-key-pair', '--algorithm', 'RSA', '--length', '2048']);
  expect(pair.code).toBe(0);
  const p = JSON.parse(pair.stdout) as { privateKeyUniqueIdentifier: string; publicKeyUniqueIdentifier: string };
  for (const id of [p.privateKeyUniqueIdentifier, p.publicKeyUniqueIdentifier]) expect((await kmip(['activate', id])).code).toBe(0);
  fs.writeFileSync(file('msg.txt'), 'signed by the kmip command');
  const alg = ['--signature-algorithm', 'SHA256WithRSAEncryption'];
  const sig = await kmip(['sign', p.privateKeyUniqueIdentifier, '--in', file('msg.txt'), '--out', file('msg.sig'), ...alg]);
  expect(sig.code).toBe(0);
  expect(fs.statSync(file('msg.sig')).size).toBe(256);
  const ok = await kmip(['verify', p.publicKeyUniqueIdentifier, '--in', file('msg.txt'), '--signature', file('msg.sig'), ...alg]);
  expect(ok).toMatchObject({ code: 0, stdout: 'valid\n' });
  fs.appendFileSync(file('msg.txt'), '!');
  const bad = await kmipProcess(['verify', p.publicKeyUniqueIdentifier, '--in', file('msg.txt'), '--signature', file('msg.sig'), ...alg]);
  expect(bad).toMatchObject({ code: 5, stdout: 'not valid (Invalid)\n' });
  const pub = await kmip(['get', p.publicKeyUniqueIdentifier]);
  expect(pub.stdout).toMatch(/^-----BEGIN (RSA )?PUBLIC KEY-----\n/);
});

test('rekey, revoke and destroy; a destroyed or unknown object is refused with its Result Reason (exit 1)', async () => {
  const id = (await kmip(['create'])).stdout.trim();
  expect((await kmip(['activate', id])).code).toBe(0);
  const rekeyed = await kmip(['--json', 'rekey', id]);
  expect(rekeyed.code).toBe(0);
  const newId = (JSON.parse(rekeyed.stdout) as { uniqueIdentifier: string }).uniqueIdentifier;
  expect(newId).not.toBe(id);
  expect((await kmip(['revoke', id, '--reason', 'KeyCompromise', '--message', 'test'])).code).toBe(0);
  expect((await kmip(['get-attributes', id, 'State'])).stdout).toBe('State: Compromised\n');
  expect((await kmip(['destroy', id])).stdout.trim()).toBe(id);
  const gone = await kmip(['get', id]);
  expect(gone.code).toBe(1);
  expect(gone.stderr).toMatch(/^kmip: Get failed: OperationFailed \(ObjectDestroyed\)/);
  const unknown = await kmipProcess(['--json', 'get', 'no-such-object']);
  expect(unknown.code).toBe(1);
  expect(JSON.parse(unknown.stderr)).toMatchObject({ resultStatus: 'OperationFailed', resultReason: expect.stringMatching(/NotFound/) });
});

test('HTTPS transport, a pinned 1.x version, failover past a dead server, and no answer at all (exit 3)', async () => {
  const https = await kmip(['--https', '--server', `localhost:${server.httpsPort}`, 'discover-versions']);
  expect(https.code).toBe(0);
  expect(https.stdout.split('\n')[0]).toBe('2.1');

  const pinned = await kmip(['--kmip-version', '1.2', 'create', '--name', `v12-${process.pid}`]);
  expect(pinned.code).toBe(0);
  expect((await kmip(['--kmip-version', '1.2', 'get-attributes', pinned.stdout.trim(), 'Cryptographic Length'])).stdout).toBe('Cryptographic Length: 256\n');

  const dead = await closedPort();
  const failover = await kmip(['--server', `localhost:${dead}`, '--server', `localhost:${server.port}`, 'discover-versions']);
  expect(failover.code).toBe(0);
  const comma = await kmip(['--server', `localhost:${dead},localhost:${server.port}`, 'locate', '--name', `v12-${process.pid}`]);
  expect(comma).toMatchObject({ code: 0, stdout: `${pinned.stdout.trim()}\n` });

  const none = await kmipProcess(['--server', `localhost:${dead}`, '--timeout', '5', 'query']);
  expect(none.code).toBe(3);
  expect(none.stderr).toMatch(new RegExp(`^kmip: no answer: .*localhost:${dead}`));
  expect(none.stderr.trim().split('\n')).toHaveLength(1);
});

test('bad usage exits 2 with one line: unknown flag, missing certificate, unknown version or algorithm; --help on every subcommand', async () => {
  const unknown = await kmip(['query', '--bogus']);
  expect(unknown.code).toBe(2);
  expect(unknown.stderr).toMatch(/^error: unknown option '--bogus'/);
  const noCa = await kmipProcess(['query'], { env: { KMIP_CA: '' } });
  expect(noCa).toMatchObject({ code: 2, stderr: 'kmip: --ca FILE is required (or set KMIP_CA)\n' });
  const version = await kmip(['--kmip-version', '9.9', 'query']);
  expect(version.code).toBe(2);
  expect(version.stderr).toMatch(/^kmip: --kmip-version must be one of 2\.1, 2\.0, 1\.4/);
  const alg = await kmip(['create', '--algorithm', 'rot13']);
  expect(alg.code).toBe(2);
  expect(alg.stderr).toMatch(/^kmip: unknown algorithm "rot13" \(one of: /);

  const top = await kmip(['--help']);
  expect(top.code).toBe(0);
  const subcommands = [...top.stdout.matchAll(/^  ([a-z][a-z-]*) /gm)].map((m) => m[1]!).filter((c) => c !== 'help');
  expect(subcommands).toEqual(
    expect.arrayContaining(['create', 'register', 'get', 'locate', 'get-attributes', 'activate', 'revoke', 'destroy', 'rekey', 'encrypt', 'decrypt', 'sign', 'verify', 'query', 'discover-versions']),
  );
  for (const sub of subcommands) {
    const help = await kmip([sub, '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(new RegExp(`^Usage: kmip ${sub} `));
    expect(help.stdout).toContain('--kmip-version'); // the connection flags are listed on every subcommand
  }
  expect(top.stdout).toContain('Exit codes: 0 done, 1 the server refused, 2 bad usage or input, 3 no answer, 4 unreadable answer, 5 signature not valid.');
});

test('ttlv dump of a real capture (a Register request and the Get response from the server): the key is named in the tree and never shown', async () => {
  const client = new KmipClient({
    servers: [`localhost:${server.port}`],
    ca: fs.readFileSync(path.join(server.pkiDir, 'ca.pem')),
    cert: fs.readFileSync(path.join(server.pkiDir, 'client.pem')),
    key: fs.readFileSync(path.join(server.pkiDir, 'client-key.pem')),
  });
  try {
    const key = Buffer.from('c0ffeec0ffeec0ffeec0ffeec0ffee01', 'hex');
    const v = { major: 1, minor: 4 };
    const object = keyObject(Tag.SymmetricKey, { format: Enums.KeyFormatType.Raw, material: key, algorithm: Enums.CryptographicAlgorithm.AES, length: 128 });
    const register = encodeRequest(v, [
      { operation: Enums.Operation.Register, payload: [ttlv.enumeration(Tag.ObjectType, Enums.ObjectType.SymmetricKey), ttlv.structure(Tag.TemplateAttribute, []), object] },
    ]);
    const registered = await client.sendMessage(register);
    const id = decodeResponse(registered).items[0]!.payload!.find((i) => i.tag === Tag.UniqueIdentifier)!.value as string;
    const get = encodeRequest(v, [{ operation: Enums.Operation.Get, payload: [ttlv.textString(Tag.UniqueIdentifier, id)] }]);
    const got = await client.sendMessage(get);
    fs.writeFileSync(file('capture.bin'), Buffer.concat([register, registered, get, got]));

    const out = await ttlvDumpCommand(file('capture.bin'), { redact: true });
    expect(out.split('\n')[0]).toMatch(/^# binary TTLV, \d+ bytes, 4 messages; secret fields redacted/);
    expect(out.match(/KeyMaterial \(ByteString\) = <redacted 16 bytes>/g)).toHaveLength(2);
    expect(out).toContain(`UniqueIdentifier (TextString) = "${id}"`);
    expect(out).toMatch(/ResultStatus \(Enumeration\) = Success/);
    expect(out.toLowerCase()).not.toContain(key.toString('hex'));
    const shown = await ttlvDumpCommand(file('capture.bin'), { redact: false });
    expect(shown.match(new RegExp(key.toString('hex').toUpperCase(), 'g'))).toHaveLength(2);
  } finally {
    client.close();
  }
});
