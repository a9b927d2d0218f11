/**
 * Before each test file: the real process environment's SOFTHSM2_CONF names the run's shared test
 * token directory again. Jest runs the files of a run in one process on a 2-core machine, and gives
 * each file its own copy of process.env; native code (SoftHSM2's C_Initialize) reads the real one.
 * A file that opened a data dir's own token in process leaves that token's configuration there if
 * its module was not unloaded, and a later file that loads the module without an environment of
 * its own would read a configuration deleted with that data dir (CKR_GENERAL_ERROR).
 */
import path from 'node:path';
import { SHARE_ENV, Worker } from 'node:worker_threads';

beforeAll(async () => {
  const dir = process.env['KMIP_TEST_SOFTHSM_DIR'];
  if (!dir) return;
  const conf = path.join(dir, 'softhsm2.conf');
  process.env['SOFTHSM2_CONF'] = conf;
  await new Promise<void>((resolve, reject) => {
    const worker = new Worker('process.env.SOFTHSM2_CONF = require("node:worker_threads").workerData;', { eval: true, env: SHARE_ENV, workerData: conf });
    worker.once('error', reject);
    worker.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`environment worker exited with ${code}`))));
  });
});
