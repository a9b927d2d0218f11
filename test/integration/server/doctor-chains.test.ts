/**
 * `kmip-server doctor` on the harder certificate cases, each against a real server process that
 * holds the same files (certificates and CRLs made at test time with openssl and the dev PKI code):
 * a client certificate issued by an intermediate CA (sent with its chain, and without it), a CRL
 * missing for the client's CA, and a CRL past its next update. Doctor's verdict is the reason the
 * real listener audits for the same certificate. And `--connect` against a real TLS version
 * mismatch: a TLS 1.3-only server and a client limited to TLS 1.2, and the reverse.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { ensureDevPki, issueClientCertificate, type DevPki } from '../../../src/pki/dev-pki';
import { PROJECT_ROOT, startServerProcess, type ServerProcess } from '../../helpers/server-process';
import { attempt, auditRecords, sighup, waitFor } from '../../helpers/tls-attempt';

jest.setTimeout(240_000);

function run(file: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd: PROJECT_ROOT, timeout: 90_000, env }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

async function openssl(args: string[]): Promise<void> {
  const r = await run('openssl', args);
  if (r.code !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

/** The real CLI, as an operator runs it. */
function cli(args: string[], env?: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(process.execPath, ['-r', path.join(PROJECT_ROOT, 'scripts', 'register-ts.js'), path.join(PROJECT_ROOT, 'scripts', 'run-cli.ts'), ...args], env);
}

let work: string;
let pki: DevPki;
const file = (name: string) => path.join(work, name);

/** An EC key and a certificate for `cn` signed by `issuer` ('dev': the dev PKI's CA; null: self-signed), `ext` the openssl extension lines. */
async function issue(cn: string, issuer: string | null, ext: string): Promise<void> {
  await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file(`${cn}-key.pem`)]);
  fs.writeFileSync(file(`${cn}.ext`), ext);
  if (issuer === null) {
    await openssl(['req', '-x509', '-key', file(`${cn}-key.pem`), '-subj', `/O=KMIP doctor test/CN=${cn}`, '-days', '2', '-addext', 'basicConstraints=critical,CA:true', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', file(`${cn}.pem`)]);
    return;
  }
  await openssl(['req', '-new', '-key', file(`${cn}-key.pem`), '-subj', `/O=KMIP doctor test/CN=${cn}`, '-out', file(`${cn}.csr`)]);
  const [caCert, caKey] = issuer === 'dev' ? [pki.caPath, pki.caKeyPath] : [file(`${issuer}.pem`), file(`${issuer}-key.pem`)];
  await openssl(['x509', '-req', '-in', file(`${cn}.csr`), '-CA', caCert, '-CAkey', caKey, '-CAcreateserial', '-days', '2', '-extfile', file(`${cn}.ext`), '-out', file(`${cn}.pem`)]);
}

const CA_EXT = 'basicConstraints = critical, CA:true\nkeyUsage = critical, keyCertSign, cRLSign\n';
const CLIENT_EXT = 'basicConstraints = CA:false\nkeyUsage = critical, digitalSignature\nextendedKeyUsage = clientAuth\n';

/**
 * A CRL listing nothing, signed by the CA in `caCert`/`caKey`, from `daysFrom` to `daysTo` days from
 * now (openssl ca, so that the dates can lie in the past).
 */
async function emptyCrl(caCert: string, caKey: string, out: string, daysFrom: number, daysTo: number): Promise<void> {
  const db = fs.mkdtempSync(path.join(work, 'ca-db-'));
  fs.writeFileSync(path.join(db, 'index.txt'), '');
  fs.writeFileSync(path.join(db, 'crlnumber'), '01\n');
  fs.writeFileSync(path.join(db, 'ca.cnf'), `[ca]\ndefault_ca = d\n[d]\ndatabase = ${db}/index.txt\ncrlnumber = ${db}/crlnumber\ndefault_md = sha256\n`);
  const stamp = (days: number) => `${new Date(Date.now() + days * 24 * 3600 * 1000).toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;
  await openssl(['ca', '-batch', '-config', path.join(db, 'ca.cnf'), '-gencrl', '-cert', caCert, '-keyfile', caKey, '-crl_lastupdate', stamp(daysFrom), '-crl_nextupdate', stamp(daysTo), '-out', out]);
}

/** A server process with the dev PKI's server certificate and `tlsFiles` (its config file `<name>.json`), on a loopback port. */
async function serverWith(name: string, tlsFiles: { ca: string; crl?: string[] }): Promise<ServerProcess> {
  const config = file(`${name}.json`);
  fs.writeFileSync(config, JSON.stringify({ tls: { cert: pki.serverCertPath, key: pki.serverKeyPath, ...tlsFiles } }));
  return startServerProcess({ dataDir: fs.mkdtempSync(path.join(os.tmpdir(), `kmip-doctor-${name}-`)), extraArgs: ['--config', config] });
}

/** The reason the real listener audits for a connection with this certificate file (chain included) and key. */
async function listenerReason(server: ServerProcess, certFile: string, keyFile: string): Promise<string | undefined> {
  const a = await attempt(server.port, { ca: fs.readFileSync(pki.caPath), cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile) });
  if (a.served) return undefined;
  const record = await waitFor('the refusal in the audit file', () =>
    auditRecords(path.join(server.dataDir, 'audit.log')).find((r) => r.event === 'connection-rejected' && r.peer === `127.0.0.1:${a.localPort}`),
  );
  return String(record.reason);
}

/** doctor's lines and exit code for a client (`<base>.pem`, `<key>-key.pem`) against a server's configuration file. */
async function doctor(name: string, base: string, key = base): Promise<{ code: number; lines: string[]; failing: string[]; verdict: string }> {
  const r = await cli(['doctor', '--cert', file(`${base}.pem`), '--key', file(`${key}-key.pem`), '--config', file(`${name}.json`)]);
  const lines = r.stdout.split('\n').filter(Boolean);
  return { code: r.code, lines, failing: lines.filter((l) => l.startsWith('FAIL')), verdict: lines[lines.length - 1] ?? r.stderr };
}

/** Doctor's verdict on a client and the real listener's, which must say the same. */
async function bothSay(server: ServerProcess, name: string, base: string, key = base): Promise<{ doctor: Awaited<ReturnType<typeof doctor>>; listener: string | undefined }> {
  const d = await doctor(name, base, key);
  const listener = await listenerReason(server, file(`${base}.pem`), file(`${key}-key.pem`));
  expect(d.verdict).toBe(listener === undefined ? `the server would accept this certificate as ${key}` : `the server would refuse this certificate: ${listener}`);
  expect(d.code).toBe(listener === undefined ? 0 : 1);
  return { doctor: d, listener };
}


let plain: ServerProcess;
let withCrl: ServerProcess;

beforeAll(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-doctor-chains-'));
  pki = ensureDevPki(file('pki'));
  // The dev CA allows no intermediate (pathlen 0); a second root that does, with an intermediate and its client.
  await issue('root2', null, '');
  await issue('inter2', 'root2', CA_EXT);
  await issue('erin', 'inter2', CLIENT_EXT);
  fs.writeFileSync(file('erin-chain.pem'), Buffer.concat([fs.readFileSync(file('erin.pem')), fs.readFileSync(file('inter2.pem'))]));
  // An intermediate under the dev CA, and its client: a chain the dev CA's path length forbids.
  await issue('inter', 'dev', CA_EXT);
  await issue('carol', 'inter', CLIENT_EXT);
  fs.writeFileSync(file('carol-chain.pem'), Buffer.concat([fs.readFileSync(file('carol.pem')), fs.readFileSync(file('inter.pem'))]));
  // A client of the dev CA, for the CRL cases; the CRL slot the second server reads starts with no CRL of the dev CA.
  issueClientCertificate(pki.dir, 'dave', work);
  await emptyCrl(pki.caPath, pki.caKeyPath, file('dev-crl-current.pem'), -1, 7);
  await emptyCrl(pki.caPath, pki.caKeyPath, file('dev-crl-stale.pem'), -10, -3);
  // First in the slot: the CRL of another CA only.
  await emptyCrl(file('root2.pem'), file('root2-key.pem'), file('crl-slot.pem'), -1, 7);
  fs.writeFileSync(file('cas.pem'), Buffer.concat([fs.readFileSync(pki.caPath), fs.readFileSync(file('root2.pem'))]));
  [plain, withCrl] = await Promise.all([serverWith('plain', { ca: file('cas.pem') }), serverWith('crl', { ca: pki.caPath, crl: [file('crl-slot.pem')] })]);
}, 240_000);

afterAll(async () => {
  for (const s of [plain, withCrl]) {
    if (!s) continue;
    await s.stop();
    fs.rmSync(s.dataDir, { recursive: true, force: true });
  }
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe('a client certificate issued by an intermediate CA', () => {
  test('sent with its intermediate: accepted, the chain and path length explained', async () => {
    const r = await bothSay(plain, 'plain', 'erin-chain', 'erin');
    expect(r.listener).toBeUndefined();
    expect(r.doctor.lines).toContain('ok   chain: issued by trusted CA "O=KMIP doctor test, CN=root2" through 1 intermediate(s)');
    expect(r.doctor.lines).toContain("ok   path length: 1 intermediate(s), within every CA's path length");
  });

  test('sent without its intermediate: refused, the missing issuer named', async () => {
    const r = await bothSay(plain, 'plain', 'erin');
    expect(r.listener).toBe('client certificate rejected: UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    expect(r.doctor.failing).toEqual([expect.stringMatching(/^FAIL chain: issued by "O=KMIP doctor test, CN=inter2", which is not a trusted CA: /)]);
  });

  test("under a CA whose path length allows no intermediate (the dev PKI's): refused, the CA and its limit named", async () => {
    const r = await bothSay(plain, 'plain', 'carol-chain', 'carol');
    expect(r.listener).toBe('client certificate rejected: PATH_LENGTH_EXCEEDED');
    expect(r.doctor.failing).toEqual([
      expect.stringMatching(/^FAIL path length: the CA "O=KMIP Server Dev PKI, CN=KMIP Dev CA" allows 0 intermediate CA\(s\) below it \(pathlen\), the chain has 1: issue it from a CA/),
    ]);
  });
});

describe('CRLs: missing and stale', () => {
  test("CRLs configured, none of the client's CA: refused (UNABLE_TO_GET_CRL), the fix names tls.crl", async () => {
    const r = await bothSay(withCrl, 'crl', 'dave');
    expect(r.listener).toBe('client certificate rejected: UNABLE_TO_GET_CRL');
    expect(r.doctor.failing).toEqual([
      "FAIL revocation: no CRL of its issuer among the configured CRLs: add its CA's CRL to the server's tls.crl (with CRLs configured, OpenSSL wants one for every client's CA)",
    ]);
  });

  test('its CA\'s CRL past its next update: refused (CRL_HAS_EXPIRED); a current one put in its place and SIGHUP: accepted', async () => {
    fs.copyFileSync(file('dev-crl-stale.pem'), file('crl-slot.pem'));
    expect((await sighup(withCrl)).msg).toBe('reloaded');
    const stale = await bothSay(withCrl, 'crl', 'dave');
    expect(stale.listener).toBe('client certificate rejected: CRL_HAS_EXPIRED');
    expect(stale.doctor.failing).toEqual([expect.stringMatching(/^FAIL revocation: its CA's CRL is past its next update \(\S+\): publish a fresh CRL from its CA/)]);

    fs.copyFileSync(file('dev-crl-current.pem'), file('crl-slot.pem'));
    expect((await sighup(withCrl)).msg).toBe('reloaded');
    const current = await bothSay(withCrl, 'crl', 'dave');
    expect(current.listener).toBeUndefined();
    expect(current.doctor.lines).toContain("ok   revocation: not on its CA's CRL");
  });
});

describe('doctor --connect: no TLS version in common', () => {
  /** A TLS server with the dev PKI's server certificate, limited to the versions given. */
  async function tlsServer(minVersion: tls.SecureVersion, maxVersion: tls.SecureVersion): Promise<tls.Server> {
    const server = tls.createServer({ cert: fs.readFileSync(pki.serverCertPath), key: fs.readFileSync(pki.serverKeyPath), minVersion, maxVersion });
    server.on('tlsClientError', () => {});
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    return server;
  }

  test.each([
    ['a TLS 1.3-only server, a client limited to TLS 1.2', 'TLSv1.3', 'TLSv1.3', '--tls-max-v1.2', 'TLSv1.2 only'],
    ['a TLS 1.2-only server, a client limited to TLS 1.3', 'TLSv1.2', 'TLSv1.2', '--tls-min-v1.3', 'TLSv1.3 only'],
  ] as const)('%s: the versions each side offers, exit 1', async (_name, min, max, clientLimit, offered) => {
    const server = await tlsServer(min, max);
    try {
      const port = (server.address() as AddressInfo).port;
      const r = await cli(['doctor', '--connect', `localhost:${port}`, '--cert', pki.clientCertPath, '--key', pki.clientKeyPath, '--ca', pki.caPath], {
        ...process.env,
        NODE_OPTIONS: `${process.env['NODE_OPTIONS'] ?? ''} ${clientLimit}`.trim(),
      });
      expect(r.stdout.split('\n').filter(Boolean)).toEqual([
        `FAIL handshake: no TLS protocol version in common (ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION): this client offered ${offered}; kmip-server speaks TLS 1.2 and 1.3: allow both on each side (the server's own TLS settings, and Node's --tls-min-v1.2 --tls-max-v1.3 here)`,
      ]);
      expect(r.code).toBe(1);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
