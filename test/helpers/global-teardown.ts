import fs from 'node:fs';
import type { PostgresCluster } from './postgres';

export default function globalTeardown(): void {
  const dir = process.env['KMIP_TEST_SOFTHSM_DIR'];
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  const cluster = (globalThis as { [k: symbol]: PostgresCluster | undefined })[Symbol.for('kmip-test-postgres-cluster')];
  cluster?.stop();
}
