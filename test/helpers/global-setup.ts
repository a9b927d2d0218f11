/**
 * Runs once in jest's parent process, before any worker starts. Native code (SoftHSM2's
 * C_Initialize) reads the real process environment, which jest's per-file sandbox does not
 * change; so the SoftHSM2 configuration for the whole run is made here, in a temp dir, and the
 * workers inherit SOFTHSM2_CONF. Each test file then makes its own token (its own label) in it.
 *
 * A run that includes PostgreSQL tests (the whole suite, the store tests, or any run with
 * KMIP_TEST_STORE=postgres, which puts the handler suites on PostgreSQL) gets one throwaway
 * cluster (test/helpers/postgres.ts), its admin URL in KMIP_TEST_PG_URL; teardown stops it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Config } from '@jest/types';
import { ensureSoftHsmToken } from '../../src/keys/softhsm';
import { PG_URL_ENV, postgresBinDir, startPostgresCluster, type PostgresCluster } from './postgres';

/** Where teardown finds the cluster: setup and teardown run in the same process. */
export const CLUSTER_KEY = Symbol.for('kmip-test-postgres-cluster');

function runIncludesPostgres(globalConfig: Config.GlobalConfig): boolean {
  if (process.env['KMIP_TEST_STORE'] === 'postgres') return true;
  const pattern = globalConfig.testPathPattern ?? '';
  return pattern === '' || /store|postgres/i.test(pattern);
}

export default async function globalSetup(globalConfig: Config.GlobalConfig): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-test-hsm-'));
  const token = ensureSoftHsmToken(dir, { label: 'kmip-test-setup', setProcessEnv: true });
  process.env['SOFTHSM2_CONF'] = token.confPath;
  process.env['KMIP_TEST_SOFTHSM_DIR'] = dir;
  // Without PostgreSQL installed the files that need it say so themselves (requireEnvironment).
  if (!process.env[PG_URL_ENV] && runIncludesPostgres(globalConfig) && postgresBinDir() !== undefined) {
    const cluster = await startPostgresCluster();
    (globalThis as { [CLUSTER_KEY]?: PostgresCluster })[CLUSTER_KEY] = cluster;
    process.env[PG_URL_ENV] = cluster.adminUrl;
  }
}
