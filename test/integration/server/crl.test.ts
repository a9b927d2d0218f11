/**
 * Client certificate revocation over real TLS with real server processes: `tls.crl` (PEM or DER)
 * refuses a revoked client at the handshake and audits it as "certificate revoked" naming the peer;
 * on the dev PKI, `pki revoke` and SIGHUP refuse the client's new connections (a saved TLS session
 * does not get around it); with two workers, both apply it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureDevPki, issueClientCertificate } from '../../../src/pki/dev-pki';
import { revokeCertificate } from '../../../src/pki/dev-crl';
import { startServerProcess, workerPids, type ServerProcess } from '../../helpers/server-process';
import { attempt, auditRecords, credentials, logLines, sighup, waitFor, type Attempt, type Credentials } from '../../helpers/tls-attempt';
import { runCli } from '../../helpers/custody';

jest.setTimeout(180_000);

const dirs: string[] = [];
function tempDir(prefix: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/** The audit record of a refused attempt, found by the peer the listener saw. */
function revokedRecord(auditFile: string, a: Attempt): Record<string, unknown> | undefined {
  return auditRecords(auditFile).find((r) => r.event === 'connection-rejected' && r.peer === `127.0.0.1:${a.localPort}`);
}

async function expectRevoked(server: ServerProcess, creds: Credentials, cn: string, opts: { session?: Buffer } = {}): Promise<void> {
  const a = await attempt(server.port, creds, opts);
  expect(a.served).toBe(false);
  expect(a.localPort).toBeDefined();
  const record = await waitFor('the refusal in the audit file', () => revokedRecord(path.join(server.dataDir, 'audit.log'), a));
  expect(record).toEqual(expect.objectContaining({ reason: 'certificate revoked', client: cn, peer: `127.0.0.1:${a.localPort}` }));
}

/** The DER form of a PEM CRL, as `openssl crl -outform DER` writes it. */
function derOf(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----(BEGIN|END) X509 CRL-----/g, '').replace(/\s+/g, ''), 'base64');
}

describe('tls.crl in the configuration', () => {
  let pkiDir: string;
  let bob: Credentials;
  let carol: Credentials;
  let crlPem: string;

  beforeAll(async () => {
    pkiDir = path.join(tempDir('kmip-crl-pki-'), 'pki');
    ensureDevPki(pkiDir);
    issueClientCertificate(pkiDir, 'bob', pkiDir);
    issueClientCertificate(pkiDir, 'carol', pkiDir);
    bob = credentials(path.join(pkiDir, 'ca.pem'), pkiDir, 'bob');
    carol = credentials(path.join(pkiDir, 'ca.pem'), pkiDir, 'carol');
    crlPem = fs.readFileSync((await revokeCertificate(pkiDir, path.join(pkiDir, 'bob.pem'))).crlPath, 'utf8');
  });

  function config(dir: string, crl: string | string[]): string {
    const file = path.join(dir, 'config.json');
    fs.writeFileSync(file, JSON.stringify({ tls: { cert: path.join(pkiDir, 'server.pem'), key: path.join(pkiDir, 'server-key.pem'), ca: path.join(pkiDir, 'ca.pem'), crl } }));
    return file;
  }

  test.each([
    ['a PEM CRL', 'crl.pem', (f: string) => fs.writeFileSync(f, crlPem), (f: string) => f],
    ['a DER CRL in a list', 'crl.der', (f: string) => fs.writeFileSync(f, derOf(crlPem)), (f: string) => [f]],
  ])('%s: the revoked client is refused at the handshake and audited naming the peer; another is served', async (_name, fileName, write, crlValue) => {
    const dir = tempDir('kmip-crl-');
    const crlFile = path.join(dir, fileName);
    write(crlFile);
    const server = await startServerProcess({ dataDir: dir, extraArgs: ['--config', config(dir, crlValue(crlFile))] });
    try {
      await expectRevoked(server, bob, 'bob');
      expect((await attempt(server.port, carol)).served).toBe(true);
    } finally {
      expect(await server.stop('SIGTERM')).toBe(0);
    }
  });

  test.each([
    ['a missing file', (f: string) => f, /cannot read the CRL: ENOENT/],
    ['a file that is no CRL', (f: string) => (fs.writeFileSync(f, 'not a revocation list\n'), f), /is not a CRL \(PEM "X509 CRL" or DER\)/],
  ])('%s: start refuses with one line naming it', async (_name, make, message) => {
    const dir = tempDir('kmip-crl-bad-');
    const crlFile = make(path.join(dir, 'revoked.crl'));
    const r = await runCli(['start', '--listen', '127.0.0.1:0', '--data-dir', dir, '--config', config(dir, crlFile)]);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`tls.crl: ${crlFile}`);
    expect(r.stderr).toMatch(message);
  });
});

describe('dev PKI: pki revoke, then SIGHUP', () => {
  let server: ServerProcess;
  let clientDir: string;
  let bob: Credentials;
  let carol: Credentials;

  beforeAll(async () => {
    server = await startServerProcess();
    clientDir = tempDir('kmip-crl-clients-');
    issueClientCertificate(server.pkiDir, 'bob', clientDir);
    issueClientCertificate(server.pkiDir, 'carol', clientDir);
    bob = credentials(path.join(server.pkiDir, 'ca.pem'), clientDir, 'bob');
    carol = credentials(path.join(server.pkiDir, 'ca.pem'), clientDir, 'carol');
  });
  afterAll(async () => {
    const code = await server.stop('SIGTERM');
    fs.rmSync(server.dataDir, { recursive: true, force: true });
    expect(code).toBe(0);
  });

  test('the revoked client\'s new connections are refused and audited, its saved session does not resume, another client is served', async () => {
    const first = await attempt(server.port, bob);
    expect(first.served).toBe(true);
    expect(first.session).toBeDefined();
    // Resumption works while bob is in good standing: the later refusal of a resumed session means something.
    const resumedBefore = await attempt(server.port, bob, { session: first.session });
    expect(resumedBefore.served).toBe(true);
    expect(resumedBefore.resumed).toBe(true);

    const r = await runCli(['pki', 'revoke', '--cert', path.join(clientDir, 'bob.pem'), '--data-dir', server.dataDir]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout.trim())).toEqual(expect.objectContaining({ msg: 'certificate revoked', revoked: 1 }));
    const crlFile = path.join(server.pkiDir, 'crl.pem');
    expect(fs.statSync(crlFile).mode & 0o777).toBe(0o600);
    // Applied at the signal, not before.
    expect((await attempt(server.port, bob)).served).toBe(true);

    const line = await sighup(server);
    expect(line).toEqual(expect.objectContaining({ msg: 'reloaded', certificate: expect.objectContaining({ crls: 1 }) }));
    await expectRevoked(server, bob, 'bob');
    await expectRevoked(server, bob, 'bob', { session: first.session });
    expect((await attempt(server.port, carol)).served).toBe(true);
  });

  test('pki revoke refuses a certificate of another CA, and a data dir without a CA, with one line', async () => {
    const other = path.join(tempDir('kmip-crl-other-'), 'pki');
    ensureDevPki(other);
    issueClientCertificate(other, 'mallory', other);
    const foreign = await runCli(['pki', 'revoke', '--cert', path.join(other, 'mallory.pem'), '--data-dir', server.dataDir]);
    expect(foreign.code).not.toBe(0);
    expect(foreign.stderr.trim().split('\n')).toHaveLength(1);
    expect(foreign.stderr).toContain(`${path.join(other, 'mallory.pem')} was not issued by the dev CA in ${server.pkiDir}`);
    const empty = tempDir('kmip-crl-empty-');
    const noCa = await runCli(['pki', 'revoke', '--cert', path.join(clientDir, 'carol.pem'), '--data-dir', empty]);
    expect(noCa.code).not.toBe(0);
    expect(noCa.stderr.trim().split('\n')).toHaveLength(1);
    expect(noCa.stderr).toContain('holds no dev CA');
    expect(fs.existsSync(path.join(empty, 'pki', 'crl.pem'))).toBe(false);
  });
});

test('two workers: SIGHUP reaches both, and both refuse the revoked client', async () => {
  const server = await startServerProcess({ extraArgs: ['--workers', '2'] });
  try {
    const workers = workerPids(server).sort();
    expect(workers).toHaveLength(2);
    const clientDir = tempDir('kmip-crl-workers-');
    issueClientCertificate(server.pkiDir, 'bob', clientDir);
    issueClientCertificate(server.pkiDir, 'carol', clientDir);
    const bob = credentials(path.join(server.pkiDir, 'ca.pem'), clientDir, 'bob');
    const carol = credentials(path.join(server.pkiDir, 'ca.pem'), clientDir, 'carol');
    await revokeCertificate(server.pkiDir, path.join(clientDir, 'bob.pem'));

    server.child.kill('SIGHUP');
    // The workers reload their TLS material (the primary, which owns the audit file, reopens it).
    const reloaded = await waitFor('a reload line from each worker', () => {
      const lines = logLines(server, 'reloaded').filter((l) => l.certificate !== undefined);
      return lines.length >= 2 && lines;
    });
    expect(reloaded.map((l) => l.pid as number).sort()).toEqual(workers);
    expect(logLines(server, 'reloaded').filter((l) => l.pid === server.child.pid)).toEqual([expect.objectContaining({ auditFile: expect.any(String) })]);
    expect(reloaded.every((l) => (l.certificate as { crls: number }).crls === 1)).toBe(true);
    // The primary deals connections to the workers in turn: four attempts reach both.
    for (let i = 0; i < 4; i++) await expectRevoked(server, bob, 'bob');
    for (let i = 0; i < 4; i++) expect((await attempt(server.port, carol)).served).toBe(true);
    expect(workerPids(server).sort()).toEqual(workers);
    expect(server.child.exitCode).toBeNull();
  } finally {
    expect(await server.stop('SIGTERM')).toBe(0);
    fs.rmSync(server.dataDir, { recursive: true, force: true });
  }
});
