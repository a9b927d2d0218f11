/**
 * The whole OASIS corpus (1.0-2.1) against the real server core in this process: a real SoftHSM2
 * token and a fresh SQLite data directory per case (chained cases share one). No case listed in
 * conformance/expected-results.json may fail or be skipped.
 */
import { createEmbeddedCore } from '../../src/embedded';
import { LEGACY_CRYPTO_POLICY } from '../../src/crypto/policy-profiles';
import { DEFAULT_VERSIONS, discoverCases } from '../../conformance/cases';
import { DEFAULT_EXPECTED, DEFAULT_SKIP_LIST } from '../../conformance/main';
import { caseLine, countResults, findRegressions, loadExpectedPassing, loadSkipList } from '../../conformance/report';
import { runConformance } from '../../conformance/runner';
import { groupEncoding, inProcessFactory } from '../../conformance/targets';
import { withConformanceDir } from '../helpers/conformance';
import { openTestProtector } from '../helpers/hsm';

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
      const factory = inProcessFactory((dataDir) => createEmbeddedCore(dataDir, { keys, onVersionPruned, crypto: LEGACY_CRYPTO_POLICY }));
      const cases = discoverCases(root, DEFAULT_VERSIONS);
      const results = await runConformance({
        cases,
        skips: loadSkipList(DEFAULT_SKIP_LIST),
        // MSGENC cases go through the HTTPS transport's body handling, in their encoding.
        openTarget: (group) => factory(groupEncoding(group)),
        jobs: 4,
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
  }, 120_000);
});
