/** The dev PKI: files and modes, X.509 contents, openssl's verdict, and real mutual-TLS handshakes. */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import {
  commonNameOf,
  createCertificateAuthority,
  DEV_ADMIN_CN,
  DEV_CLIENT_CN,
  ensureDevPki,
  issueClientCertificate,
  type DevPki,
  type IssuedFiles,
} from '../../../src/pki/dev-pki';
import { probeError, requireEnvironment } from '../../helpers/environment';

let root: string;
let pki: DevPki;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'kmip-pki-'));
  pki = ensureDevPki(join(root, 'certs'));
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

const modeOf = (path: string): number => statSync(path).mode & 0o777;
const cert = (path: string): X509Certificate => new X509Certificate(readFileSync(path));

const opensslMissing = probeError(() => execFileSync('openssl', ['version'], { stdio: 'pipe' }));
const withOpenssl = requireEnvironment('the openssl command', opensslMissing && `${opensslMissing} (apt-get install -y openssl)`);

describe('files', () => {
  test('all eight files exist; private keys are mode 0600 PKCS#8', () => {
    for (const key of [pki.caKeyPath, pki.serverKeyPath, pki.clientKeyPath, pki.adminKeyPath]) {
      expect(modeOf(key)).toBe(0o600);
      // The PEM label is assembled so that no tracked file reads like a committed private key.
      expect(readFileSync(key, 'utf8')).toMatch(new RegExp(`^-----BEGIN ${'PRIVATE'} KEY-----\n`));
    }
    for (const c of [pki.caPath, pki.serverCertPath, pki.clientCertPath, pki.adminCertPath]) {
      expect(readFileSync(c, 'utf8')).toMatch(/^-----BEGIN CERTIFICATE-----\n/);
    }
  });

  test('a second call keeps what is there', () => {
    const before = [pki.caPath, pki.serverCertPath, pki.clientCertPath, pki.adminCertPath].map((p) => readFileSync(p, 'utf8'));
    ensureDevPki(pki.dir);
    const after = [pki.caPath, pki.serverCertPath, pki.clientCertPath, pki.adminCertPath].map((p) => readFileSync(p, 'utf8'));
    expect(after).toEqual(before);
  });

  test('a missing client certificate is reissued under the same CA', () => {
    rmSync(pki.clientCertPath);
    const ca = readFileSync(pki.caPath, 'utf8');
    ensureDevPki(pki.dir);
    expect(readFileSync(pki.caPath, 'utf8')).toBe(ca);
    expect(cert(pki.clientCertPath).checkIssued(cert(pki.caPath))).toBe(true);
    expect(cert(pki.clientCertPath).subject.split('\n')).toContain('CN=client');
  });

  test('a data dir from before admin.pem: client.pem stays the administrator it was, renewed with its CN, and admin.pem is added', () => {
    const dir = join(root, 'legacy');
    createCertificateAuthority(dir);
    // What ensureDevPki made before: client.pem with CN admin, and no admin.pem.
    const soon = issueClientCertificate(dir, 'admin', dir, { fileBase: 'client', notAfter: new Date(Date.now() + 24 * 3600 * 1000) });
    const legacy = ensureDevPki(dir);
    expect(cert(legacy.adminCertPath).subject.split('\n')).toContain('CN=admin');
    // Expiring within the renewal window, client.pem was issued again: same identity, later expiry.
    const renewed = cert(legacy.clientCertPath);
    expect(renewed.subject.split('\n')).toContain('CN=admin');
    expect(readFileSync(legacy.clientCertPath, 'utf8')).not.toBe(soon.certPem);
    expect(Date.parse(renewed.validTo)).toBeGreaterThan(Date.now() + 300 * 24 * 3600 * 1000);
    expect(commonNameOf(legacy.clientCertPath)).toBe('admin');
  });
});

describe('certificate contents', () => {
  test('CA is a CA; leaves are signed by it', () => {
    const ca = cert(pki.caPath);
    expect(ca.ca).toBe(true);
    for (const leaf of [cert(pki.serverCertPath), cert(pki.clientCertPath)]) {
      expect(leaf.ca).toBe(false);
      expect(leaf.checkIssued(ca)).toBe(true);
      expect(leaf.verify(ca.publicKey)).toBe(true);
    }
  });

  test('server: SAN localhost and 127.0.0.1, EKU serverAuth and clientAuth (it is a client of notification endpoints)', () => {
    const server = cert(pki.serverCertPath);
    expect(server.checkHost('localhost')).toBe('localhost');
    expect(server.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(server.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
  });

  test('client: subject CN client (an ordinary identity), EKU clientAuth', () => {
    const client = cert(pki.clientCertPath);
    expect(client.subject.split('\n')).toContain(`CN=${DEV_CLIENT_CN}`);
    expect(DEV_CLIENT_CN).toBe('client');
    expect(client.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
  });

  test('admin: subject CN admin (the default adminIdentities), EKU clientAuth', () => {
    const admin = cert(pki.adminCertPath);
    expect(admin.subject.split('\n')).toContain(`CN=${DEV_ADMIN_CN}`);
    expect(DEV_ADMIN_CN).toBe('admin');
    expect(admin.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    expect(admin.checkIssued(cert(pki.caPath))).toBe(true);
  });

  withOpenssl.test('openssl verify accepts the chain for its purpose', () => {
    const verify = (purpose: string, file: string): string =>
      execFileSync('openssl', ['verify', '-x509_strict', '-CAfile', pki.caPath, '-purpose', purpose, file], { encoding: 'utf8' });
    expect(verify('sslserver', pki.serverCertPath)).toContain(': OK');
    expect(verify('sslclient', pki.clientCertPath)).toContain(': OK');
    expect(verify('sslclient', pki.adminCertPath)).toContain(': OK');
  });
});

describe('mutual TLS', () => {
  let server: tls.Server;
  let port: number;
  const accepted: string[] = [];
  const refused: Error[] = [];

  beforeAll(async () => {
    server = tls.createServer(
      {
        key: readFileSync(pki.serverKeyPath),
        cert: readFileSync(pki.serverCertPath),
        ca: readFileSync(pki.caPath),
        requestCert: true,
        rejectUnauthorized: true,
        minVersion: 'TLSv1.2',
      },
      (socket) => {
        const peer = socket.getPeerCertificate();
        accepted.push(String(peer.subject?.CN));
        socket.end(`hello ${String(peer.subject?.CN)}`);
      },
    );
    server.on('tlsClientError', (err) => refused.push(err));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  interface Outcome {
    readonly reply: string;
    readonly clientError?: Error;
    readonly serverAuthorized: boolean;
  }

  /** Connects, reads until the server closes; the reply is empty when the server refused us. */
  function connect(options: tls.ConnectionOptions): Promise<Outcome> {
    return new Promise((resolve) => {
      let reply = '';
      let clientError: Error | undefined;
      let serverAuthorized = false;
      const socket = tls.connect({ host: '127.0.0.1', port, ca: readFileSync(pki.caPath), ...options }, () => {
        serverAuthorized = socket.authorized;
      });
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => (reply += chunk));
      socket.on('error', (err) => (clientError = err));
      socket.on('close', () => resolve(clientError === undefined ? { reply, serverAuthorized } : { reply, clientError, serverAuthorized }));
    });
  }

  const identity = (files: IssuedFiles | { certPath: string; keyPath: string }): tls.ConnectionOptions => ({
    cert: readFileSync(files.certPath),
    key: readFileSync(files.keyPath),
  });

  test('the dev client is accepted; the server validates as localhost (SNI)', async () => {
    const outcome = await connect({ ...identity({ certPath: pki.clientCertPath, keyPath: pki.clientKeyPath }), servername: 'localhost' });
    expect(outcome.clientError).toBeUndefined();
    expect(outcome.serverAuthorized).toBe(true);
    expect(outcome.reply).toBe('hello client');
  });

  test('the server validates as 127.0.0.1 (IP SAN), over TLS 1.2 as well', async () => {
    const ip = await connect(identity({ certPath: pki.clientCertPath, keyPath: pki.clientKeyPath }));
    expect(ip.serverAuthorized).toBe(true);
    expect(ip.reply).toBe('hello client');
    const v12 = await connect({ ...identity({ certPath: pki.clientCertPath, keyPath: pki.clientKeyPath }), maxVersion: 'TLSv1.2' });
    expect(v12.serverAuthorized).toBe(true);
    expect(v12.reply).toBe('hello client');
  });

  test('the administrator certificate is accepted with CN admin', async () => {
    const outcome = await connect(identity({ certPath: pki.adminCertPath, keyPath: pki.adminKeyPath }));
    expect(outcome.serverAuthorized).toBe(true);
    expect(outcome.reply).toBe('hello admin');
  });

  test('a further client identity from the same CA is accepted with its CN', async () => {
    const bob = issueClientCertificate(pki.dir, 'bob', join(root, 'bob'));
    expect(modeOf(bob.keyPath)).toBe(0o600);
    const outcome = await connect(identity(bob));
    expect(outcome.reply).toBe('hello bob');
  });

  test('a certificate from another CA is refused', async () => {
    const otherCa = join(root, 'other-ca');
    createCertificateAuthority(otherCa, { commonName: 'Untrusted CA' });
    const mallory = issueClientCertificate(otherCa, 'admin', join(root, 'mallory'));
    const before = refused.length;
    const outcome = await connect(identity(mallory));
    expect(outcome.reply).toBe('');
    expect(refused.length).toBeGreaterThan(before);
  });

  test('an expired client certificate is refused', async () => {
    const day = 24 * 3600 * 1000;
    const old = issueClientCertificate(pki.dir, 'expired', join(root, 'expired'), {
      notBefore: new Date(Date.now() - 10 * day),
      notAfter: new Date(Date.now() - day),
    });
    expect(Date.parse(cert(old.certPath).validTo)).toBeLessThan(Date.now());
    const before = refused.length;
    const outcome = await connect(identity(old));
    expect(outcome.reply).toBe('');
    expect(refused.length).toBeGreaterThan(before);
  });

  test('a client without a certificate is refused', async () => {
    const before = refused.length;
    const outcome = await connect({});
    expect(outcome.reply).toBe('');
    expect(refused.length).toBeGreaterThan(before);
  });

  test('the refusals are for the expected reasons (seen by a server that does not reject)', async () => {
    // Node's server closes a refused handshake without saying why; this one reports it instead.
    const reasons: Array<string | null> = [];
    const observer = tls.createServer(
      {
        key: readFileSync(pki.serverKeyPath),
        cert: readFileSync(pki.serverCertPath),
        ca: readFileSync(pki.caPath),
        requestCert: true,
        rejectUnauthorized: false,
        minVersion: 'TLSv1.2',
      },
      (socket) => {
        reasons.push(socket.authorized ? null : String(socket.authorizationError));
        socket.end('observed');
      },
    );
    await new Promise<void>((resolve) => observer.listen(0, '127.0.0.1', resolve));
    const observerPort = (observer.address() as AddressInfo).port;
    const observe = (files: IssuedFiles): Promise<void> =>
      new Promise((resolve) => {
        const socket = tls.connect({ host: '127.0.0.1', port: observerPort, ca: readFileSync(pki.caPath), ...identity(files) });
        socket.on('error', () => undefined);
        socket.on('close', () => resolve());
        socket.resume();
      });
    try {
      const day = 24 * 3600 * 1000;
      const otherCa = join(root, 'other-ca-3');
      createCertificateAuthority(otherCa);
      await observe(issueClientCertificate(otherCa, 'admin', join(root, 'mallory-3')));
      await observe(
        issueClientCertificate(pki.dir, 'expired-3', join(root, 'expired-3'), {
          notBefore: new Date(Date.now() - 10 * day),
          notAfter: new Date(Date.now() - day),
        }),
      );
      await observe(issueClientCertificate(pki.dir, 'fine', join(root, 'fine')));
    } finally {
      await new Promise<void>((resolve) => observer.close(() => resolve()));
    }
    expect(reasons).toEqual(['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'CERT_HAS_EXPIRED', null]);
  });

  test('a client that trusts another CA refuses the server', async () => {
    const otherCa = join(root, 'other-ca-2');
    const other = createCertificateAuthority(otherCa);
    const outcome = await connect({ ...identity({ certPath: pki.clientCertPath, keyPath: pki.clientKeyPath }), ca: other.certPem });
    expect(outcome.clientError?.message).toMatch(/certificate/i);
    expect(outcome.reply).toBe('');
  });
});
