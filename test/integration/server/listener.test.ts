/**
 * The mutual-TLS t.listener over real sockets on 127.0.0.1:0, with certificates made at test time,
 * a real SQLite file and a real SoftHSM2 token.
 */
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { TtlvFramer } from '../../../ttlv/framer';
import { Tag } from '../../../src/spec/generated/tags';
import { CryptographicAlgorithm, ObjectType, Operation, ResultReason, ResultStatus } from '../../../src/spec/generated/enums';
import { ttlv } from '../../../ttlv/types';
import { ensureDevPki, issueClientCertificate } from '../../../src/pki/dev-pki';
import { startListener } from '../../../src/server/listener';
import { listenerOptions, useTestListener } from '../../helpers/test-listener';
import { attributesFor, parseResponse, requestMessage, successPayload, textOf } from '../../helpers/kmip-client';
import { waitFor } from '../../helpers/wait';
import { loopWaitsOnlyForAudit } from '../../../src/server/loop-demand';

const t = useTestListener();

function connect(opts: tls.ConnectionOptions): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port: t.listener.address.port, servername: 'localhost', ca: fs.readFileSync(t.pki.caPath), ...opts });
    s.once('secureConnect', () => resolve(s));
    s.once('error', reject);
  });
}

/** Sends messages and collects `count` framed responses (or fails on close). */
function exchange(s: tls.TLSSocket, messages: Uint8Array[], count: number): Promise<Uint8Array[]> {
  const framer = new TtlvFramer({ maxMessageBytes: 1 << 20 });
  const got: Uint8Array[] = [];
  return new Promise((resolve, reject) => {
    s.on('data', (d: Buffer) => {
      got.push(...framer.push(d));
      if (got.length >= count) resolve(got);
    });
    s.once('close', () => reject(new Error(`closed after ${got.length} responses`)));
    s.once('error', reject);
    for (const m of messages) s.write(m);
  });
}

/** True when the server ends the connection (a handshake failure or a close) without answering. */
function refused(opts: tls.ConnectionOptions): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port: t.listener.address.port, servername: 'localhost', ca: fs.readFileSync(t.pki.caPath), ...opts });
    s.once('secureConnect', () => s.write(requestMessage({ major: 1, minor: 4 }, [{ operation: Operation.DiscoverVersions, payload: [] }])));
    s.once('data', () => resolve(false));
    s.once('error', () => resolve(true));
    s.once('close', () => resolve(true));
  });
}

test('an open connection keeps audit syncs off the event loop while it is free to send; closed, it no longer does', async () => {
  await waitFor('no connection left by another test', () => loopWaitsOnlyForAudit());
  const s = await connect({ cert: fs.readFileSync(t.pki.clientCertPath), key: fs.readFileSync(t.pki.clientKeyPath) });
  await waitFor('the connection counted as free to send', () => !loopWaitsOnlyForAudit());
  const [response] = await exchange(s, [requestMessage({ major: 1, minor: 4 }, [{ operation: Operation.Query, payload: [] }])], 1);
  expect(parseResponse(response!).items[0]!.status).toBe(ResultStatus.Success);
  // Answered: free to send again.
  expect(loopWaitsOnlyForAudit()).toBe(false);
  s.destroy();
  await waitFor('the closed connection no longer counted', () => loopWaitsOnlyForAudit());
});

test('a client with a certificate from the CA is served, many requests in order on one connection', async () => {
  const s = await connect({ cert: fs.readFileSync(t.pki.clientCertPath), key: fs.readFileSync(t.pki.clientKeyPath) });
  expect(['TLSv1.2', 'TLSv1.3']).toContain(s.getProtocol());
  const queries = [1, 2, 3, 4, 5].map((minor) => requestMessage({ major: 1, minor: minor - 1 }, [{ operation: Operation.Query, payload: [] }]));
  const responses = await exchange(s, queries, 5);
  expect(responses.map((r) => parseResponse(r).version.minor)).toEqual([0, 1, 2, 3, 4]);
  for (const r of responses) expect(parseResponse(r).items[0]!.status).toBe(ResultStatus.Success);
  s.end();
});

test('no client certificate: refused and audited', async () => {
  const before = t.audit.records.filter((r) => r.event === 'connection-rejected').length;
  expect(await refused({})).toBe(true);
  // The server may see the failed handshake after the client does: wait for its record.
  await waitFor('a connection-rejected record', () => t.audit.records.filter((r) => r.event === 'connection-rejected').length > before);
});

test('a certificate from another CA is refused and audited with the reason', async () => {
  const rogueDir = path.join(t.dir, 'rogue');
  const roguePki = ensureDevPki(rogueDir);
  expect(await refused({ cert: fs.readFileSync(roguePki.clientCertPath), key: fs.readFileSync(roguePki.clientKeyPath) })).toBe(true);
  await waitFor('a connection-rejected record naming the certificate', () =>
    t.audit.records.some((r) => r.event === 'connection-rejected' && /certificate|verify|issuer/i.test(r.reason ?? '')),
  );
});

test('an expired client certificate is refused and audited', async () => {
  const files = issueClientCertificate(t.pki.dir, 'expired', path.join(t.dir, 'expired'), {
    notBefore: new Date(Date.now() - 10 * 86400_000),
    notAfter: new Date(Date.now() - 86400_000),
  });
  expect(await refused({ cert: files.certPem, key: files.keyPem })).toBe(true);
  await waitFor('a connection-rejected record with CERT_HAS_EXPIRED', () =>
    t.audit.records.some((r) => r.event === 'connection-rejected' && /CERT_HAS_EXPIRED/.test(r.reason ?? '')),
  );
});

test.each([['TLSv1' as const], ['TLSv1.1' as const]])('%s is refused and audited', async (version) => {
  const before = t.audit.records.length;
  expect(
    await refused({
      cert: fs.readFileSync(t.pki.clientCertPath),
      key: fs.readFileSync(t.pki.clientKeyPath),
      minVersion: version,
      maxVersion: version,
      ciphers: 'DEFAULT@SECLEVEL=0',
    }),
  ).toBe(true);
  await waitFor(`a connection-rejected record naming the ${version} protocol version`, () =>
    t.audit.records.slice(before).some((r) => r.event === 'connection-rejected' && /unsupported protocol|version/i.test(r.reason ?? '')),
  );
});

test('an over-size message closes the connection', async () => {
  const s = await connect({ cert: fs.readFileSync(t.pki.clientCertPath), key: fs.readFileSync(t.pki.clientKeyPath) });
  const header = Buffer.from([0x42, 0x00, 0x78, 0x01, 0x7f, 0xff, 0xff, 0xf8]); // announces ~2 GB
  const before = t.audit.records.length;
  await expect(exchange(s, [header], 1)).rejects.toThrow(/closed/);
  const audited = t.audit.records.slice(before).filter((r) => r.event === 'message-rejected');
  expect(audited).toHaveLength(1);
  expect(audited[0]!.client).toBe('client');
  expect(audited[0]!.reason).toBe('TTLV_TOO_LARGE');
});

test('each client identity sees only its own objects over TLS', async () => {
  const v = { major: 1, minor: 4 };
  const owner = await connect({ cert: fs.readFileSync(t.pki.clientCertPath), key: fs.readFileSync(t.pki.clientKeyPath) });
  const [created] = await exchange(
    owner,
    [
      requestMessage(v, [
        {
          operation: Operation.Create,
          payload: [
            ttlv.enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
            attributesFor(v, [
              { name: 'Cryptographic Algorithm', value: ttlv.enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES) },
              { name: 'Cryptographic Length', value: ttlv.integer(Tag.CryptographicLength, 128) },
            ]),
          ],
        },
      ]),
    ],
    1,
  );
  const uid = textOf(successPayload(parseResponse(created!)), Tag.UniqueIdentifier)!;
  owner.end();
  const bobFiles = issueClientCertificate(t.pki.dir, 'bob', path.join(t.dir, 'bob'));
  const bob = await connect({ cert: bobFiles.certPem, key: bobFiles.keyPem });
  const [got] = await exchange(bob, [requestMessage(v, [{ operation: Operation.Get, payload: [ttlv.textString(Tag.UniqueIdentifier, uid)] }])], 1);
  expect(parseResponse(got!).items[0]!.reason).toBe(ResultReason.ItemNotFound);
  bob.end();
  const last = t.audit.records[t.audit.records.length - 1]!;
  expect(last).toMatchObject({ event: 'operation', client: 'bob', operation: 'Get', resultStatus: 'OperationFailed' });
  expect(last.certificateFingerprint).toMatch(/^[0-9a-f]{64}$/);
});

test('TLS session resumption: a reconnecting client resumes its session', async () => {
  const creds = { cert: fs.readFileSync(t.pki.clientCertPath), key: fs.readFileSync(t.pki.clientKeyPath) };
  const first = await connect(creds);
  const session = await new Promise<Buffer>((resolve) => {
    first.once('session', (s: Buffer) => resolve(s));
    // TLS 1.3 sends tickets after the handshake; a round trip makes sure they arrive.
    void exchange(first, [requestMessage({ major: 1, minor: 4 }, [{ operation: Operation.DiscoverVersions, payload: [] }])], 1);
  });
  first.end();
  const second = await connect({ ...creds, session });
  expect(second.isSessionReused()).toBe(true);
  const [r] = await exchange(second, [requestMessage({ major: 1, minor: 4 }, [{ operation: Operation.DiscoverVersions, payload: [] }])], 1);
  expect(parseResponse(r!).items[0]!.status).toBe(ResultStatus.Success);
  second.end();
});

test('an idle connection is closed after the idle timeout', async () => {
  const IDLE_MS = 300;
  const quick = await startListener(t.embedded.core, listenerOptions(t.pki, { idleTimeoutMs: IDLE_MS }));

  try {
    // Timed from before the connection exists, so that a slow handshake can only lengthen it: the
    // server's idle clock starts later than ours, and the close cannot come before IDLE_MS.
    const started = Date.now();
    const s = await connect({ port: quick.address.port, cert: fs.readFileSync(t.pki.clientCertPath), key: fs.readFileSync(t.pki.clientKeyPath) });
    await new Promise((resolve) => s.once('close', resolve));
    // Never before the timeout (a timer may fire a millisecond early of the wall clock); the upper
    // bound is generous for a loaded machine and still far below any default timeout.
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(IDLE_MS - 5);
    expect(elapsed).toBeLessThan(20_000);
  } finally {
    await quick.close();
  }
});

test('a request worked on for longer than the idle timeout is answered; the idle clock starts after the answer', async () => {
  const IDLE_MS = 300;
  const WORK_MS = 4 * IDLE_MS;
  // A deliberately slow request: the answer waits WORK_MS for its audit record's flush, as it
  // would behind a slow SLH-DSA "s" signature, with nothing sent either way meanwhile.
  const core = t.embedded.core;
  const audit = Object.create(core.audit, {
    durable: { value: () => new Promise<void>((resolve) => setTimeout(resolve, WORK_MS)).then(() => core.audit.durable()) },
  }) as typeof core.audit;
  const slow = await startListener({ ...core, audit }, listenerOptions(t.pki, { idleTimeoutMs: IDLE_MS }));
  try {
    const s = await connect({ port: slow.address.port, cert: fs.readFileSync(t.pki.clientCertPath), key: fs.readFileSync(t.pki.clientKeyPath) });
    const closed = new Promise<number>((resolve) => s.once('close', () => resolve(Date.now())));
    const sent = Date.now();
    const [r] = await exchange(s, [requestMessage({ major: 1, minor: 4 }, [{ operation: Operation.DiscoverVersions, payload: [] }])], 1);
    const answered = Date.now();
    expect(parseResponse(r!).items[0]!.status).toBe(ResultStatus.Success);
    expect(answered - sent).toBeGreaterThanOrEqual(WORK_MS - 5);
    // Still idle-closed afterwards, and not before a whole idle period after the answer.
    const end = await closed;
    expect(end - answered).toBeGreaterThanOrEqual(IDLE_MS - 50);
    expect(end - answered).toBeLessThan(20_000);
  } finally {
    await slow.close();
  }
});
