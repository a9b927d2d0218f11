/**
 * Hostile clients are refused or bounded, audited, and a well-behaved client keeps being served
 * meanwhile. Real mTLS on 127.0.0.1, real SQLite and SoftHSM2.
 */
import fs from 'node:fs';
import tls from 'node:tls';
import { CryptographicAlgorithm, CryptographicUsageMask, Operation, ResultReason, ResultStatus } from '../../../src/spec/generated/enums';
import { Tag } from '../../../src/spec/generated/tags';
import { ttlv, type TtlvItem } from '../../../ttlv/types';
import { attributeToV1 } from '../../../src/kmip/attributes';
import { startListener } from '../../../src/server/listener';
import { listenerOptions, useTestListener } from '../../helpers/test-listener';
import { parseResponse, requestMessage } from '../../helpers/kmip-client';
import { KmipTlsClient } from '../../helpers/tls-client';
import { TtlvFramer } from '../../../ttlv/framer';
import { waitFor } from '../../helpers/wait';

const V = { major: 1, minor: 4 };
/** Short enough to run in seconds, long enough that a loaded machine never trips them for a well-behaved client. */
const HANDSHAKE_TIMEOUT_MS = 3_000;
const MESSAGE_TIMEOUT_MS = 1_500;
/** The trickler's pace: one byte per tick, so a whole message would take far longer than MESSAGE_TIMEOUT_MS. */
const TRICKLE_MS = 100;
const t = useTestListener({ handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS, messageTimeoutMs: MESSAGE_TIMEOUT_MS });

const creds = () => ({ port: t.listener.address.port, ca: fs.readFileSync(t.pki.caPath), cert: fs.readFileSync(t.pki.clientCertPath), key: fs.readFileSync(t.pki.clientKeyPath) });

function rawConnect(port = t.listener.address.port): Promise<tls.TLSSocket> {
  const c = creds();
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: c.ca, cert: c.cert, key: c.key });
    s.once('secureConnect', () => resolve(s));
    s.once('error', reject);
  });
}

async function wellBehavedAnswers(): Promise<number> {
  const c = await KmipTlsClient.connect(creds());
  const r = parseResponse(await c.request(requestMessage(V, [{ operation: Operation.DiscoverVersions, payload: [] }])));
  c.close();
  return r.items[0]!.status;
}

test('a client trickling a message byte by byte is cut off; others are served meanwhile', async () => {
  const slow = await rawConnect();
  const message = requestMessage(V, [{ operation: Operation.Query, payload: [] }]);
  // Trickled whole, the message would take this long at the very least (a loaded machine only slows the ticks).
  expect(message.length * TRICKLE_MS).toBeGreaterThan(4 * MESSAGE_TIMEOUT_MS);
  let sent = 0;
  const sentAtClose = new Promise<number>((resolve) => slow.once('close', () => resolve(sent)));
  const timer = setInterval(() => {
    if (sent < message.length && !slow.destroyed) slow.write(message.subarray(sent, ++sent));
  }, TRICKLE_MS);
  try {
    expect(await wellBehavedAnswers()).toBe(ResultStatus.Success);
    // Cut off part-way: the server did not wait for the whole message.
    expect(await sentAtClose).toBeLessThan(message.length);
  } finally {
    clearInterval(timer);
  }
  await waitFor('the message-rejected record', () =>
    t.audit.records.some((r) => r.event === 'message-rejected' && r.reason === 'message not completed in time'),
  );
});

test('a client that pipelines 2,000 requests without reading is bounded, and every answer comes in order', async () => {
  const s = await rawConnect();
  const framer = new TtlvFramer({ maxMessageBytes: 1 << 20 });
  const count = 2000;
  const messages = Array.from({ length: count }, (_, i) => requestMessage({ major: 1, minor: i % 5 }, [{ operation: Operation.DiscoverVersions, payload: [] }]));
  s.pause(); // read nothing for a while
  const auditedBefore = t.audit.records.length;
  for (const m of messages) s.write(m);
  // Once the server is working through the pipeline (its items audited), another client asks.
  await waitFor('the server answering the pipelined requests', () =>
    t.audit.records.slice(auditedBefore).filter((r) => r.operation === 'Discover Versions').length >= 100,
  );
  expect(await wellBehavedAnswers()).toBe(ResultStatus.Success);
  const minors: number[] = [];
  await new Promise<void>((resolve, reject) => {
    s.on('data', (d: Buffer) => {
      for (const f of framer.push(d)) minors.push(parseResponse(f).version.minor);
      if (minors.length === count) resolve();
    });
    s.once('close', () => reject(new Error(`closed after ${minors.length}`)));
    s.resume();
  });
  expect(minors).toEqual(messages.map((_, i) => i % 5));
  s.destroy();
});

test('a batch of 10,000 items is bounded (its answer would exceed the limit), and another client is answered while it runs', async () => {
  const big = await KmipTlsClient.connect(creds());
  const items = Array.from({ length: 10_000 }, () => ({ operation: Operation.DiscoverVersions, payload: [] }));
  const request = requestMessage(V, items);
  const bigAnswer = big.request(request);
  const other = wellBehavedAnswers();
  const r = parseResponse(await bigAnswer);
  // Ten thousand refusals would themselves exceed the limit: one refusal answers the message.
  expect(r.items).toHaveLength(1);
  expect(r.items[0]!.reason).toBe(ResultReason.ResponseTooLarge);
  expect(await other).toBe(ResultStatus.Success);
  // The withheld answer is audited, not only the 10,000 items that ran.
  expect(
    t.audit.records.some(
      (a) => a.event === 'message-rejected' && a.resultReason === String(ResultReason.ResponseTooLarge) && /10000 batch items/.test(a.reason ?? ''),
    ),
  ).toBe(true);
  big.close();
});

test('a client that never completes the TLS handshake is dropped after the handshake timeout', async () => {
  const net = await import('node:net');
  const started = Date.now();
  const s = net.connect(t.listener.address.port, '127.0.0.1');
  await new Promise((resolve) => s.once('close', resolve));
  // Not before the timeout (a timer may fire a millisecond early of the wall clock); the upper
  // bound is only generous, for a loaded machine.
  const elapsed = Date.now() - started;
  expect(elapsed).toBeGreaterThanOrEqual(HANDSHAKE_TIMEOUT_MS - 5);
  expect(elapsed).toBeLessThan(HANDSHAKE_TIMEOUT_MS + 15_000);
});

test('a pipelining client is not cut off for a message the server itself stopped reading (back-pressure is not slowness)', async () => {
  // A short message timeout, and a pipeline whose first requests take far longer: RSA key pairs.
  const quick = await startListener(t.embedded.core, listenerOptions(t.pki, { messageTimeoutMs: 100 }));
  const s = await rawConnect(quick.address.port);
  try {
    const attr = (name: string, value: TtlvItem) => attributeToV1({ name, value });
    const pair = requestMessage(V, [
      {
        operation: Operation.CreateKeyPair,
        payload: [
          ttlv.structure(Tag.CommonTemplateAttribute, [
            attr('Cryptographic Algorithm', ttlv.enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.RSA)),
            attr('Cryptographic Length', ttlv.integer(Tag.CryptographicLength, 2048)),
          ]),
          ttlv.structure(Tag.PrivateKeyTemplateAttribute, [attr('Cryptographic Usage Mask', ttlv.integer(Tag.CryptographicUsageMask, CryptographicUsageMask.Sign))]),
          ttlv.structure(Tag.PublicKeyTemplateAttribute, [attr('Cryptographic Usage Mask', ttlv.integer(Tag.CryptographicUsageMask, CryptographicUsageMask.Verify))]),
        ],
      },
    ]);
    const discover = requestMessage(V, [{ operation: Operation.DiscoverVersions, payload: [] }]);
    // 33 requests: the server stops reading once 32 wait to be answered, with half of the 33rd in
    // its buffer; the rest of it comes while the server is busy with the key pairs and not reading.
    const messages = [...Array.from({ length: 8 }, () => pair), ...Array.from({ length: 25 }, () => discover)];
    const bytes = Buffer.concat(messages.map((m) => Buffer.from(m)));
    const split = bytes.length - Math.floor(discover.length / 2);
    const framer = new TtlvFramer({ maxMessageBytes: 1 << 20 });
    const statuses: number[] = [];
    const answered = new Promise<void>((resolve, reject) => {
      s.on('data', (d: Buffer) => {
        for (const f of framer.push(d)) statuses.push(parseResponse(f).items[0]!.status);
        if (statuses.length === messages.length) resolve();
      });
      s.once('close', () => reject(new Error(`closed after ${statuses.length} answers`)));
    });
    const auditedBefore = t.audit.records.length;
    s.write(bytes.subarray(0, split));
    await waitFor('the server to start on the pipeline', () => t.audit.records.slice(auditedBefore).some((r) => r.operation === 'Create Key Pair'));
    s.write(bytes.subarray(split));
    await answered;
    expect(statuses).toEqual(messages.map(() => ResultStatus.Success));
    expect(t.audit.records.slice(auditedBefore).filter((r) => r.event === 'message-rejected')).toEqual([]);
  } finally {
    s.destroy();
    await quick.close();
  }
}, 120_000);
