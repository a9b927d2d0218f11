/**
 * Reading the listener's TLS files (at start and on SIGHUP): each failure names its file; CRLs in
 * PEM or DER; a CRL that names our CA but was signed by another key (a CA made anew under the same
 * name) is refused rather than locking every client out; one past its next update is a warning.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createCertificateAuthority, ensureDevPki, issueClientCertificate, issueServerCertificate, type DevPki } from '../../../src/pki/dev-pki';
import { revokeCertificate } from '../../../src/pki/dev-crl';
import { readCrlFile, readTlsMaterial, TlsFileError, type TlsSources } from '../../../src/pki/tls-material';

let dir: string;
let pki: DevPki;
let crlPath: string;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-tls-material-'));
  pki = ensureDevPki(path.join(dir, 'pki'));
  issueClientCertificate(pki.dir, 'bob', pki.dir);
  crlPath = (await revokeCertificate(pki.dir, path.join(pki.dir, 'bob.pem'))).crlPath;
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const sources = (over: Partial<TlsSources> = {}): TlsSources => ({ cert: pki.serverCertPath, key: pki.serverKeyPath, ca: pki.caPath, crl: [crlPath], ...over });

function failure(src: TlsSources): TlsFileError {
  try {
    readTlsMaterial(src);
  } catch (e) {
    if (e instanceof TlsFileError) return e;
    throw e;
  }
  throw new Error('expected the files to be refused');
}

test('the dev PKI files with its CRL are read whole', () => {
  const m = readTlsMaterial(sources());
  expect(m.crl).toHaveLength(1);
  expect(m.crl[0]).toMatch(/^-----BEGIN X509 CRL-----/);
  expect(m.warnings).toEqual([]);
});

test('a DER CRL is armoured as the PEM one', () => {
  const der = path.join(dir, 'crl.der');
  const pem = fs.readFileSync(crlPath, 'utf8');
  fs.writeFileSync(der, Buffer.from(pem.replace(/-----[A-Z0-9 ]+-----/g, '').replace(/\s+/g, ''), 'base64'));
  expect(readCrlFile(der).map((c) => c.pem)).toEqual([pem]);
});

test.each([
  ['a missing certificate', () => sources({ cert: path.join(dir, 'nope.pem') }), () => path.join(dir, 'nope.pem'), /cannot read the certificate: ENOENT/],
  ['a key that is not PEM', () => (fs.writeFileSync(path.join(dir, 'bad-key.pem'), 'garbage'), sources({ key: path.join(dir, 'bad-key.pem') })), () => path.join(dir, 'bad-key.pem'), /not a usable unencrypted PEM private key/],
  ['another certificate\'s key', () => sources({ key: path.join(pki.dir, 'bob-key.pem') }), () => path.join(pki.dir, 'bob-key.pem'), /is not the key of the certificate/],
  ['a CA file without certificates', () => (fs.writeFileSync(path.join(dir, 'empty-ca.pem'), ''), sources({ ca: path.join(dir, 'empty-ca.pem') })), () => path.join(dir, 'empty-ca.pem'), /holds no PEM certificate/],
  ['a CRL that is not one', () => (fs.writeFileSync(path.join(dir, 'bad.crl'), 'x'.repeat(100)), sources({ crl: [path.join(dir, 'bad.crl')] })), () => path.join(dir, 'bad.crl'), /not a CRL/],
])('%s: refused naming the file', (_name, src, file, message) => {
  const e = failure(src());
  expect(e.file).toBe(file());
  expect(e.message).toMatch(message);
});

test('a CRL under our CA\'s name signed by another key is refused; one of an unknown CA is a warning', async () => {
  // A second CA with the very same name (what a CA made anew looks like).
  const impostor = path.join(dir, 'impostor');
  createCertificateAuthority(impostor);
  issueClientCertificate(impostor, 'eve', impostor);
  const forged = (await revokeCertificate(impostor, path.join(impostor, 'eve.pem'))).crlPath;
  const e = failure(sources({ crl: [forged] }));
  expect(e.file).toBe(forged);
  expect(e.message).toMatch(/not signed by the CA it names/);

  const stranger = path.join(dir, 'stranger');
  createCertificateAuthority(stranger, { commonName: 'Another CA' });
  issueClientCertificate(stranger, 'zed', stranger);
  const foreign = (await revokeCertificate(stranger, path.join(stranger, 'zed.pem'))).crlPath;
  expect(readTlsMaterial(sources({ crl: [foreign] })).warnings).toEqual([expect.stringMatching(/its issuer is none of the CAs/)]);
});

test('a CRL past its next update is served with a warning naming it', async () => {
  const old = path.join(dir, 'old');
  const day = 24 * 3600 * 1000;
  createCertificateAuthority(old, { notBefore: new Date(Date.now() - 3 * day), notAfter: new Date(Date.now() - day) });
  issueServerCertificate(old, old, { notBefore: new Date(Date.now() - 2 * day) });
  issueClientCertificate(old, 'bob', old);
  const stale = (await revokeCertificate(old, path.join(old, 'bob.pem'))).crlPath;
  const m = readTlsMaterial({ cert: path.join(old, 'server.pem'), key: path.join(old, 'server-key.pem'), ca: path.join(old, 'ca.pem'), crl: [stale] });
  expect(m.warnings).toEqual([expect.stringContaining(`${stale}: the CRL's next update`)]);
});
