/**
 * The parsers behind Digested Data and ECDH, over mutated inputs: a client's ECDSA signature
 * (DER, read into r || s for the HSM) and the peer public key in Derivation Data. Each mutated
 * input is either read correctly or refused as the spec asks (not valid / Invalid Field), never a
 * crash or another error. Bounded runs.
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import fc from 'fast-check';
import { derToRaw } from '../../src/crypto/digest-signature';
import { peerKeyFromBytes } from '../../src/crypto/key-agreement';
import { KmipError } from '../../src/server/errors';
import { ResultReason } from '../../src/spec/generated/enums';

const RUNS = { numRuns: Number(process.env["PROP_RUNS"] ?? 400) };

function mutated(seed: Buffer): fc.Arbitrary<Buffer> {
  const flip = fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 })).map(([at, bit]) => {
    const b = Buffer.from(seed);
    b[at % b.length]! ^= 1 << bit;
    return b;
  });
  const truncate = fc.nat().map((n) => seed.subarray(0, n % seed.length));
  const extend = fc.uint8Array({ minLength: 1, maxLength: 8 }).map((tail) => Buffer.concat([seed, tail]));
  const overwrite = fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 4 })).map(([at, bytes]) => {
    const b = Buffer.from(seed);
    b.set(bytes.subarray(0, Math.max(0, b.length - (at % b.length))), at % b.length);
    return b;
  });
  return fc.oneof(flip, truncate, extend, overwrite, fc.uint8Array({ maxLength: 160 }).map((a) => Buffer.from(a)));
}

test('ECDSA DER signature: a mutation is read as r || s of the curve size or refused (undefined), never thrown', () => {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const der = sign('sha256', Buffer.from('m'), privateKey);
  const raw = derToRaw(der, 32);
  expect(raw?.length).toBe(64);
  // Found by this test: asn1js throws a RangeError on a UniversalString of 3 bytes inside the SEQUENCE.
  expect(derToRaw(Buffer.from('30051c03000102', 'hex'), 32)).toBeUndefined();
  fc.assert(
    fc.property(mutated(der), (input) => {
      const out = derToRaw(input, 32);
      expect(out === undefined || out.length === 64).toBe(true);
    }),
    RUNS,
  );
});

test('peer public key bytes: a mutation gives a key or Invalid Field, never another error', () => {
  const mine = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
  const peer = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey;
  const spki = peer.export({ format: 'der', type: 'spki' });
  const point = spki.subarray(spki.length - 65);
  for (const seed of [spki, point]) {
    fc.assert(
      fc.property(mutated(seed), (input) => {
        try {
          expect(peerKeyFromBytes(input, mine).type).toBe('public');
        } catch (e) {
          expect(e).toBeInstanceOf(KmipError);
          expect((e as KmipError).reason).toBe(ResultReason.InvalidField);
        }
      }),
      RUNS,
    );
  }
});
