import fs from 'node:fs';
import { POLICY_DOC_PATH, POLICY_TABLE_MARKERS, renderPolicyTable } from '../../scripts/crypto-policy-table';
import { betweenMarkers } from '../../scripts/doc-markers';

test("docs/crypto-policy.md's default-profile table matches the policy table (scripts/crypto-policy-table.ts --write fixes it)", () => {
  expect(betweenMarkers(fs.readFileSync(POLICY_DOC_PATH, 'utf8'), POLICY_TABLE_MARKERS)).toBe(renderPolicyTable());
});
