/**
 * A real SoftHSM2 token for one test file, in the run's SoftHSM2 directory (global-setup.ts).
 */
import { randomUUID } from 'node:crypto';
import { Pkcs11KeyProtector } from '../../src/keys/pkcs11';
import { ensureSoftHsmToken, softHsmProtectorConfig, type SoftHsmToken } from '../../src/keys/softhsm';
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
