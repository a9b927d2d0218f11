/**
 * Slow post-quantum steps off the serving thread. SLH-DSA key generation and signing take from
 * under a second (the "f" sets) to tens of seconds (the "s" sets) in JavaScript: run inline they
 * would stall every connection of the process. One worker thread, started on first use and not
 * keeping the process alive, runs them in turn; the fast sets (ML-KEM, ML-DSA) run inline.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { KmipError, Reason, type ReasonValue } from '../kmip/errors';
import { generatePqcKeyPair, pqcSign, type PqcAlgorithm, type PqcKeyPair, type PqcSignInput } from './pqc';

export type PqcTask =
  | { readonly id: number; readonly op: 'keygen'; readonly alg: number }
  | { readonly id: number; readonly op: 'sign'; readonly alg: number; readonly secretKey: Uint8Array; readonly data: Uint8Array; readonly input: PqcSignInput };

export type PqcTaskResult =
  | { readonly id: number; readonly ok: true; readonly signature?: Uint8Array; readonly publicKey?: Uint8Array; readonly secretKey?: Uint8Array; readonly seed?: Uint8Array }
  | { readonly id: number; readonly ok: false; readonly reason?: ReasonValue; readonly message: string };

type Pending = { resolve: (r: PqcTaskResult & { ok: true }) => void; reject: (e: Error) => void };

let worker: Worker | undefined;
let nextId = 1;
const pending = new Map<number, Pending>();

/** The thread's script: the built .js beside this file, or the .ts source through the dev require hook. */
function threadScript(): { file: string; execArgv: string[] } | undefined {
  const js = path.join(__dirname, 'pqc-thread.js');
  if (fs.existsSync(js)) return { file: js, execArgv: [] };
  const ts = path.join(__dirname, 'pqc-thread.ts');
  const hook = path.resolve(__dirname, '..', '..', 'scripts', 'register-ts.js');
  if (fs.existsSync(ts) && fs.existsSync(hook)) return { file: ts, execArgv: ['-r', hook] };
  return undefined;
}

function failAll(e: Error): void {
  for (const p of pending.values()) p.reject(e);
  pending.clear();
  worker = undefined;
}

function thread(): Worker | undefined {
  if (worker) return worker;
  const script = threadScript();
  if (!script) return undefined;
  const w = new Worker(script.file, { execArgv: script.execArgv });
  w.unref();
  w.on('message', (r: PqcTaskResult) => {
    const p = pending.get(r.id);
    if (!p) return;
    pending.delete(r.id);
    if (pending.size === 0) w.unref();
    if (r.ok) p.resolve(r);
    else p.reject(new KmipError(r.reason ?? Reason.CryptographicFailure, r.message));
  });
  w.on('error', (e) => failAll(new KmipError(Reason.CryptographicFailure, `the post-quantum worker failed: ${e.message}`)));
  w.on('exit', () => failAll(new KmipError(Reason.CryptographicFailure, 'the post-quantum worker stopped')));
  worker = w;
  return w;
}

/** Distributes a task; undefined when no worker thread can be made (then the caller runs inline). */
function submit(task: PqcTask extends infer T ? (T extends unknown ? Omit<T, 'id'> : never) : never): Promise<PqcTaskResult & { ok: true }> | undefined {
  const w = thread();
  if (!w) return undefined;
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    // Held while it works, so a process waiting on the answer does not exit.
    w.ref();
    w.postMessage({ ...task, id });
  });
}

/** Only SLH-DSA is slow enough to be worth the hop. */
function slow(alg: PqcAlgorithm): boolean {
  return alg.family === 'slh-dsa';
}

export async function generatePqcKeyPairOffThread(alg: PqcAlgorithm): Promise<PqcKeyPair> {
  const job = slow(alg) ? submit({ op: 'keygen', alg: alg.kmip }) : undefined;
  if (!job) return generatePqcKeyPair(alg);
  const r = await job;
  if (!r.publicKey || !r.secretKey) throw new KmipError(Reason.CryptographicFailure, `${alg.name} key generation returned no key`);
  return { publicKey: r.publicKey, secretKey: r.secretKey, seed: r.seed };
}

export async function pqcSignOffThread(alg: PqcAlgorithm, secretKey: Uint8Array, data: Uint8Array, input: PqcSignInput): Promise<Uint8Array> {
  // The thread gets a copy of the key, which it wipes after signing.
  const job = slow(alg) ? submit({ op: 'sign', alg: alg.kmip, secretKey: Uint8Array.from(secretKey), data, input }) : undefined;
  if (!job) return pqcSign(alg, secretKey, data, input);
  const r = await job;
  if (!r.signature) throw new KmipError(Reason.CryptographicFailure, `${alg.name} signing returned no signature`);
  return r.signature;
}
