/**
 * KMIP over HTTPS (the HTTPS profile of KMIP Additional Message Encodings) over real mutual-TLS
 * sockets on 127.0.0.1:0: certificates made at test time, a real SQLite file, a real SoftHSM2 token,
 * and the audit sink the requests are recorded in.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import https from 'node:https';
import tls from 'node:tls';
import { ensureDevPki, type DevPki } from '../../../src/pki/dev-pki';
import { createEmbeddedCore, type EmbeddedCore } from '../../../src/embedded';
import { startHttpsListener } from '../../../src/server/https-listener';
import type { RunningListener } from '../../../src/server/listener';
import { MemoryAuditSink } from '../../../src/audit/audit-log';
import { kmipDictionary } from '../../../src/spec/dictionary';
import { Operation, ResultReason, ResultStatus } from '../../../src/spec/generated/enums';
import { decodeTtlv } from '../../../ttlv/decode';
import { encodeTtlv } from '../../../ttlv/encode';
import { parseKmipJson, renderKmipJson } from '../../../ttlv/json';
import { parseKmipXml, renderKmipXml } from '../../../ttlv/xml';
import { openTestProtector } from '../../helpers/hsm';
import { listenerOptions } from '../../helpers/test-listener';
import { parseResponse, requestMessage } from '../../helpers/kmip-client';
import { waitFor } from '../../helpers/wait';

const MAX_MESSAGE_BYTES = 64 * 1024;

let dir: string;
let pki: DevPki;
let embedded: EmbeddedCore;
let listener: RunningListener;
const audit = new MemoryAuditSink();

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-https-'));
  pki = ensureDevPki(path.join(dir, 'pki'));
  embedded = await createEmbeddedCore(path.join(dir, 'data'), { keys: await openTestProtector(), audit, maxMessageBytes: MAX_MESSAGE_BYTES });
  listener = await startHttpsListener(embedded.core, listenerOptions(pki));
});

afterAll(async () => {
  await listener.close();
  await embedded.close();
  await embedded.core.keys.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
}

/** One request on a new connection; the client's certificate is the dev PKI's client.pem unless told. */
function post(opts: { method?: string; path?: string; contentType?: string; body?: Uint8Array | string; chunked?: boolean; cert?: boolean }): Promise<Reply> {
  const body = opts.body === undefined ? undefined : Buffer.from(opts.body);
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port: listener.address.port,
        servername: 'localhost',
        method: opts.method ?? 'POST',
        path: opts.path ?? '/kmip',
        ca: fs.readFileSync(pki.caPath),
        ...(opts.cert === false ? {} : { cert: fs.readFileSync(pki.clientCertPath), key: fs.readFileSync(pki.clientKeyPath) }),
        agent: false,
        headers: {
          ...(opts.contentType !== undefined ? { 'Content-Type': opts.contentType } : {}),
          ...(body !== undefined && !opts.chunked ? { 'Content-Length': body.length } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (body !== undefined && opts.chunked) {
      // Written in pieces without a Content-Length: the limit must hold while the body streams.
      for (let i = 0; i < body.length; i += 16 * 1024) req.write(body.subarray(i, i + 16 * 1024));
      req.end();
    } else {
      req.end(body);
    }
  });
}

const V14 = { major: 1, minor: 4 };
const discover = () => requestMessage(V14, [{ operation: Operation.DiscoverVersions, payload: [] }]);

test('binary TTLV: application/octet-stream in, the same out, answered by the same core', async () => {
  const r = await post({ contentType: 'application/octet-stream', body: discover() });
  expect(r.status).toBe(200);
  expect(r.headers['content-type']).toBe('application/octet-stream');
  expect(r.headers['cache-control']).toBe('no-cache');
  const parsed = parseResponse(r.body);
  expect(parsed.items[0]!.operation).toBe(Operation.DiscoverVersions);
  expect(parsed.items[0]!.status).toBe(ResultStatus.Success);
});

test('KMIP XML: text/xml in, text/xml out', async () => {
  const xml = renderKmipXml(decodeTtlv(discover()), kmipDictionary);
  const r = await post({ contentType: 'text/xml; charset=utf-8', body: xml });
  expect(r.status).toBe(200);
  expect(r.headers['content-type']).toBe('text/xml');
  const tree = parseKmipXml(r.body.toString('utf8'), kmipDictionary);
  const parsed = parseResponse(encodeTtlv(tree));
  expect(parsed.items[0]!.status).toBe(ResultStatus.Success);
  expect(parsed.version).toEqual(V14);
});

test('KMIP JSON: application/json in, application/json out', async () => {
  const json = renderKmipJson(decodeTtlv(discover()), kmipDictionary);
  const r = await post({ contentType: 'application/json', body: json });
  expect(r.status).toBe(200);
  expect(r.headers['content-type']).toBe('application/json');
  const parsed = parseResponse(encodeTtlv(parseKmipJson(r.body.toString('utf8'), kmipDictionary)));
  expect(parsed.items[0]!.status).toBe(ResultStatus.Success);
});

test('wrong path, method and content type get 404, 405 (Allow: POST) and 415, each audited', async () => {
  const before = audit.records.length;
  expect((await post({ path: '/other', contentType: 'application/octet-stream', body: discover() })).status).toBe(404);
  const get = await post({ method: 'GET' });
  expect(get.status).toBe(405);
  expect(get.headers['allow']).toBe('POST');
  expect((await post({ contentType: 'text/plain', body: 'hello' })).status).toBe(415);
  expect((await post({ body: discover() })).status).toBe(415);
  const refused = await waitFor('four refusals audited', () => {
    const r = audit.records.slice(before).filter((a) => a.event === 'message-rejected');
    return r.length >= 4 && r;
  });
  expect(refused.map((a) => a.reason?.slice(0, 8))).toEqual(['HTTP 404', 'HTTP 405', 'HTTP 415', 'HTTP 415']);
  expect(refused.every((a) => a.client === 'client' && a.certificateFingerprint !== undefined)).toBe(true);
});

test('an oversize body is refused with 413: by its Content-Length, and while it streams without one', async () => {
  const big = Buffer.alloc(MAX_MESSAGE_BYTES + 1, 0x42);
  const declared = await post({ contentType: 'application/octet-stream', body: big });
  expect(declared.status).toBe(413);
  const streamed = await post({ contentType: 'application/octet-stream', body: Buffer.alloc(MAX_MESSAGE_BYTES * 3, 0x42), chunked: true }).catch((e: Error) => e);
  // The server answers 413 and closes; the client may see the answer or the reset of its unsent body.
  if (!(streamed instanceof Error)) expect(streamed.status).toBe(413);
  // Both refusals are audited, whatever the client saw: the one by Content-Length, the one while streaming.
  await waitFor('the oversize refusals audited', () => {
    const reasons = audit.records.filter((a) => a.reason?.startsWith('HTTP 413')).map((a) => a.reason);
    return reasons.some((r) => r?.includes(`body of ${MAX_MESSAGE_BYTES + 1} bytes`)) && reasons.some((r) => r?.includes('body above the limit'));
  });
});

test('a malformed body gets Invalid Message in the request encoding', async () => {
  const ttlv = await post({ contentType: 'application/octet-stream', body: Buffer.from('42007801000000ff', 'hex') });
  expect(ttlv.status).toBe(200);
  expect(parseResponse(ttlv.body).items[0]!.reason).toBe(ResultReason.InvalidMessage);

  const xml = await post({ contentType: 'text/xml', body: '<RequestMessage><Nonsense' });
  expect(xml.status).toBe(200);
  expect(xml.headers['content-type']).toBe('text/xml');
  expect(parseResponse(encodeTtlv(parseKmipXml(xml.body.toString('utf8'), kmipDictionary))).items[0]!.reason).toBe(ResultReason.InvalidMessage);

  const json = await post({ contentType: 'application/json', body: '{"tag": "RequestMessage", "value": [' });
  expect(json.status).toBe(200);
  expect(json.headers['content-type']).toBe('application/json');
  expect(parseResponse(encodeTtlv(parseKmipJson(json.body.toString('utf8'), kmipDictionary))).items[0]!.reason).toBe(ResultReason.InvalidMessage);
});

test('a client without a certificate is refused at the handshake and audited', async () => {
  const before = audit.records.length;
  const outcome = await post({ cert: false, contentType: 'application/octet-stream', body: discover() }).then(
    (r) => `answered ${r.status}`,
    () => 'refused',
  );
  expect(outcome).toBe('refused');
  await waitFor('the refusal audited', () => audit.records.slice(before).some((a) => a.event === 'connection-rejected' && a.reason === 'no client certificate'));
});

test('TLS below 1.2 is refused', async () => {
  const outcome = await new Promise<string>((resolve) => {
    const s = tls.connect({
      host: '127.0.0.1',
      port: listener.address.port,
      servername: 'localhost',
      ca: fs.readFileSync(pki.caPath),
      cert: fs.readFileSync(pki.clientCertPath),
      key: fs.readFileSync(pki.clientKeyPath),
      minVersion: 'TLSv1',
      maxVersion: 'TLSv1.1',
    });
    s.once('secureConnect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', () => resolve('refused'));
  });
  expect(outcome).toBe('refused');
});

test('requests over HTTPS are audited like those on port 5696, with the certificate identity', async () => {
  const before = audit.records.length;
  const r = await post({ contentType: 'application/octet-stream', body: requestMessage(V14, [{ operation: Operation.Query, payload: [] }]) });
  expect(r.status).toBe(200);
  const rec = audit.records.slice(before).find((a) => a.event === 'operation' && a.operation === 'Query');
  expect(rec).toMatchObject({ client: 'client', resultStatus: 'Success', protocolVersion: '1.4' });
  expect(rec?.certificateFingerprint).toMatch(/^[0-9a-f]{64}$/);
  expect(rec?.peer).toMatch(/^127\.0\.0\.1:\d+$/);
});

describe('bounds, on a listener with small ones', () => {
  let small: RunningListener;
  beforeAll(async () => {
    small = await startHttpsListener(embedded.core, listenerOptions(pki, { messageTimeoutMs: 400, maxConnections: 2 }));
  });
  afterAll(async () => {
    await small.close();
  });

  function tlsTo(port: number): Promise<tls.TLSSocket> {
    return new Promise((resolve, reject) => {
      const s = tls.connect({
        host: '127.0.0.1',
        port,
        servername: 'localhost',
        ca: fs.readFileSync(pki.caPath),
        cert: fs.readFileSync(pki.clientCertPath),
        key: fs.readFileSync(pki.clientKeyPath),
      });
      s.once('secureConnect', () => resolve(s));
      s.once('error', reject);
    });
  }

  /** Sends `data` (then nothing more) on a new connection; resolves with what came back once the server closed it. */
  async function sendAndWaitForClose(data: string): Promise<string> {
    const s = await tlsTo(small.address.port);
    let closed = false;
    let answer = '';
    s.on('data', (d: Buffer) => (answer += d.toString('latin1')));
    s.on('close', () => (closed = true));
    s.on('error', () => undefined);
    if (data !== '') s.write(data);
    await waitFor('the server to close the connection', () => closed);
    return answer;
  }

  const cutOff = (records: typeof audit.records) =>
    records.filter((a) => a.event === 'message-rejected' && a.reason === 'message not completed in time');

  test('a request that does not arrive whole within messageTimeoutMs is cut off with 408 and audited as on port 5696', async () => {
    const before = audit.records.length;
    // The head and part of the body, then nothing more.
    const answer = await sendAndWaitForClose('POST /kmip HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/octet-stream\r\nContent-Length: 100\r\n\r\nBBBB');
    expect(answer.startsWith('HTTP/1.1 408')).toBe(true);
    const records = cutOff(audit.records.slice(before));
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ client: 'client' });
    expect(records[0]?.peer).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(records[0]?.certificateFingerprint).toMatch(/^[0-9a-f]{64}$/);
  });

  test('a request head cut off before its end is audited too; a connection that sent nothing is closed unaudited', async () => {
    const before = audit.records.length;
    expect((await sendAndWaitForClose('POST /kmip HTTP/1.1\r\nHost: loc')).startsWith('HTTP/1.1 408')).toBe(true);
    expect(cutOff(audit.records.slice(before))).toHaveLength(1);
    const idleBefore = audit.records.length;
    await sendAndWaitForClose('');
    expect(audit.records.slice(idleBefore).filter((a) => a.event === 'message-rejected')).toEqual([]);
  });

  test('after a whole request is answered, a second one cut off on the same connection is audited once', async () => {
    const before = audit.records.length;
    const body = Buffer.from(discover()).toString('latin1');
    const head = `POST /kmip HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/octet-stream\r\nContent-Length: ${body.length}\r\n\r\n`;
    const answer = await sendAndWaitForClose(`${head}${body}POST /kmip HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/octet-stream\r\nContent-Length: 10\r\n\r\nab`);
    expect(answer.startsWith('HTTP/1.1 200')).toBe(true);
    expect(answer).toContain('HTTP/1.1 408');
    expect(cutOff(audit.records.slice(before))).toHaveLength(1);
  });

  test('a malformed HTTP request gets 400 (431 for a head too large) and is audited', async () => {
    const before = audit.records.length;
    expect((await sendAndWaitForClose('POST /kmip HTTP/1.1\r\nContent-Length: x\r\n\r\n')).startsWith('HTTP/1.1 400')).toBe(true);
    const rec = audit.records.slice(before).find((a) => a.event === 'message-rejected');
    expect(rec?.reason).toMatch(/^HTTP 400: malformed HTTP request \(HPE_/);
    expect(rec).toMatchObject({ client: 'client' });
    // A head above Node's size limit: 431, as Node answers it.
    const big = audit.records.length;
    expect((await sendAndWaitForClose(`POST /kmip HTTP/1.1\r\nX-Filler: ${'a'.repeat(20_000)}\r\n\r\n`)).startsWith('HTTP/1.1 431')).toBe(true);
    expect(audit.records.slice(big).find((a) => a.event === 'message-rejected')?.reason).toBe('HTTP 431: malformed HTTP request (HPE_HEADER_OVERFLOW)');
  });

  test('at the connection limit an idle connection that sent nothing is closed for a newcomer, and audited', async () => {
    const net = await import('node:net');
    const before = audit.records.length;
    const idle = net.connect(small.address.port, '127.0.0.1');
    let idleClosed = false;
    idle.on('close', () => (idleClosed = true));
    idle.on('error', () => undefined);
    await new Promise<void>((r) => idle.once('connect', () => r()));
    const busy = await tlsTo(small.address.port);
    const third = await tlsTo(small.address.port).catch(() => undefined);
    await waitFor('the idle connection closed', () => idleClosed);
    expect(audit.records.slice(before).some((a) => a.event === 'connection-rejected' && a.reason === 'connection limit reached: closed an idle connection that sent nothing')).toBe(true);
    busy.destroy();
    third?.destroy();
  });
});
