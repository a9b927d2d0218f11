/**
 * The SLH-DSA "s" (small-signature) sets through a real TLS client: create, get in every format,
 * register, one signature each and its verification. Each signature takes from about ten seconds
 * to over a minute in JavaScript (the server signs on its post-quantum worker thread), so this
 * file is apart from test/integration/crypto/pqc.test.ts and has long timeouts.
 */
import { KmipClient } from '../../../src/client';
import { PQC_ALGORITHMS } from '../../../src/crypto/pqc';
import { useTestListener, type TestListener } from '../../helpers/test-listener';
import { pqcClient, roundTrip } from './pqc-helpers';

jest.setTimeout(900_000);
// The listener's idle timeout runs while a request is worked on, so it must outlast a signature.
const t: TestListener = useTestListener({ idleTimeoutMs: 600_000 });
let c: KmipClient;
beforeAll(() => {
  c = pqcClient(t);
});
afterAll(() => c.close());

const SMALL = PQC_ALGORITHMS.filter((a) => a.family === 'slh-dsa' && a.name.endsWith('s'));

it('covers the six "s" sets', () => {
  expect(SMALL.map((a) => a.name).sort()).toEqual(['SLH-DSA-SHA2-128s', 'SLH-DSA-SHA2-192s', 'SLH-DSA-SHA2-256s', 'SLH-DSA-SHAKE-128s', 'SLH-DSA-SHAKE-192s', 'SLH-DSA-SHAKE-256s']);
});

describe.each(SMALL.map((a) => [a.name, a] as const))('%s through a TLS client', (_n, alg) => {
  it('creates, gets in every format, registers, signs once and verifies', async () => {
    await roundTrip(c, alg, { extraSignatures: false });
  });
});
