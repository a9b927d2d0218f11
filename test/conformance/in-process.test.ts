/**
 * The whole OASIS corpus (1.0-2.1) against the real server core in this process: a real SoftHSM2
 * token and a fresh SQLite data directory per case (chained cases share one). No case listed in
 * conformance/expected-results.json may fail or be skipped. With KMIP_TEST_STORE=postgres (npm run
 * test:postgres) each case's core runs on a fresh database of the run's PostgreSQL cluster instead,
 * as `npm run conformance -- --in-process --postgres URL` does.
 */
import { createEmbeddedCore } from '../../src/embedded';
import { LEGACY_CRYPTO_POLICY } from '../../src/crypto/policy-profiles';
import { DEFAULT_VERSIONS, discoverCases } from '../../conformance/cases';
import { DEFAULT_EXPECTED, DEFAULT_SKIP_LIST } from '../../conformance/main';
import { caseLine, countResults, findRegressions, loadExpectedPassing, loadSkipList } from '../../conformance/report';
import { runConformance } from '../../conformance/runner';
import { createCaseDatabase, groupEncoding, inProcessFactory } from '../../conformance/targets';
import { withConformanceDir } from '../helpers/conformance';
import { openTestProtector } from '../helpers/hsm';
import { HARNESS_ENGINE } from '../helpers/ops-harness';
import { PG_URL_ENV } from '../helpers/postgres';

/** The store of one case: the data directory's SQLite file (undefined), or a fresh database of the run's cluster, dropped after. */
async function caseDatabase(): Promise<{ url: string; drop(): Promise<void> } | undefined> {
  if (HARNESS_ENGINE !== 'postgres') return undefined;
  const admin = process.env[PG_URL_ENV];
  if (!admin) throw new Error(`KMIP_TEST_STORE=postgres needs the run's cluster (${PG_URL_ENV}), which the jest global setup starts`);
  return createCaseDatabase(admin);
}

withConformanceDir((root) => {
  test('in-process conformance: no case that passed before fails now', async () => {
    const keys = await openTestProtector();
    try {
      // The architecture's invariant, over every response of the corpus: no handler produces a tag
      // or enumeration value newer than the client's version (the output filter never has to act).
      const pruned = new Set<string>();
      const onVersionPruned = (paths: readonly string[], v: { major: number; minor: number }) => {
        for (const p of paths) pruned.add(`${v.major}.${v.minor} ${p}`);
      };
      // The OASIS corpus exercises what the profiles of its time required (3DES, ECB, SHA-1 signatures,
      // short HMAC keys): it is replayed under the legacy cryptographic policy profile.
      const factory = inProcessFactory(async (dataDir) => {
        const db = await caseDatabase();
        const made = await createEmbeddedCore(dataDir, { keys, onVersionPruned, crypto: LEGACY_CRYPTO_POLICY, ...(db ? { postgresUrl: db.url } : {}) });
        return { core: made.core, close: async () => made.close().finally(() => db?.drop()) };
      });
      const cases = discoverCases(root, DEFAULT_VERSIONS);
      const results = await runConformance({
        cases,
        skips: loadSkipList(DEFAULT_SKIP_LIST),
        // MSGENC cases go through the HTTPS transport's body handling, in their encoding.
        openTarget: (group) => factory(groupEncoding(group)),
        jobs: HARNESS_ENGINE === 'postgres' ? 3 : 4,
      });
      expect(results).toHaveLength(cases.length);
      const regressions = findRegressions(loadExpectedPassing(DEFAULT_EXPECTED), results);
      expect(regressions.map(caseLine)).toEqual([]);
      // Every case was run or skipped with a reason; none was lost on the way.
      const n = countResults(results);
      expect(n.passed + n.failed + n.skipped).toBe(cases.length);
      expect([...pruned].sort()).toEqual([]);
    } finally {
      await keys.close();
    }
    // A database per case (CREATE DATABASE copies a template, a checkpoint each) makes the PostgreSQL run slower.
  }, HARNESS_ENGINE === 'postgres' ? 900_000 : 120_000);
});
