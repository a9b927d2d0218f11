/**
 * `kmip-server start --https-listen` as a real process with two workers: KMIP over HTTPS served
 * beside port 5696 by the same processes, and every HTTPS request in the audit file on disk before
 * its answer (the primary owns the file; workers answer once it is synced).
 */
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { kmipDictionary } from '../../../src/spec/dictionary';
import { Operation, ResultStatus } from '../../../src/spec/generated/enums';
import { decodeTtlv } from '../../../ttlv/decode';
import { encodeTtlv } from '../../../ttlv/encode';
import { parseKmipJson, renderKmipJson } from '../../../ttlv/json';
import { parseResponse, requestMessage } from '../../helpers/kmip-client';
import { connectClient, startServerProcess, type ServerProcess } from '../../helpers/server-process';
import { waitFor } from '../../helpers/wait';

let server: ServerProcess;

beforeAll(async () => {
  server = await startServerProcess({ extraArgs: ['--https-listen', '127.0.0.1:0', '--workers', '2'] });
}, 150_000);

afterAll(async () => {
  await server?.stop();
  if (server) fs.rmSync(server.dataDir, { recursive: true, force: true });
});

function post(contentType: string, body: Buffer, base: 'client' | 'admin' = 'client'): Promise<{ status: number; type?: string; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port: server.httpsPort,
        servername: 'localhost',
        method: 'POST',
        path: '/kmip',
        ca: fs.readFileSync(path.join(server.pkiDir, 'ca.pem')),
        cert: fs.readFileSync(path.join(server.pkiDir, `${base}.pem`)),
        key: fs.readFileSync(path.join(server.pkiDir, `${base}-key.pem`)),
        agent: false,
        headers: { 'Content-Type': contentType, 'Content-Length': body.length },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body: Buffer.concat(chunks) }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function auditLines(): Record<string, unknown>[] {
  return fs
    .readFileSync(path.join(server.dataDir, 'audit.log'), 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

test('the listening line names the HTTPS port; both ports answer', async () => {
  expect(server.httpsPort).toBeGreaterThan(0);
  expect(server.httpsPort).not.toBe(server.port);
  const tlsClient = await connectClient(server);
  try {
    const r = parseResponse(await tlsClient.request(requestMessage({ major: 1, minor: 4 }, [{ operation: Operation.DiscoverVersions, payload: [] }])));
    expect(r.items[0]!.status).toBe(ResultStatus.Success);
  } finally {
    tlsClient.close();
  }
});

test('binary and JSON requests over HTTPS are answered and audited on disk before the answer, with the certificate identity', async () => {
  const query = requestMessage({ major: 2, minor: 1 }, [{ operation: Operation.Query, payload: [] }]);
  const binary = await post('application/octet-stream', Buffer.from(query));
  expect(binary.status).toBe(200);
  expect(parseResponse(binary.body).items[0]!.status).toBe(ResultStatus.Success);
  // Durable before the answer: the record is in the file as soon as the response is in hand.
  const afterBinary = auditLines().filter((r) => r['event'] === 'operation' && r['operation'] === 'Query' && r['protocolVersion'] === '2.1');
  expect(afterBinary).toHaveLength(1);
  expect(afterBinary[0]).toMatchObject({ client: 'client', resultStatus: 'Success' });

  const json = renderKmipJson(decodeTtlv(requestMessage({ major: 1, minor: 3 }, [{ operation: Operation.Query, payload: [] }])), kmipDictionary);
  const answered = await post('application/json', Buffer.from(json), 'admin');
  expect(answered.status).toBe(200);
  expect(answered.type).toBe('application/json');
  expect(parseResponse(encodeTtlv(parseKmipJson(answered.body.toString('utf8'), kmipDictionary))).version).toEqual({ major: 1, minor: 3 });
  const records = auditLines().filter((r) => r['event'] === 'operation' && r['operation'] === 'Query' && r['protocolVersion'] === '1.3');
  expect(records).toHaveLength(1);
  expect(records[0]).toMatchObject({ client: 'admin', resultStatus: 'Success' });
});

test('a refused HTTPS request is in the audit file too', async () => {
  const r = await post('text/plain', Buffer.from('hello'));
  expect(r.status).toBe(415);
  // The refusal is recorded before the answer is written, but as an ordinary record: wait for its sync.
  await waitFor('the 415 in the audit file', () => auditLines().some((a) => a['event'] === 'message-rejected' && String(a['reason']).startsWith('HTTP 415')));
});
