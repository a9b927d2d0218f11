import fs from 'node:fs';
import { POLICY_DOC_PATH, documentedPolicyTable, renderPolicyTable } from '../../scripts/crypto-policy-table';

test("docs/crypto-policy.md's default-profile table matches the policy table (scripts/crypto-policy-table.ts --write fixes it)", () => {
  expect(documentedPolicyTable(fs.readFileSync(POLICY_DOC_PATH, 'utf8'))).toBe(renderPolicyTable());
});
