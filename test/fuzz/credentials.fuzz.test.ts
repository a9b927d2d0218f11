/**
 * Mutation fuzzing of the Request Header credential path: corpus requests given an Authentication
 * structure (Username and Password, Device; right and wrong passwords) and mutated, fed to
 * `handleMessage` over a core with `credentials` configured for the fuzz identity and the pykmip
 * profile on. Every input must get a Response Message and no internal error. FUZZ_RUNS (default
 * 2,000) bounds it, FUZZ_SECONDS as in the main fuzz test.
 */
import { randomBytes, scryptSync } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodeTtlv } from '../../ttlv/decode';
import { encodeTtlv } from '../../ttlv/encode';
import { ItemType, ttlv, type TtlvItem, type TtlvStructure } from '../../ttlv/types';
import { Tag } from '../../src/spec/generated/tags';
import { CredentialType, ResultReason } from '../../src/spec/generated/enums';
import { createEmbeddedCore, type EmbeddedCore } from '../../src/embedded';
import { COMPAT_PROFILES } from '../../src/compat/profiles';
import { CredentialVerifier, type PasswordHash } from '../../src/server/credentials';
import { openTestProtector } from '../helpers/hsm';
import { withConformanceDir } from '../helpers/conformance';
import { corpusRequests, fuzzHandleMessage } from './fuzz-target';

/** A cheap scrypt (N 16): the fuzz run is about parsing, not about paying for hashes. */
function cheapHash(password: string): PasswordHash {
  const salt = randomBytes(16);
  return { N: 16, r: 1, p: 1, salt, hash: scryptSync(password, salt, 32, { N: 16, r: 1, p: 1 }) };
}

function credential(type: number, fields: [number, string][]): TtlvStructure {
  return ttlv.structure(Tag.Credential, [
    ttlv.enumeration(Tag.CredentialType, type),
    ttlv.structure(Tag.CredentialValue, fields.map(([tag, v]) => ttlv.textString(tag, v))),
  ]);
}

const AUTHENTICATIONS: TtlvStructure[] = [
  ttlv.structure(Tag.Authentication, [credential(CredentialType.UsernameAndPassword, [[Tag.Username, 'u'], [Tag.Password, 'right']])]),
  ttlv.structure(Tag.Authentication, [credential(CredentialType.UsernameAndPassword, [[Tag.Username, 'u'], [Tag.Password, 'wrong']])]),
  ttlv.structure(Tag.Authentication, [credential(CredentialType.Device, [[Tag.DeviceSerialNumber, 'd'], [Tag.Password, 'right']])]),
];

/** The request with an Authentication structure put into its header (after Protocol Version). */
function withAuthentication(request: Uint8Array, auth: TtlvStructure): Uint8Array | undefined {
  const root = decodeTtlv(request);
  if (root.type !== ItemType.Structure) return undefined;
  const children: TtlvItem[] = root.value.map((c) => {
    if (c.tag !== Tag.RequestHeader || c.type !== ItemType.Structure) return c;
    const rest = c.value.filter((h) => h.tag !== Tag.Authentication);
    return ttlv.structure(Tag.RequestHeader, [rest[0]!, auth, ...rest.slice(1)]);
  });
  return encodeTtlv(ttlv.structure(root.tag, children));
}

withConformanceDir((conformanceDir) => {
  let dir: string;
  let embedded: EmbeddedCore;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-fuzz-cred-'));
    embedded = await createEmbeddedCore(dir, { keys: await openTestProtector() });
  });

  afterAll(async () => {
    await embedded.close();
    await embedded.core.keys.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('mutated requests with credentials always get a Response Message', async () => {
    const credentials = new CredentialVerifier(
      new Map([['fuzz', { users: new Map([['u', cheapHash('right')]]), devices: new Map([['d', cheapHash('right')]]), requireCredential: false }]]),
      [],
    );
    const core = { ...embedded.core, credentials, compat: COMPAT_PROFILES.pykmip };
    const corpus = corpusRequests(conformanceDir);
    const seeds = corpus.flatMap((r, i) => {
      const s = withAuthentication(r, AUTHENTICATIONS[i % AUTHENTICATIONS.length]!);
      return s ? [s] : [];
    });
    expect(seeds.length).toBeGreaterThan(1000);
    const runs = Number(process.env['FUZZ_RUNS'] ?? 2000);
    const seconds = process.env['FUZZ_SECONDS'] === undefined ? undefined : Number(process.env['FUZZ_SECONDS']);
    const stats = await fuzzHandleMessage(core, seeds, runs, seconds);
    expect(stats.answered).toBe(stats.executions);
    // The credential path did run: requests ran as sub-identities, and wrong passwords were refused.
    const records = (embedded.core.audit as unknown as { records: { client?: string; resultReason?: string }[] }).records;
    expect(records.some((r) => r.client === 'fuzz/u')).toBe(true);
    expect(records.some((r) => r.client === 'fuzz/device/d')).toBe(true);
    expect(records.some((r) => r.resultReason === String(ResultReason.AuthenticationNotSuccessful))).toBe(true);
    expect(await embedded.store.integrityCheck()).toBe('ok');
    const internal = (embedded.core.audit as { errors?: unknown[] }).errors ?? [];
    expect(internal).toEqual([]);
  }, (Number(process.env['FUZZ_SECONDS'] ?? 240) + 120) * 1000);
});
