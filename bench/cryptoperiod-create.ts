/**
 * What the cryptoperiod policy costs a Create: handleMessage in one process (real SQLite files, one
 * real SoftHSM2 token), Creates of AES keys into a core without a policy and one with a policy of
 * `--rules` rules whose last one matches (the worst case of the first-match scan), in alternating
 * rounds so the machine's noise falls on both. Prints µs per Create for each; asserts nothing.
 *
 *   node -r ./scripts/register-ts.js bench/cryptoperiod-create.ts [--creates 2000] [--rounds 4] [--rules 20]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createEmbeddedCore, type EmbeddedCore } from '../src/embedded';
import { handleMessage } from '../src/server/handle-message';
import { parseCryptoperiods } from '../src/objects/cryptoperiod';
import { RequestBuilder, summarise } from './lib/kmip';
import { median, table } from './lib/stats';

function flag(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : dflt;
}

async function main(): Promise<void> {
  const creates = Number(flag('creates', '2000'));
  const rounds = Number(flag('rounds', '4'));
  const ruleCount = Number(flag('rules', '20'));
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-cryptoperiod-bench-'));
  // Rules for other groups first, so every Create scans them all before the one that matches.
  const rules = [
    ...Array.from({ length: ruleCount - 1 }, (_, i) => ({ match: { objectGroup: `group-${i}` }, deactivateAfter: 'P30D' })),
    { match: { objectType: 'Symmetric Key', algorithm: 'AES' }, deactivateAfter: 'P1Y', rotateInterval: 'P90D' },
  ];
  const cryptoperiods = parseCryptoperiods(rules, (key, message) => {
    throw new Error(`${key}: ${message}`);
  });
  const plain = await createEmbeddedCore(path.join(root, 'plain'));
  const withPolicy: EmbeddedCore = await createEmbeddedCore(path.join(root, 'policy'), { keys: plain.core.keys, cryptoperiods });
  const session = { client: { name: 'bench', isAdmin: false } };
  const b = new RequestBuilder({ major: 2, minor: 1 });
  const perCreate: Record<'plain' | 'policy', number[]> = { plain: [], policy: [] };
  try {
    for (let round = 0; round < rounds; round++) {
      for (const [label, core] of [['plain', plain], ['policy', withPolicy]] as const) {
        const started = performance.now();
        for (let i = 0; i < creates; i++) {
          const r = summarise(await handleMessage(b.create(`${label}-${round}-${i}`), session, core.core));
          if (r.uids.length !== 1) throw new Error(`Create failed in round ${round}`);
        }
        perCreate[label].push(((performance.now() - started) * 1000) / creates);
      }
    }
  } finally {
    await withPolicy.close();
    await plain.close();
    await plain.core.keys.close();
    fs.rmSync(root, { recursive: true, force: true });
  }
  const row = (label: 'plain' | 'policy') => [label, perCreate[label].map((v) => v.toFixed(0)).join(' '), median(perCreate[label]).toFixed(0)];
  console.log(`${creates} Creates (KMIP 2.1, AES-256) per round, ${rounds} rounds; policy: ${ruleCount} rules, the last one matching`);
  console.log(table(['core', 'µs per Create, each round', 'median'], [row('plain'), row('policy')]));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
