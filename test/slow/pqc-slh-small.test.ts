/**
 * The SLH-DSA "s" (small-signature) sets through a real TLS client: create, get in every format,
 * register, one signature each and its verification. A signature takes from seconds to over a
 * minute in JavaScript, so this file is apart from test/integration/crypto/pqc.test.ts, and does
 * each set's slow work once (one key generation, one signature) with the six sets side by side:
 * each on its own connection (a connection answers in order), the server's post-quantum worker
 * threads taking them as cores allow. The listener keeps its ordinary short idle timeout: a
 * connection waiting for its signature is busy, not idle.
 */
import { KmipClient } from '../../src/client';
import { PQC_ALGORITHMS } from '../../src/crypto/pqc';
import { useTestListener, type TestListener } from '../helpers/test-listener';
import { pqcClient, roundTrip } from '../integration/crypto/pqc-helpers';

jest.setTimeout(900_000);
const t: TestListener = useTestListener({ idleTimeoutMs: 5_000 });

const SMALL = PQC_ALGORITHMS.filter((a) => a.family === 'slh-dsa' && a.name.endsWith('s'));
const clients: KmipClient[] = [];
const rounds = new Map<string, Promise<void>>();

beforeAll(() => {
  for (const alg of SMALL) {
    const c = pqcClient(t);
    clients.push(c);
    const round = roundTrip(c, alg, { extraSignatures: false });
    // Awaited by the set's own test below; this only keeps an early failure from going unhandled.
    round.catch(() => undefined);
    rounds.set(alg.name, round);
  }
});
afterAll(async () => {
  await Promise.allSettled(rounds.values());
  for (const c of clients) c.close();
});

it('covers the six "s" sets', () => {
  expect(SMALL.map((a) => a.name).sort()).toEqual(['SLH-DSA-SHA2-128s', 'SLH-DSA-SHA2-192s', 'SLH-DSA-SHA2-256s', 'SLH-DSA-SHAKE-128s', 'SLH-DSA-SHAKE-192s', 'SLH-DSA-SHAKE-256s']);
});

describe.each(SMALL.map((a) => [a.name] as const))('%s through a TLS client', (name) => {
  it('creates, gets in every format, registers, signs once and verifies', async () => {
    await rounds.get(name);
  });
});
