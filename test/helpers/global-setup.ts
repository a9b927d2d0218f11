/**
 * Runs once in jest's parent process, before any worker starts. Native code (SoftHSM2's
 * C_Initialize) reads the real process environment, which jest's per-file sandbox does not
 * change; so the SoftHSM2 configuration for the whole run is made here, in a temp dir, and the
 * workers inherit SOFTHSM2_CONF. Each test file then makes its own token (its own label) in it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureSoftHsmToken } from '../../src/keys/softhsm';

export default function globalSetup(): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-test-hsm-'));
  const token = ensureSoftHsmToken(dir, { label: 'kmip-test-setup', setProcessEnv: true });
  process.env['SOFTHSM2_CONF'] = token.confPath;
  process.env['KMIP_TEST_SOFTHSM_DIR'] = dir;
}
