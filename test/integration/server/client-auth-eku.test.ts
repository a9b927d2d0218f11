/**
 * requireClientAuthEku (pykmip-server's enable_tls_client_auth) over real TLS: on, a client
 * certificate must list Extended Key Usage clientAuth; off, a CA-signed certificate without any EKU
 * is accepted. Either way a client certificate is required (mutual TLS).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Operation, ResultStatus } from '../../../src/spec/generated/enums';
import { startListener, type RunningListener } from '../../../src/server/listener';
import { parseResponse, requestMessage } from '../../helpers/kmip-client';
import { listenerOptions, useTestListener } from '../../helpers/test-listener';
import { KmipTlsClient } from '../../helpers/tls-client';

const t = useTestListener({ requireClientAuthEku: false });
let strict: RunningListener;
let noEku: { cert: Buffer; key: Buffer };
let serverEkuOnly: { cert: Buffer; key: Buffer };

function openssl(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => execFile('openssl', args, { timeout: 30_000 }, (e, _out, err) => (e ? reject(new Error(err)) : resolve())));
}

beforeAll(async () => {
  strict = await startListener(t.embedded.core, listenerOptions(t.pki, { requireClientAuthEku: true }));
  // A certificate from the same CA with no Extended Key Usage extension at all.
  const base = path.join(t.dir, 'noeku');
  await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${base}-key.pem`]);
  await openssl(['req', '-new', '-key', `${base}-key.pem`, '-subj', '/CN=noeku', '-out', `${base}.csr`]);
  await openssl(['x509', '-req', '-in', `${base}.csr`, '-CA', t.pki.caPath, '-CAkey', t.pki.caKeyPath, '-set_serial', '78', '-days', '1', '-out', `${base}.pem`]);
  noEku = { cert: fs.readFileSync(`${base}.pem`), key: fs.readFileSync(`${base}-key.pem`) };
  // And one whose EKU names serverAuth only.
  fs.writeFileSync(`${base}.ext`, 'extendedKeyUsage = serverAuth\n');
  await openssl(['x509', '-req', '-in', `${base}.csr`, '-CA', t.pki.caPath, '-CAkey', t.pki.caKeyPath, '-set_serial', '79', '-days', '1', '-extfile', `${base}.ext`, '-out', `${base}-server.pem`]);
  serverEkuOnly = { cert: fs.readFileSync(`${base}-server.pem`), key: noEku.key };
}, 60_000);
afterAll(async () => {
  await strict.close();
});

async function query(port: number, creds: { cert: Buffer; key: Buffer }): Promise<number> {
  const client = await KmipTlsClient.connect({ port, ca: fs.readFileSync(t.pki.caPath), ...creds });
  try {
    return parseResponse(await client.request(requestMessage({ major: 1, minor: 4 }, [{ operation: Operation.Query, payload: [] }]))).items[0]!.status;
  } finally {
    client.close();
  }
}

const devClient = () => ({ cert: fs.readFileSync(t.pki.clientCertPath), key: fs.readFileSync(t.pki.clientKeyPath) });

test('off: a certificate without EKU is served', async () => {
  expect(await query(t.listener.address.port, noEku)).toBe(ResultStatus.Success);
});

test('on: a certificate without EKU is closed and audited; one with clientAuth is served', async () => {
  const before = t.audit.records.length;
  await expect(query(strict.address.port, noEku)).rejects.toThrow(/closed|reset|EPIPE|disconnected/);
  expect(t.audit.records.slice(before)).toEqual(
    expect.arrayContaining([expect.objectContaining({ event: 'connection-rejected', reason: 'client certificate has no Extended Key Usage clientAuth' })]),
  );
  expect(await query(strict.address.port, devClient())).toBe(ResultStatus.Success);
});

test('off or on: an EKU that leaves out clientAuth is refused (OpenSSL checks the purpose)', async () => {
  const before = t.audit.records.length;
  await expect(query(t.listener.address.port, serverEkuOnly)).rejects.toThrow(/closed|reset|EPIPE|disconnected/);
  await expect(query(strict.address.port, serverEkuOnly)).rejects.toThrow(/closed|reset|EPIPE|disconnected/);
  const rejected = t.audit.records.slice(before).filter((r) => r.event === 'connection-rejected');
  expect(rejected).toHaveLength(2);
  for (const r of rejected) expect(r.reason).toBe('client certificate rejected: INVALID_PURPOSE');
});
