/**
 * A real SoftHSM2 token for one test file, in the run's SoftHSM2 directory (global-setup.ts).
 */
import { randomUUID } from 'node:crypto';
import { Pkcs11KeyProtector } from '../../src/keys/pkcs11';
import path from 'node:path';
import { acquireModule, releaseModule } from '../../src/keys/pkcs11-module';
import { ensureSoftHsmToken, findSoftHsmModule, softHsmProtectorConfig, type SoftHsmToken } from '../../src/keys/softhsm';
import { KEK_LABEL } from '../../src/embedded';

export function testHsmDir(): string {
  const dir = process.env['KMIP_TEST_SOFTHSM_DIR'];
  if (!dir) throw new Error('KMIP_TEST_SOFTHSM_DIR is not set: run the tests through jest (test/helpers/global-setup.ts)');
  return dir;
}

/** A fresh token with its own label. */
export function makeTestToken(): SoftHsmToken {
  return ensureSoftHsmToken(testHsmDir(), { label: `t-${randomUUID().slice(0, 20)}`, setProcessEnv: true });
}

export async function openTestProtector(token: SoftHsmToken = makeTestToken()): Promise<Pkcs11KeyProtector> {
  return Pkcs11KeyProtector.open(softHsmProtectorConfig(token, KEK_LABEL));
}

/**
 * Puts the shared test token's SOFTHSM2_CONF back into the real process environment (where
 * C_Initialize reads it) after a test opened a data dir's own token in process: the module load
 * wrote that token's configuration there, and a later test file in this jest worker that loads the
 * module without an environment of its own would read a configuration deleted with its data dir.
 */
export async function restoreTestHsmEnvironment(): Promise<void> {
  const conf = path.join(testHsmDir(), 'softhsm2.conf');
  const mod = await acquireModule(findSoftHsmModule(), { SOFTHSM2_CONF: conf });
  await releaseModule(mod);
}
