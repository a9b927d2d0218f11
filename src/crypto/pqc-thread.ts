/**
 * A worker thread of ./pqc-offload.ts's pool: runs the slow post-quantum steps (SLH-DSA key
 * generation and signing take seconds in JavaScript, ML-DSA signing tens of milliseconds) so the
 * serving thread goes on answering meanwhile.
 */
import { parentPort } from 'node:worker_threads';
import { KmipError } from '../kmip/errors';
import { generatePqcKeyPair, pqcAlgorithm, pqcSign } from './pqc';
import type { PqcTask, PqcTaskResult } from './pqc-offload';

function run(task: PqcTask): PqcTaskResult {
  const alg = pqcAlgorithm(task.alg);
  if (!alg) throw new Error(`no post-quantum algorithm ${task.alg}`);
  if (task.op === 'keygen') {
    const k = generatePqcKeyPair(alg);
    return { id: task.id, ok: true, publicKey: k.publicKey, secretKey: k.secretKey, seed: k.seed };
  }
  try {
    return { id: task.id, ok: true, signature: pqcSign(alg, task.secretKey, task.data, task.input) };
  } finally {
    task.secretKey.fill(0);
  }
}

parentPort?.on('message', (task: PqcTask) => {
  let out: PqcTaskResult;
  try {
    out = run(task);
  } catch (e) {
    out = e instanceof KmipError ? { id: task.id, ok: false, reason: e.reason, message: e.message } : { id: task.id, ok: false, message: e instanceof Error ? e.message : String(e) };
  }
  parentPort?.postMessage(out);
});
