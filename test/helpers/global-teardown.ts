import fs from 'node:fs';

export default function globalTeardown(): void {
  const dir = process.env['KMIP_TEST_SOFTHSM_DIR'];
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
}
