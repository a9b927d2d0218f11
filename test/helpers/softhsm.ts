/**
 * A fresh SoftHSM2 token in a temporary directory, for one test file. SoftHSM2 reads SOFTHSM2_CONF
 * when the library is initialised, so create the token before opening any protector in the file,
 * and close every protector (which finalises the library) before `cleanup`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureSoftHsmToken, type SoftHsmToken } from '../../src/keys/softhsm';

export interface TestToken extends SoftHsmToken {
  /** Removes the token directory. */
  cleanup(): void;
}

export function makeTestToken(label = 'kmip-test'): TestToken {
  const dir = mkdtempSync(join(tmpdir(), 'kmip-softhsm-'));
  try {
    const token = ensureSoftHsmToken(dir, { label });
    return { ...token, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
