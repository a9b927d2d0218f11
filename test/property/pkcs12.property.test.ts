/**
 * The PKCS#12 reader over mutated PFX files (made at test time by the OpenSSL CLI, with a MAC and
 * without one): each mutation either opens (to the same key when a MAC protects it) or is refused as the spec asks,
 * Invalid Field, or Bad Password where the damage is indistinguishable from a wrong password (a
 * MAC that does not verify; without a MAC, contents that do not decrypt). Never another error,
 * never a crash. Bounded runs.
 */
import { execFileSync } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { mutatedBytes } from '../helpers/mutations';
import * as pkijs from 'pkijs';
import { readPkcs12 } from '../../src/crypto/pkcs12';
import { KmipError } from '../../src/kmip/errors';
import { ResultReason } from '../../src/spec/generated/enums';

const RUNS = { numRuns: Number(process.env['PROP_RUNS'] ?? 150) };
const PASSWORD = Buffer.from('mutation test');
const SOURCE = { description: 'the test password' };

let dir: string;
const pfx: Record<'mac' | 'nomac', Buffer> = { mac: Buffer.alloc(0), nomac: Buffer.alloc(0) };
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-pkcs12-prop-'));
  const run = (args: string[]) => execFileSync('openssl', args, { stdio: 'ignore', timeout: 30_000 });
  run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${dir}/k.pem`, '-out', `${dir}/c.pem`, '-subj', '/CN=prop', '-days', '1']);
  for (const kind of ['mac', 'nomac'] as const) {
    run(['pkcs12', '-export', '-in', `${dir}/c.pem`, '-inkey', `${dir}/k.pem`, '-out', `${dir}/${kind}.p12`, '-passout', `pass:${PASSWORD.toString()}`, ...(kind === 'nomac' ? ['-nomac'] : [])]);
    pfx[kind] = fs.readFileSync(`${dir}/${kind}.p12`);
  }
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const mutated = (seed: Buffer): fc.Arbitrary<Buffer> => mutatedBytes(seed, 300);

test.each(['mac', 'nomac'] as const)('PFX (%s): a mutation opens to a key (the same one under a MAC) or is Invalid Field / Bad Password, never another error', async (kind) => {
  const original = await readPkcs12(pfx[kind], PASSWORD, SOURCE);
  expect(original.certificates).toHaveLength(1);
  await fc.assert(
    fc.asyncProperty(mutated(pfx[kind]), async (input) => {
      try {
        const out = await readPkcs12(input, PASSWORD, SOURCE);
        // With a MAC the contents are authenticated: the same key. Without one nothing is, and a
        // damaged ciphertext may decrypt to another valid key; it must still be one.
        if (kind === 'mac') expect(out.privateKey.equals(original.privateKey)).toBe(true);
        else expect(createPrivateKey({ key: out.privateKey, format: 'der', type: 'pkcs8' }).type).toBe('private');
      } catch (e) {
        expect(e).toBeInstanceOf(KmipError);
        expect([ResultReason.InvalidField, ResultReason.BadPassword]).toContain((e as KmipError).reason);
      }
    }),
    RUNS,
  );
}, 120_000);

test('a wrong password is Bad Password naming the source, with or without a MAC', async () => {
  for (const kind of ['mac', 'nomac'] as const) {
    const e = await readPkcs12(pfx[kind], Buffer.from('wrong'), SOURCE).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(KmipError);
    expect((e as KmipError).reason).toBe(ResultReason.BadPassword);
    expect((e as KmipError).message).toMatch(/the test password/);
  }
});

test('an iteration count beyond the cap is refused before any key derivation', async () => {
  // The MAC iteration count rewritten to 2^31 - 1, the rest of the PFX as OpenSSL made it.
  const p = pkijs.PFX.fromBER(new Uint8Array(pfx.mac).buffer);
  p.macData!.iterations = 2 ** 31 - 1;
  const slow = Buffer.from(p.toSchema().toBER(false));
  const started = Date.now();
  const e = await readPkcs12(slow, PASSWORD, SOURCE).catch((x: unknown) => x);
  expect((e as KmipError).reason).toBe(ResultReason.InvalidField);
  expect((e as KmipError).message).toMatch(/MAC iteration count must be 1 to 10000/);
  // 2^31 derivation rounds would take many minutes: a bound this generous still tells them apart.
  expect(Date.now() - started).toBeLessThan(30_000);
});
