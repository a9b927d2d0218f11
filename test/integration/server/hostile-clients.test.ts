/**
 * Hostile clients are refused or bounded, audited, and a well-behaved client keeps being served
 * meanwhile. Real mTLS on 127.0.0.1, real SQLite and SoftHSM2.
 */
import fs from 'node:fs';
import tls from 'node:tls';
import { Operation, ResultReason, ResultStatus } from '../../../src/spec/generated/enums';
import { useTestListener } from '../../helpers/test-listener';
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

function rawConnect(): Promise<tls.TLSSocket> {
  const c = creds();
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port: c.port, servername: 'localhost', ca: c.ca, cert: c.cert, key: c.key });
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
