/**
 * The metrics endpoint of a real server process (`metrics.listen`): /metrics moves with real KMIP
 * requests over mTLS (requests by operation, version and result, latency, connections, refusals,
 * HSM calls, group commits, objects by type and state), promtool accepts what it writes, /readyz
 * answers 503 naming the HSM while its token is really away and naming the store while its file is
 * gone, metrics.tls takes only client certificates of the server's CA, and with two workers the
 * primary serves the sum of both.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { ttlv, type TtlvStructure } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import { Operation } from '../../../src/spec/generated/enums';
import { connectClient, startServerProcess, type ServerProcess } from '../../helpers/server-process';
import type { KmipTlsClient } from '../../helpers/tls-client';
import { parseResponse, registerAesPayload, requestMessage, successPayload, textOf } from '../../helpers/kmip-client';
import { httpGet, metricsPortOf, sample } from '../../helpers/metrics-scrape';
import { probeError, requireEnvironment } from '../../helpers/environment';
import { waitFor } from '../../helpers/wait';
import { sighup } from '../../helpers/tls-attempt';
import { issueServerCertificate } from '../../../src/pki/dev-pki';

jest.setTimeout(180_000);

const V = { major: 1, minor: 4 };

const withPromtool = requireEnvironment('promtool (Debian package prometheus)', probeError(() => execFileSync('promtool', ['--version'], { stdio: 'pipe' })));

/** promtool's verdict on a scrape: its output, and whether it exited 0. */
function promtoolCheck(text: string): { ok: boolean; output: string } {
  try {
    return { ok: true, output: execFileSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', stdio: 'pipe' }) };
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    return { ok: false, output: `${err.stdout ?? ''}${err.stderr ?? ''}` };
  }
}

async function register(c: KmipTlsClient): Promise<string> {
  const answer = parseResponse(await c.request(requestMessage(V, [{ operation: Operation.Register, payload: registerAesPayload(randomBytes(32)) }])));
  return textOf(successPayload(answer), Tag.UniqueIdentifier)!;
}

async function get(c: KmipTlsClient, uid: string): Promise<TtlvStructure | undefined> {
  const answer = parseResponse(await c.request(requestMessage(V, [{ operation: Operation.Get, payload: [ttlv.textString(Tag.UniqueIdentifier, uid)] }])));
  return answer.items[0]!.payload;
}

/** Starts a server with `metrics` in its configuration file; returns it and its metrics port. */
async function startWithMetrics(metrics: Record<string, unknown>, extraArgs: string[] = []): Promise<{ server: ServerProcess; port: number }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-metrics-'));
  const config = path.join(dir, 'config.json');
  fs.writeFileSync(config, JSON.stringify({ metrics }));
  const server = await startServerProcess({ dataDir: path.join(dir, 'data'), extraArgs: ['--config', config, ...extraArgs] });
  return { server, port: metricsPortOf(server.output()) };
}

async function stop(server: ServerProcess | undefined): Promise<void> {
  if (!server) return;
  expect(await server.stop('SIGTERM')).toBe(0);
  fs.rmSync(path.dirname(server.dataDir), { recursive: true, force: true });
}

describe('one process, metrics on loopback', () => {
  let server: ServerProcess;
  let port: number;
  let client: KmipTlsClient | undefined;

  beforeAll(async () => {
    ({ server, port } = await startWithMetrics({ listen: '127.0.0.1:0' }, ['--https-listen', '127.0.0.1:0']));
  });

  afterAll(async () => {
    client?.close();
    await stop(server);
  });

  test('/healthz answers; another path is 404, another method 405', async () => {
    expect(await httpGet(port, '/healthz')).toMatchObject({ status: 200, body: 'ok\n' });
    expect((await httpGet(port, '/keys')).status).toBe(404);
    expect((await httpGet(port, '/metrics', { method: 'POST' })).status).toBe(405);
  });

  test('real requests move the request, connection, HSM, store and object metrics', async () => {
    const before = (await httpGet(port, '/metrics')).body;
    client = await connectClient(server);
    const uids = [await register(client), await register(client)];
    expect(await get(client, uids[0]!)).toBeDefined();
    await get(client, 'no-such-object');
    const after = await httpGet(port, '/metrics');
    expect(after.status).toBe(200);
    expect(after.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    const m = after.body;
    const moved = (name: string, labels: Record<string, string> = {}) => sample(m, name, labels) - sample(before, name, labels);
    expect(moved('kmip_requests_total', { operation: 'Register', version: '1.4', result: 'Success' })).toBe(2);
    expect(moved('kmip_requests_total', { operation: 'Get', version: '1.4', result: 'Success' })).toBe(1);
    expect(moved('kmip_requests_total', { operation: 'Get', version: '1.4', result: 'OperationFailed', reason: 'ItemNotFound' })).toBe(1);
    expect(moved('kmip_request_duration_seconds_count', { operation: 'Register' })).toBe(2);
    expect(moved('kmip_request_duration_seconds_bucket', { operation: 'Get', le: '+Inf' })).toBe(2);
    expect(sample(m, 'kmip_connections_open', { transport: 'ttlv' })).toBe(1);
    expect(moved('kmip_connections_total', { transport: 'ttlv' })).toBe(1);
    // Register wraps each key under the KEK in the HSM; Get unwraps it.
    expect(moved('kmip_hsm_call_duration_seconds_count', { call: 'protect' })).toBe(2);
    expect(moved('kmip_hsm_call_duration_seconds_count', { call: 'unprotect' })).toBeGreaterThanOrEqual(1);
    expect(moved('kmip_store_commit_duration_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(moved('kmip_store_commit_group_size_sum')).toBeGreaterThanOrEqual(2);
    expect(moved('kmip_store_sync_duration_seconds_count')).toBeGreaterThanOrEqual(1);
    // Objects are counted at most every 5 s (off the event loop): the count catches up within that.
    await waitFor('the two keys to be counted', async () => sample((await httpGet(port, '/metrics')).body, 'kmip_objects', { type: 'SymmetricKey', state: 'PreActive' }) === 2);
    expect(m).toMatch(/^kmip_audit_backlog \d+$/m);
  });

  test('a connection refused at the handshake is counted by its reason', async () => {
    const before = sample((await httpGet(port, '/metrics')).body, 'kmip_connections_refused_total', { reason: 'no_client_certificate' });
    // No client certificate: the server completes the handshake, then refuses and audits it.
    await new Promise<void>((resolve) => {
      const s = tls.connect({ host: '127.0.0.1', port: server.port, ca: fs.readFileSync(path.join(server.pkiDir, 'ca.pem')), servername: 'localhost' });
      s.on('error', () => resolve());
      s.on('close', () => resolve());
    });
    await waitFor('the refusal to be counted', async () => {
      const now = sample((await httpGet(port, '/metrics')).body, 'kmip_connections_refused_total', { reason: 'no_client_certificate' });
      return now === before + 1 ? true : undefined;
    });
  });

  test('KMIP over HTTPS counts its connections under transport "https", and an HTTP refusal as a rejected message', async () => {
    const before = (await httpGet(port, '/metrics')).body;
    const post = (contentType: string, body: Uint8Array) =>
      new Promise<number>((resolve, reject) => {
        const req = https.request(
          {
            host: '127.0.0.1',
            port: server.httpsPort,
            path: '/kmip',
            method: 'POST',
            agent: false,
            servername: 'localhost',
            ca: fs.readFileSync(path.join(server.pkiDir, 'ca.pem')),
            cert: fs.readFileSync(path.join(server.pkiDir, 'client.pem')),
            key: fs.readFileSync(path.join(server.pkiDir, 'client-key.pem')),
            headers: { 'Content-Type': contentType, 'Content-Length': body.length },
          },
          (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          },
        );
        req.on('error', reject);
        req.end(Buffer.from(body));
      });
    const query = requestMessage(V, [{ operation: Operation.Query, payload: [] }]);
    expect(await post('application/octet-stream', query)).toBe(200);
    expect(await post('image/png', query)).toBe(415);
    const after = (await httpGet(port, '/metrics')).body;
    const moved = (name: string, labels: Record<string, string>) => sample(after, name, labels) - sample(before, name, labels);
    expect(moved('kmip_requests_total', { operation: 'Query', version: '1.4', result: 'Success' })).toBe(1);
    expect(moved('kmip_connections_total', { transport: 'https' })).toBe(2);
    expect(moved('kmip_messages_rejected_total', { reason: 'http_415' })).toBe(1);
    await waitFor('both HTTPS connections to be closed', async () => sample((await httpGet(port, '/metrics')).body, 'kmip_connections_open', { transport: 'https' }) === 0);
  });

  withPromtool.test('promtool check metrics accepts the output', async () => {
    const text = (await httpGet(port, '/metrics')).body;
    expect(text).toMatch(/kmip_requests_total\{/);
    const verdict = promtoolCheck(text);
    expect(verdict.output).toBe('');
    expect(verdict.ok).toBe(true);
  });

  test('/readyz: 503 naming the HSM while its token is away, and the store while its file is gone; 200 once back', async () => {
    expect(await httpGet(port, '/readyz')).toMatchObject({ status: 200, body: 'ready\n' });
    const c = await connectClient(server);
    const uid = await register(c);
    const unavailable = { call: 'unprotect', code: 'HSM_UNAVAILABLE' };
    const errorsBefore = sample((await httpGet(port, '/metrics')).body, 'kmip_hsm_errors_total', unavailable);
    const tokens = path.join(server.dataDir, 'softhsm', 'tokens');
    fs.renameSync(tokens, `${tokens}.away`);
    try {
      const away = await httpGet(port, '/readyz');
      expect(away.status).toBe(503);
      expect(away.body).toMatch(/^not ready: hsm: HSM unavailable/);
      // A Get needs the HSM to unwrap the key: it fails, and the failed call is counted by its code.
      expect(await get(c, uid)).toBeUndefined();
      expect(sample((await httpGet(port, '/metrics')).body, 'kmip_hsm_errors_total', unavailable)).toBe(errorsBefore + 1);
    } finally {
      c.close();
      fs.renameSync(`${tokens}.away`, tokens);
    }
    // The protector reconnects at its own pace: ready again without a restart.
    await waitFor('readiness after the token is back', async () => (await httpGet(port, '/readyz')).status === 200, { timeoutMs: 60_000, intervalMs: 200 });
    const storeFile = path.join(server.dataDir, 'kmip.sqlite');
    fs.renameSync(storeFile, `${storeFile}.moved`);
    try {
      const gone = await httpGet(port, '/readyz');
      expect(gone.status).toBe(503);
      expect(gone.body).toBe(`not ready: store: the store file ${storeFile} is gone (ENOENT)\n`);
    } finally {
      fs.renameSync(`${storeFile}.moved`, storeFile);
    }
    expect((await httpGet(port, '/readyz')).status).toBe(200);
  });
});

describe('metrics.tls', () => {
  let server: ServerProcess;
  let port: number;

  beforeAll(async () => {
    ({ server, port } = await startWithMetrics({ listen: '127.0.0.1:0', tls: true }));
  });

  afterAll(() => stop(server));

  test('a client certificate of the server\'s CA scrapes; a request without one is refused in the handshake', async () => {
    const ca = fs.readFileSync(path.join(server.pkiDir, 'ca.pem'));
    const withCert = await httpGet(port, '/metrics', {
      tls: { ca, cert: fs.readFileSync(path.join(server.pkiDir, 'client.pem')), key: fs.readFileSync(path.join(server.pkiDir, 'client-key.pem')), servername: 'localhost' },
    });
    expect(withCert.status).toBe(200);
    expect(withCert.body).toMatch(/# TYPE kmip_requests_total counter/);
    await expect(httpGet(port, '/metrics', { tls: { ca, servername: 'localhost' } })).rejects.toThrow(/certificate|socket|ECONNRESET/i);
    // Not plain HTTP either.
    await expect(httpGet(port, '/healthz')).rejects.toThrow();
  });

  test('SIGHUP: the endpoint serves the renewed server certificate to new handshakes, as the KMIP port does', async () => {
    const creds = {
      ca: fs.readFileSync(path.join(server.pkiDir, 'ca.pem')),
      cert: fs.readFileSync(path.join(server.pkiDir, 'client.pem')),
      key: fs.readFileSync(path.join(server.pkiDir, 'client-key.pem')),
      servername: 'localhost',
    };
    const servedSerial = () =>
      new Promise<string>((resolve, reject) => {
        const s = tls.connect({ host: '127.0.0.1', port, ...creds }, () => {
          resolve(s.getPeerCertificate().serialNumber);
          s.destroy();
        });
        s.on('error', reject);
      });
    const before = await servedSerial();
    const renewed = issueServerCertificate(server.pkiDir, server.pkiDir, { fileBase: 'server' });
    const serial = new X509Certificate(renewed.certPem).serialNumber;
    expect(serial).not.toBe(before);
    expect((await sighup(server)).msg).toBe('reloaded');
    expect(await servedSerial()).toBe(serial);
    expect((await httpGet(port, '/readyz', { tls: creds })).status).toBe(200);
  });
});

describe('two workers', () => {
  let server: ServerProcess;
  let port: number;
  const clients: KmipTlsClient[] = [];

  beforeAll(async () => {
    ({ server, port } = await startWithMetrics({ listen: '127.0.0.1:0' }, ['--workers', '2']));
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    await stop(server);
  });

  test('the primary serves the sum over the workers, and one reading of the objects', async () => {
    // Connections are dealt to the workers in turn: six reach both.
    for (let i = 0; i < 6; i++) clients.push(await connectClient(server));
    for (const c of clients) await register(c);
    const m = (await httpGet(port, '/metrics')).body;
    expect(sample(m, 'kmip_requests_total', { operation: 'Register', result: 'Success' })).toBe(6);
    expect(sample(m, 'kmip_request_duration_seconds_count', { operation: 'Register' })).toBe(6);
    expect(sample(m, 'kmip_connections_open', { transport: 'ttlv' })).toBe(6);
    expect(sample(m, 'kmip_hsm_call_duration_seconds_count', { call: 'protect' })).toBe(6);
    // The primary counts the store once: six objects, whatever the number of workers.
    await waitFor('the six keys to be counted', async () => sample((await httpGet(port, '/metrics')).body, 'kmip_objects', { type: 'SymmetricKey', state: 'PreActive' }) === 6);
    expect(m).toMatch(/^kmip_audit_backlog \d+$/m);
    expect(await httpGet(port, '/readyz')).toMatchObject({ status: 200, body: 'ready\n' });
  });

  withPromtool.test('promtool check metrics accepts the summed output', async () => {
    const verdict = promtoolCheck((await httpGet(port, '/metrics')).body);
    expect(verdict.output).toBe('');
    expect(verdict.ok).toBe(true);
  });

  test('/readyz asks every worker: 503 naming each one whose HSM is away, 200 once back', async () => {
    const tokens = path.join(server.dataDir, 'softhsm', 'tokens');
    fs.renameSync(tokens, `${tokens}.away`);
    try {
      const away = await httpGet(port, '/readyz');
      expect(away.status).toBe(503);
      const named = [...away.body.matchAll(/worker (\d+): hsm: HSM unavailable/g)].map((m) => Number(m[1]));
      expect(new Set(named).size).toBe(2);
    } finally {
      fs.renameSync(`${tokens}.away`, tokens);
    }
    await waitFor('readiness after the token is back', async () => (await httpGet(port, '/readyz')).status === 200, { timeoutMs: 60_000, intervalMs: 200 });
  });
});
