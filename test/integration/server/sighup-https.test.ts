/**
 * SIGHUP on a real server process serving both port 5696 and KMIP over HTTPS (dev PKI, real TLS):
 * one reload reaches both listeners. A renewed server certificate is presented on both ports to new
 * connections, and a client certificate revoked in the dev CRL is refused on both, while an HTTPS
 * connection opened before the signal keeps its session and is still answered.
 */
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { issueClientCertificate, issueServerCertificate } from '../../../src/pki/dev-pki';
import { revokeCertificate } from '../../../src/pki/dev-crl';
import { Operation, ResultStatus } from '../../../src/spec/generated/enums';
import { parseResponse, requestMessage } from '../../helpers/kmip-client';
import { startServerProcess, type ServerProcess } from '../../helpers/server-process';
import { attempt, credentials, sighup, type Credentials } from '../../helpers/tls-attempt';

jest.setTimeout(180_000);

let server: ServerProcess;
let clientDir: string;
let alice: Credentials;
let mallory: Credentials;

interface HttpsAttempt {
  /** 200 with a KMIP response whose item succeeded. */
  readonly served: boolean;
  readonly serverSerial: string | undefined;
}

const QUERY = Buffer.from(requestMessage({ major: 1, minor: 4 }, [{ operation: Operation.Query, payload: [] }]));
const REQUEST = (body: Buffer) =>
  Buffer.concat([Buffer.from(`POST /kmip HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/octet-stream\r\nContent-Length: ${body.length}\r\n\r\n`), body]);

/** Whether an HTTP response in `text` is a whole 200 whose KMIP item succeeded. */
function servedIn(raw: Buffer): boolean {
  const split = raw.indexOf('\r\n\r\n');
  if (split < 0 || !raw.subarray(0, 12).toString('latin1').startsWith('HTTP/1.1 200')) return false;
  const length = Number(/content-length: (\d+)/i.exec(raw.subarray(0, split).toString('latin1'))?.[1]);
  const body = raw.subarray(split + 4);
  return body.length === length && parseResponse(body).items[0]!.status === ResultStatus.Success;
}

/** A keep-alive HTTPS connection: each `ask` posts one Query and reads the whole answer. */
function httpsConnection(creds: Credentials): Promise<{ socket: tls.TLSSocket; ask(): Promise<boolean> }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port: server.httpsPort!, servername: 'localhost', ...creds });
    socket.once('error', reject);
    socket.once('secureConnect', () => {
      const ask = () =>
        new Promise<boolean>((answered) => {
          let raw = Buffer.alloc(0);
          const onData = (d: Buffer) => {
            raw = Buffer.concat([raw, d]);
            if (servedIn(raw)) done(true);
          };
          const onClose = () => done(false);
          const done = (ok: boolean) => {
            socket.off('data', onData);
            socket.off('close', onClose);
            answered(ok);
          };
          socket.on('data', onData);
          socket.once('close', onClose);
          socket.write(REQUEST(QUERY));
        });
      resolve({ socket, ask });
    });
  });
}

/** One HTTPS request on a new connection, as `attempt` makes one on port 5696. */
async function httpsAttempt(creds: Credentials): Promise<HttpsAttempt> {
  let conn: Awaited<ReturnType<typeof httpsConnection>>;
  try {
    conn = await httpsConnection(creds);
  } catch {
    return { served: false, serverSerial: undefined };
  }
  conn.socket.on('error', () => undefined);
  const serverSerial = conn.socket.getPeerCertificate().serialNumber;
  const served = await conn.ask();
  conn.socket.destroy();
  return { served, serverSerial };
}

function serialOf(file: string): string {
  return new X509Certificate(fs.readFileSync(file)).serialNumber;
}

beforeAll(async () => {
  server = await startServerProcess({ extraArgs: ['--https-listen', '127.0.0.1:0'] });
  clientDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-sighup-https-'));
  for (const cn of ['alice', 'mallory']) issueClientCertificate(server.pkiDir, cn, clientDir);
  const ca = path.join(server.pkiDir, 'ca.pem');
  alice = credentials(ca, clientDir, 'alice');
  mallory = credentials(ca, clientDir, 'mallory');
}, 150_000);

afterAll(async () => {
  const code = await server?.stop('SIGTERM');
  if (server) fs.rmSync(server.dataDir, { recursive: true, force: true });
  if (clientDir) fs.rmSync(clientDir, { recursive: true, force: true });
  expect(code).toBe(0);
});

test('one SIGHUP: the renewed server certificate on both ports, the revoked client refused on both, the open HTTPS connection still answered', async () => {
  expect(server.httpsPort).toBeGreaterThan(0);
  const oldSerial = serialOf(path.join(server.pkiDir, 'server.pem'));
  const standing = await httpsConnection(alice);
  standing.socket.on('error', () => undefined);
  expect(await standing.ask()).toBe(true);
  for (const who of [alice, mallory]) {
    expect(await attempt(server.port, who)).toMatchObject({ served: true, serverSerial: oldSerial });
    expect(await httpsAttempt(who)).toEqual({ served: true, serverSerial: oldSerial });
  }

  const renewed = issueServerCertificate(server.pkiDir, server.pkiDir, { fileBase: 'server', notAfter: new Date(Date.now() + 30 * 24 * 3600 * 1000) });
  const newSerial = serialOf(renewed.certPath);
  expect(newSerial).not.toBe(oldSerial);
  await revokeCertificate(server.pkiDir, path.join(clientDir, 'mallory.pem'));
  // The files alone change nothing on either port.
  expect(await httpsAttempt(mallory)).toEqual({ served: true, serverSerial: oldSerial });

  const line = await sighup(server);
  expect(line).toEqual(expect.objectContaining({ msg: 'reloaded', certificate: expect.objectContaining({ serial: newSerial }) }));
  expect(await attempt(server.port, alice)).toMatchObject({ served: true, serverSerial: newSerial });
  expect(await httpsAttempt(alice)).toEqual({ served: true, serverSerial: newSerial });
  expect((await attempt(server.port, mallory)).served).toBe(false);
  expect((await httpsAttempt(mallory)).served).toBe(false);
  // Open connections keep the context they were made with.
  expect(standing.socket.getPeerCertificate().serialNumber).toBe(oldSerial);
  expect(await standing.ask()).toBe(true);
  standing.socket.destroy();
});
