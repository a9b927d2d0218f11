/**
 * `kmip-server doctor` against a real running server and its dev PKI: certificates made at test time
 * (the dev PKI code; openssl for one without clientAuth; another CA; one revoked with `pki revoke`).
 * For each, doctor's verdict from the files is the reason the real listener audits when the same
 * certificate connects (same checks, same words); exit codes 0/1/2 from the real CLI; --connect
 * explains a good connection, a hostname mismatch, an unknown CA, a refused certificate, no shared
 * cipher and a port that does not speak TLS.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import tls from 'node:tls';
import os from 'node:os';
import path from 'node:path';
import { createCertificateAuthority, issueClientCertificate } from '../../../src/pki/dev-pki';
import { main } from '../../../src/cli';
import { startServerProcess, type ServerProcess } from '../../helpers/server-process';
import { attempt, auditRecords, sighup, waitFor } from '../../helpers/tls-attempt';
import { runCli } from '../../helpers/custody';

jest.setTimeout(180_000);

function openssl(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => execFile('openssl', args, { timeout: 30_000 }, (e, _out, err) => (e ? reject(new Error(err)) : resolve())));
}

/** The CLI in this process: its output lines and exit code. */
async function doctor(args: string[]): Promise<{ code: number; lines: string[]; errors: string[] }> {
  const lines: string[] = [];
  const errors: string[] = [];
  const log = jest.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
  const err = jest.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void errors.push(a.join(' ')));
  const before = process.exitCode;
  process.exitCode = undefined;
  try {
    await main(['doctor', ...args]);
    return { code: Number(process.exitCode ?? 0), lines, errors };
  } finally {
    process.exitCode = before;
    log.mockRestore();
    err.mockRestore();
  }
}

let server: ServerProcess;
let work: string;
let otherCa: string;
const cert = (base: string) => path.join(work, `${base}.pem`);
const key = (base: string) => path.join(work, `${base}-key.pem`);

beforeAll(async () => {
  // Every interface, so that 127.0.0.2 reaches it: an address the server certificate does not name.
  server = await startServerProcess({ listen: '0.0.0.0:0' });
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-doctor-'));
  issueClientCertificate(server.pkiDir, 'alice', work);
  const day = 24 * 3600 * 1000;
  issueClientCertificate(server.pkiDir, 'old', work, { notBefore: new Date(Date.now() - 30 * day), notAfter: new Date(Date.now() - day) });
  issueClientCertificate(server.pkiDir, 'bob', work);
  // Signed by the server's CA, EKU serverAuth only.
  await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key('noeku')]);
  await openssl(['req', '-new', '-key', key('noeku'), '-subj', '/CN=noeku', '-out', path.join(work, 'noeku.csr')]);
  fs.writeFileSync(path.join(work, 'noeku.ext'), 'extendedKeyUsage = serverAuth\n');
  await openssl(['x509', '-req', '-in', path.join(work, 'noeku.csr'), '-CA', path.join(server.pkiDir, 'ca.pem'), '-CAkey', path.join(server.pkiDir, 'ca-key.pem'), '-set_serial', '4242', '-days', '1', '-extfile', path.join(work, 'noeku.ext'), '-out', cert('noeku')]);
  // Another CA, under the same name as the server's.
  otherCa = path.join(work, 'other-ca');
  createCertificateAuthority(otherCa);
  issueClientCertificate(otherCa, 'mallory', work);
  const revoked = await runCli(['pki', 'revoke', '--cert', cert('bob'), '--data-dir', server.dataDir]);
  expect(revoked.code).toBe(0);
  expect((await sighup(server)).msg).toBe('reloaded');
});

afterAll(async () => {
  await server?.stop();
  if (server) fs.rmSync(server.dataDir, { recursive: true, force: true });
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

/** The reason the real listener audits for a connection with this certificate. */
async function listenerReason(base: string): Promise<string> {
  const a = await attempt(server.port, { ca: fs.readFileSync(path.join(server.pkiDir, 'ca.pem')), cert: fs.readFileSync(cert(base)), key: fs.readFileSync(key(base)) });
  expect(a.served).toBe(false);
  const record = await waitFor('the refusal in the audit file', () =>
    auditRecords(path.join(server.dataDir, 'audit.log')).find((r) => r.event === 'connection-rejected' && r.peer === `127.0.0.1:${a.localPort}`),
  );
  return String(record.reason);
}

describe('doctor --cert', () => {
  test('a good certificate: every check ok, its identity and role, exit 0', async () => {
    const r = await doctor(['--cert', cert('alice'), '--key', key('alice'), '--data-dir', server.dataDir]);
    expect(r.lines).toEqual([
      'ok   key: matches the certificate',
      'ok   chain: issued by trusted CA "O=KMIP Server Dev PKI, CN=KMIP Dev CA"',
      'ok   key usage: digitalSignature',
      'ok   EKU: clientAuth',
      "ok   revocation: not on its CA's CRL",
      expect.stringMatching(/^ok   validity: \S+ to \S+$/),
      'ok   identity: alice (subject CN)',
      'ok   role: ordinary client (its own objects)',
      'the server would accept this certificate as alice',
    ]);
    expect(r.code).toBe(0);
  });

  test('the administrator certificate maps to the administrator role', async () => {
    const r = await doctor(['--cert', path.join(server.pkiDir, 'admin.pem'), '--data-dir', server.dataDir]);
    expect(r.lines).toContain('ok   role: administrator (in adminIdentities: every object, Import, Export)');
    expect(r.code).toBe(0);
  });

  test('under an access policy the role line names the roles and groups the server would give', async () => {
    const policy = path.join(work, 'access.json');
    fs.writeFileSync(policy, JSON.stringify({ roles: { auditor: ['cn:alice'] }, groups: { from: 'ou' } }));
    const config = path.join(work, 'access-config.json');
    fs.writeFileSync(config, JSON.stringify({ dataDir: server.dataDir, accessPolicy: policy }));
    issueClientCertificate(server.pkiDir, 'ann', work, { organizationalUnits: ['db', 'eu'] });
    expect((await doctor(['--cert', cert('alice'), '--config', config])).lines).toContain('ok   role: auditor (accessPolicy)');
    expect((await doctor(['--cert', cert('ann'), '--config', config])).lines).toContain('ok   role: user (accessPolicy); groups db, eu');
  });

  test.each([
    ['expired', 'old', /^FAIL validity: expired \S+: reissue it \(kmip-server pki client --cn NAME --out DIR does\)$/, 'client certificate rejected: CERT_HAS_EXPIRED'],
    [
      'without EKU clientAuth',
      'noeku',
      /^FAIL EKU: lacks clientAuth \(has serverAuth\): reissue with extendedKeyUsage=clientAuth \(kmip-server pki client --cn NAME --out DIR does\)$/,
      'client certificate rejected: INVALID_PURPOSE',
    ],
    ['from another CA', 'mallory', /^FAIL chain: issued by "O=KMIP Server Dev PKI, CN=KMIP Dev CA", which is not a trusted CA: issue it from the server's CA/, 'client certificate rejected: UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
    ['revoked (pki revoke)', 'bob', /^FAIL revocation: serial [0-9A-F]+ is on its CA's CRL: issue a new certificate/, 'certificate revoked'],
  ])('%s: the failing check with its fix, the listener\'s own reason, exit 1', async (_name, base, failing, reason) => {
    const r = await doctor(['--cert', cert(base), '--key', key(base), '--data-dir', server.dataDir]);
    expect(r.lines).toEqual(expect.arrayContaining([expect.stringMatching(failing)]));
    expect(r.lines.filter((l) => l.startsWith('FAIL'))).toHaveLength(1);
    expect(r.lines[r.lines.length - 1]).toBe(`the server would refuse this certificate: ${reason}`);
    expect(r.code).toBe(1);
    // Same checks, same words: the running listener refuses it with that reason.
    expect(await listenerReason(base)).toBe(reason);
  });

  test('--ca overrides the server\'s CA', async () => {
    const r = await doctor(['--cert', cert('mallory'), '--ca', path.join(otherCa, 'ca.pem'), '--data-dir', server.dataDir]);
    expect(r.lines).toContain('ok   chain: issued by trusted CA "O=KMIP Server Dev PKI, CN=KMIP Dev CA"');
    // The server's CRL names a CA of the same name, but that CA did not sign it: it is not this CA's.
    expect(r.lines).toEqual(expect.arrayContaining([expect.stringMatching(/^FAIL revocation: the CRL naming its CA is not signed by that CA/)]));
  });

  test('a configuration file: tls.requireClientAuthEku refuses a certificate with no EKU; identityFrom and adminIdentities apply', async () => {
    await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key('plain')]);
    await openssl(['req', '-new', '-key', key('plain'), '-subj', '/CN=ops', '-out', path.join(work, 'plain.csr')]);
    await openssl(['x509', '-req', '-in', path.join(work, 'plain.csr'), '-CA', path.join(server.pkiDir, 'ca.pem'), '-CAkey', path.join(server.pkiDir, 'ca-key.pem'), '-set_serial', '4343', '-days', '1', '-out', cert('plain')]);
    const file = path.join(work, 'config.json');
    const tlsFiles = { cert: path.join(server.pkiDir, 'server.pem'), key: path.join(server.pkiDir, 'server-key.pem'), ca: path.join(server.pkiDir, 'ca.pem') };
    fs.writeFileSync(file, JSON.stringify({ dataDir: server.dataDir, tls: { ...tlsFiles, requireClientAuthEku: true }, adminIdentities: ['ops'] }));
    const r = await doctor(['--cert', cert('plain'), '--config', file]);
    expect(r.lines).toContain('FAIL EKU: none stated, and the server requires clientAuth (tls.requireClientAuthEku): reissue with extendedKeyUsage=clientAuth (kmip-server pki client --cn NAME --out DIR does)');
    expect(r.lines).toContain('ok   role: administrator (in adminIdentities: every object, Import, Export)');
    expect(r.lines[r.lines.length - 1]).toBe('the server would refuse this certificate: client certificate has no Extended Key Usage clientAuth');
    expect(r.code).toBe(1);
    // With identityFrom "san", the first SAN names the client.
    fs.writeFileSync(file, JSON.stringify({ dataDir: server.dataDir, tls: tlsFiles, identityFrom: 'san' }));
    const san = await doctor(['--cert', path.join(server.pkiDir, 'server.pem'), '--config', file]);
    expect(san.lines).toContain('ok   identity: localhost (first subject alternative name)');
    expect(san.code).toBe(0);
  });

  test('a key that is not the certificate\'s fails', async () => {
    const r = await doctor(['--cert', cert('alice'), '--key', key('old'), '--data-dir', server.dataDir]);
    expect(r.lines[0]).toBe('FAIL key: not the key of this certificate: pass the key file issued with this certificate');
    expect(r.code).toBe(1);
  });

  test('the real CLI exits 0, 1 and 2 (a missing file named in one line)', async () => {
    const missing = path.join(work, 'missing.pem');
    const [good, bad, usage] = await Promise.all([
      runCli(['doctor', '--cert', cert('alice'), '--data-dir', server.dataDir]),
      runCli(['doctor', '--cert', cert('noeku'), '--data-dir', server.dataDir]),
      runCli(['doctor', '--cert', missing, '--data-dir', server.dataDir]),
    ]);
    expect(good.code).toBe(0);
    expect(good.stdout).toContain('the server would accept this certificate as alice');
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain('the server would refuse this certificate: client certificate rejected: INVALID_PURPOSE');
    expect(usage.code).toBe(2);
    expect(usage.stdout).toBe('');
    expect(usage.stderr.trim()).toBe(`kmip-server doctor: ${missing}: cannot read the client certificate: ENOENT`);
  });
});

describe('doctor --connect', () => {
  const ca = () => path.join(server.pkiDir, 'ca.pem');

  test('a good certificate: handshake, server certificate and Query ok, exit 0', async () => {
    const r = await doctor(['--connect', `localhost:${server.port}`, '--cert', cert('alice'), '--key', key('alice'), '--data-dir', server.dataDir]);
    expect(r.lines).toEqual([
      expect.stringMatching(/^ok   handshake: TLSv1\.[23], \S+$/),
      'ok   server certificate: localhost, trusted and valid for localhost',
      expect.stringMatching(/^ok   query: answered in KMIP 1\.4 \(\d+ operations offered\)$/),
    ]);
    expect(r.code).toBe(0);
  });

  test('an address the server certificate does not name', async () => {
    const r = await doctor(['--connect', `127.0.0.2:${server.port}`, '--cert', cert('alice'), '--key', key('alice'), '--ca', ca()]);
    expect(r.lines).toEqual([expect.stringMatching(/^FAIL server certificate: does not name 127\.0\.0\.2:\d+ \(.*\): connect with a name or address the certificate lists/)]);
    expect(r.code).toBe(1);
  });

  test('a CA that did not sign the server certificate', async () => {
    const r = await doctor(['--connect', `localhost:${server.port}`, '--cert', cert('alice'), '--key', key('alice'), '--ca', path.join(otherCa, 'ca.pem')]);
    expect(r.lines).toEqual([expect.stringMatching(/^FAIL server certificate: unknown CA \(\w+\): pass the CA that signed the server's certificate with --ca/)]);
    expect(r.code).toBe(1);
  });

  test('the server refusing our certificate, explained by its missing clientAuth', async () => {
    const r = await doctor(['--connect', `localhost:${server.port}`, '--cert', cert('noeku'), '--key', key('noeku'), '--ca', ca()]);
    expect(r.lines[r.lines.length - 1]).toMatch(/^FAIL (query|handshake): .*\(our certificate: EKU lacks clientAuth \(has serverAuth\)\)/);
    expect(r.code).toBe(1);
  });

  test('no cipher suite in common (a TLS 1.2 server offering only RSA key exchange with an EC certificate)', async () => {
    const other = tls.createServer({
      cert: fs.readFileSync(path.join(server.pkiDir, 'server.pem')),
      key: fs.readFileSync(path.join(server.pkiDir, 'server-key.pem')),
      maxVersion: 'TLSv1.2',
      ciphers: 'AES128-GCM-SHA256',
    });
    other.on('tlsClientError', () => {});
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', () => r()));
    try {
      const r = await doctor(['--connect', `localhost:${(other.address() as AddressInfo).port}`, '--cert', cert('alice'), '--key', key('alice'), '--ca', ca()]);
      expect(r.lines).toEqual([expect.stringMatching(/^FAIL handshake: no cipher suite in common \(\w+\): compare the server's tls.ciphers with the client's/)]);
      expect(r.code).toBe(1);
    } finally {
      await new Promise((r) => other.close(r));
    }
  });

  test('a port that does not speak TLS', async () => {
    const open = new Set<net.Socket>();
    const plain = net.createServer((s) => {
      open.add(s);
      s.on('close', () => open.delete(s));
      s.resume();
      s.end('HTTP/1.1 400 Bad Request\r\n\r\n');
    });
    await new Promise<void>((r) => plain.listen(0, '127.0.0.1', () => r()));
    try {
      const r = await doctor(['--connect', `127.0.0.1:${(plain.address() as AddressInfo).port}`, '--cert', cert('alice'), '--key', key('alice'), '--ca', ca()]);
      expect(r.lines).toEqual([expect.stringMatching(/^FAIL handshake: the other end does not speak TLS \(ERR_SSL_WRONG_VERSION_NUMBER\): is 127\.0\.0\.1:\d+ the KMIP port \(5696\)\?$/)]);
      expect(r.code).toBe(1);
    } finally {
      for (const s of open) s.destroy();
      await new Promise((r) => plain.close(r));
    }
  });

  test('nothing listening', async () => {
    const r = await doctor(['--connect', '127.0.0.1:1', '--cert', cert('alice'), '--key', key('alice'), '--ca', ca()]);
    expect(r.lines).toEqual(['FAIL connect: nothing listens at 127.0.0.1:1: check the host and port (the server\'s --listen)']);
    expect(r.code).toBe(1);
  });
});
