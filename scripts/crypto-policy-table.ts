/**
 * Renders the default cryptographic policy profile (src/crypto/policy-profiles.ts) as a Markdown
 * table, and with `--write` puts it into docs/crypto-policy.md between its markers; with a file
 * name, into that file too (the README's copy). test/consistency/crypto-policy-doc.test.ts fails
 * when the page is behind the table.
 *
 *   node -r ./scripts/register-ts.js scripts/crypto-policy-table.ts [--write [FILE...]]
 */
import path from 'node:path';
import { CATEGORIES, POLICY_OPERATIONS, sizeText, valueName, type CryptoPolicy, type OperationRule } from '../src/crypto/policy';
import { DEFAULT_CRYPTO_POLICY } from '../src/crypto/policy-profiles';
import { writeBetweenMarkers, type Markers } from './doc-markers';

export const POLICY_TABLE_MARKERS: Markers = { start: '<!-- crypto-policy:start -->', end: '<!-- crypto-policy:end -->' };
export const POLICY_DOC_PATH = path.join(__dirname, '..', 'docs', 'crypto-policy.md');

function algorithms(rule: OperationRule): string {
  if (rule.algorithms === 'any') return 'any';
  return [...rule.algorithms]
    .sort((a, b) => a[0] - b[0])
    .map(([a, size]) => (size === 'any' ? valueName('CryptographicAlgorithm', a) : `${valueName('CryptographicAlgorithm', a)} (${sizeText(size)})`))
    .join(', ');
}

export function renderPolicyTable(policy: CryptoPolicy = DEFAULT_CRYPTO_POLICY): string {
  const head = ['operation', 'algorithms (key sizes)', ...CATEGORIES.map((c) => c.key)];
  const rows = POLICY_OPERATIONS.map((op) => {
    const rule = policy.rules[op];
    const cells = CATEGORIES.map((c) => {
      const allowed = rule[c.key];
      return allowed === 'any' ? 'any' : [...allowed].sort((a, b) => a - b).map((v) => valueName(c.enumName, v)).join(', ');
    });
    return `| ${[op, algorithms(rule), ...cells].join(' | ')} |`;
  });
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows].join('\n');
}

if (require.main === module) {
  const table = renderPolicyTable();
  const w = process.argv.indexOf('--write');
  if (w >= 0) {
    for (const file of [POLICY_DOC_PATH, ...process.argv.slice(w + 1)]) writeBetweenMarkers(file, POLICY_TABLE_MARKERS, table);
  } else {
    console.log(table);
  }
}
