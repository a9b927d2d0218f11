/**
 * The parsers behind Digested Data and ECDH, over mutated inputs: a client's ECDSA signature
 * (DER, read into r || s for the HSM) and the peer public key in Derivation Data. Each mutated
 * input is either read correctly or refused as the spec asks (not valid / Invalid Field), never a
 * crash or another error. Bounded runs.
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import fc from 'fast-check';
import { mutatedBytes } from '../helpers/mutations';
import { derToRaw } from '../../src/crypto/digest-signature';
import { peerKeyFromBytes } from '../../src/crypto/key-agreement';
import { KmipError } from '../../src/kmip/errors';
import { ResultReason } from '../../src/spec/generated/enums';

const RUNS = { numRuns: Number(process.env["PROP_RUNS"] ?? 400) };

const mutated = (seed: Buffer): fc.Arbitrary<Buffer> => mutatedBytes(seed, 160);

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
