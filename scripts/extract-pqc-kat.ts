/**
 * Makes test/fixtures/pqc/nist-acvp.json: a few NIST ACVP known-answer vectors per post-quantum
 * parameter set, small enough to commit (large outputs are kept as their SHA-256).
 *
 *   node -r ./scripts/register-ts.js scripts/extract-pqc-kat.ts DIR
 *
 * DIR holds the ACVP-Server gen-val/json-files layout (NAME/internalProjection.json[.gz]), e.g. a
 * checkout of the NIST ACVP-Server repository or a mirror of its vector files.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';

type Json = Record<string, unknown>;
interface Group {
  readonly parameterSet: string;
  readonly function?: string;
  readonly preHash?: string;
  readonly signatureInterface?: string;
  readonly tests: Json[];
}

function load(dir: string, name: string): Group[] {
  const base = path.join(dir, name, 'internalProjection.json');
  const text = fs.existsSync(base) ? fs.readFileSync(base, 'utf8') : gunzipSync(fs.readFileSync(`${base}.gz`)).toString('utf8');
  return (JSON.parse(text) as { testGroups: Group[] }).testGroups;
}

const sha = (hex: unknown): string => createHash('sha256').update(Buffer.from(String(hex), 'hex')).digest('hex');
const lower = (x: unknown): string => String(x).toLowerCase();

function main(dir: string): void {
  const out: Json = { source: 'NIST ACVP-Server gen-val/json-files (internalProjection.json), vsId 42 / 53', note: 'hashes are SHA-256 of the expected value' };
  out['mlKemKeyGen'] = load(dir, 'ML-KEM-keyGen-FIPS203').flatMap((g) =>
    g.tests.slice(0, 2).map((t) => ({ set: g.parameterSet, tcId: t['tcId'], d: lower(t['d']), z: lower(t['z']), ekSha256: sha(t['ek']), dkSha256: sha(t['dk']) })),
  );
  out['mlKemEncaps'] = load(dir, 'ML-KEM-encapDecap-FIPS203')
    .filter((g) => g.function === 'encapsulation')
    .map((g) => {
      const t = g.tests[0] as Json;
      return { set: g.parameterSet, tcId: t['tcId'], ek: lower(t['ek']), m: lower(t['m']), cSha256: sha(t['c']), k: lower(t['k']) };
    });
  out['mlDsaKeyGen'] = load(dir, 'ML-DSA-keyGen-FIPS204').flatMap((g) =>
    g.tests.slice(0, 2).map((t) => ({ set: g.parameterSet, tcId: t['tcId'], seed: lower(t['seed']), pkSha256: sha(t['pk']), skSha256: sha(t['sk']) })),
  );
  // ML-DSA-44 external interface: a valid and a modified pure signature, a valid pre-hash one (SHA2-224).
  const ver = load(dir, 'ML-DSA-sigVer-FIPS204').filter((g) => g.parameterSet === 'ML-DSA-44' && g.signatureInterface === 'external');
  const pick = (preHash: string, tcId: number): Json => {
    const t = ver.find((g) => g.preHash === preHash)?.tests.find((x) => x['tcId'] === tcId) as Json;
    return { set: 'ML-DSA-44', tcId, preHash, hashAlg: t['hashAlg'], pk: lower(t['pk']), message: lower(t['message']), context: lower(t['context']), signature: lower(t['signature']), testPassed: t['testPassed'] };
  };
  out['mlDsaSigVer'] = [pick('pure', 11), pick('pure', 9), pick('preHash', 25)];
  out['slhDsaKeyGen'] = load(dir, 'SLH-DSA-keyGen-FIPS205').map((g) => {
    const t = g.tests[0] as Json;
    return { set: g.parameterSet, tcId: t['tcId'], skSeed: lower(t['skSeed']), skPrf: lower(t['skPrf']), pkSeed: lower(t['pkSeed']), sk: lower(t['sk']), pk: lower(t['pk']) };
  });
  fs.writeFileSync(path.join(__dirname, '..', 'test', 'fixtures', 'pqc', 'nist-acvp.json'), `${JSON.stringify(out, null, 1)}\n`);
}

main(process.argv[2] ?? '.');
