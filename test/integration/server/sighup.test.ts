/**
 * SIGHUP on a real server process (dev PKI, real TLS): it reopens the audit file by name (logrotate
 * renamed it) and serves new handshakes with the TLS files read again, never dropping a connection;
 * a bad file leaves the previous certificate in service with one line naming the file.
 */
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { issueClientCertificate, issueServerCertificate } from '../../../src/pki/dev-pki';
import { Operation, ResultStatus } from '../../../src/spec/generated/enums';
import { parseResponse, requestMessage } from '../../helpers/kmip-client';
import { startServerProcess, type ServerProcess } from '../../helpers/server-process';
import { KmipTlsClient } from '../../helpers/tls-client';
import { attempt, auditRecords, credentials, logLines, sighup, waitFor, type Credentials } from '../../helpers/tls-attempt';

jest.setTimeout(180_000);

let server: ServerProcess;
let clientDir: string;
let alice: Credentials;
/** A connection opened before any SIGHUP, used after each one. */
let standing: KmipTlsClient;

async function query(c: KmipTlsClient): Promise<number> {
  return parseResponse(await c.request(requestMessage({ major: 1, minor: 4 }, [{ operation: Operation.Query, payload: [] }]))).items[0]!.status;
}

function serialOf(file: string): string {
  return new X509Certificate(fs.readFileSync(file)).serialNumber;
}

beforeAll(async () => {
  server = await startServerProcess();
  clientDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-sighup-'));
  issueClientCertificate(server.pkiDir, 'alice', clientDir);
  alice = credentials(path.join(server.pkiDir, 'ca.pem'), clientDir, 'alice');
  standing = await KmipTlsClient.connect({ port: server.port, ...alice });
  expect(await query(standing)).toBe(ResultStatus.Success);
});

afterAll(async () => {
  standing?.close();
  const code = await server.stop('SIGTERM');
  fs.rmSync(server.dataDir, { recursive: true, force: true });
  fs.rmSync(clientDir, { recursive: true, force: true });
  expect(code).toBe(0);
});

test('SIGHUP leaves the server running and the open connection working; the audit file renamed before it is followed by a new one', async () => {
  const auditFile = path.join(server.dataDir, 'audit.log');
  const queriesBy = (file: string) => auditRecords(file).filter((r) => r.operation === 'Query' && r.client === 'alice').length;
  await waitFor('the first Query in the audit file', () => queriesBy(auditFile) === 1);
  // What logrotate does: rename, then signal.
  fs.renameSync(auditFile, `${auditFile}.1`);
  const line = await sighup(server);
  expect(line.msg).toBe('reloaded');
  expect(server.child.exitCode).toBeNull();
  expect(server.child.signalCode).toBeNull();

  expect(await query(standing)).toBe(ResultStatus.Success);
  const fresh = await attempt(server.port, alice);
  expect(fresh.served).toBe(true);
  await waitFor('both Queries after the reload in the new audit file', () => queriesBy(auditFile) === 2);
  expect(fs.statSync(auditFile).mode & 0o777).toBe(0o600);
  // The renamed file keeps what was written before, and gets nothing after.
  expect(queriesBy(`${auditFile}.1`)).toBe(1);
});

test('a renewed server certificate, written in place, is served to new connections after SIGHUP; the open connection stays up', async () => {
  const certFile = path.join(server.pkiDir, 'server.pem');
  const oldSerial = serialOf(certFile);
  const oldValidTo = new X509Certificate(fs.readFileSync(certFile)).validTo;
  expect((await attempt(server.port, alice)).serverSerial).toBe(oldSerial);
  const renewed = issueServerCertificate(server.pkiDir, server.pkiDir, { fileBase: 'server', notAfter: new Date(Date.now() + 30 * 24 * 3600 * 1000) });
  const newSerial = serialOf(renewed.certPath);
  expect(newSerial).not.toBe(oldSerial);
  // Not before the signal: the files alone change nothing.
  expect((await attempt(server.port, alice)).serverSerial).toBe(oldSerial);

  const line = await sighup(server);
  const newValidTo = new X509Certificate(renewed.certPem).validTo;
  expect(newValidTo).not.toBe(oldValidTo);
  expect(line).toEqual(expect.objectContaining({ msg: 'reloaded', certificate: expect.objectContaining({ serial: newSerial, validTo: newValidTo }) }));
  const after = await attempt(server.port, alice);
  expect(after.served).toBe(true);
  expect(after.serverSerial).toBe(newSerial);
  expect(await query(standing)).toBe(ResultStatus.Success);
});

test('a bad file on SIGHUP: the previous certificate stays in service and one line names the file', async () => {
  const certFile = path.join(server.pkiDir, 'server.pem');
  const keyFile = path.join(server.pkiDir, 'server-key.pem');
  const serving = serialOf(certFile);
  const goodCert = fs.readFileSync(certFile);

  // Not PEM at all.
  fs.writeFileSync(certFile, 'this is not a certificate\n');
  let line = await sighup(server);
  expect(line.msg).toBe('reload failed');
  expect(String(line.error)).toContain(certFile);
  expect(String(line.error)).toMatch(/no PEM certificate.*still serving the previous/);
  expect(logLines(server, 'reload failed')).toHaveLength(1);
  expect(server.child.exitCode).toBeNull();
  let next = await attempt(server.port, alice);
  expect(next.served).toBe(true);
  expect(next.serverSerial).toBe(serving);

  // A valid certificate whose key is not the one beside it.
  const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-sighup-other-'));
  try {
    fs.writeFileSync(certFile, issueServerCertificate(server.pkiDir, elsewhere, { fileBase: 'server' }).certPem);
  } finally {
    fs.rmSync(elsewhere, { recursive: true, force: true });
  }
  line = await sighup(server);
  expect(line.msg).toBe('reload failed');
  expect(String(line.error)).toContain(`${keyFile}: this key is not the key of the certificate in ${certFile}`);
  next = await attempt(server.port, alice);
  expect(next.served).toBe(true);
  expect(next.serverSerial).toBe(serving);
  expect(await query(standing)).toBe(ResultStatus.Success);

  // Put right, the next SIGHUP takes it.
  fs.writeFileSync(certFile, goodCert);
  line = await sighup(server);
  expect(line.msg).toBe('reloaded');
  expect((await attempt(server.port, alice)).serverSerial).toBe(serving);
});
