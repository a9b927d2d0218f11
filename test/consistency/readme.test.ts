import fs from 'node:fs';
import { README_PATH, readmeSupportMatrix, renderSupportMatrix } from '../../scripts/support-matrix';

test("README's support matrix matches the handler registry (npm run readme:matrix fixes it)", () => {
  const readme = fs.readFileSync(README_PATH, 'utf8');
  expect(readmeSupportMatrix(readme)).toBe(renderSupportMatrix());
});
