/**
 * Slow post-quantum steps off the serving thread. SLH-DSA key generation and signing take from
 * under a second (the "f" sets) to tens of seconds (the "s" sets) in JavaScript: run inline they
 * would stall every connection of the process. A small pool of worker threads (one per core, at
 * most MAX_THREADS), each started when first needed and none keeping the process alive, runs them:
 * a task goes to the thread with the fewest tasks queued, so slow signatures of several clients
 * proceed side by side instead of each waiting for all before it. What goes there: slow() below.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
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

/** Enough threads for the cores, few enough that a burst of "s" signatures cannot hold much memory. */
const MAX_THREADS = 4;

interface Thread {
  readonly worker: Worker;
  readonly pending: Map<number, Pending>;
}

/** Slots of the pool; an empty slot starts its thread on first use (and again after a thread failed). */
const pool: (Thread | undefined)[] = [];
let nextId = 1;

function poolSize(): number {
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  return Math.max(1, Math.min(MAX_THREADS, cores));
}

/** The thread's script: the built .js beside this file, or the .ts source through the dev require hook. */
function threadScript(): { file: string; execArgv: string[] } | undefined {
  const js = path.join(__dirname, 'pqc-thread.js');
  if (fs.existsSync(js)) return { file: js, execArgv: [] };
  const ts = path.join(__dirname, 'pqc-thread.ts');
  const hook = path.resolve(__dirname, '..', '..', 'scripts', 'register-ts.js');
  if (fs.existsSync(ts) && fs.existsSync(hook)) return { file: ts, execArgv: ['-r', hook] };
  return undefined;
}

function startThread(slot: number): Thread | undefined {
  const script = threadScript();
  if (!script) return undefined;
  const w = new Worker(script.file, { execArgv: script.execArgv });
  w.unref();
  const t: Thread = { worker: w, pending: new Map() };
  const failAll = (e: Error) => {
    for (const p of t.pending.values()) p.reject(e);
    t.pending.clear();
    if (pool[slot] === t) pool[slot] = undefined;
  };
  w.on('message', (r: PqcTaskResult) => {
    const p = t.pending.get(r.id);
    if (!p) return;
    t.pending.delete(r.id);
    if (t.pending.size === 0) w.unref();
    if (r.ok) p.resolve(r);
    else p.reject(new KmipError(r.reason ?? Reason.CryptographicFailure, r.message));
  });
  w.on('error', (e) => failAll(new KmipError(Reason.CryptographicFailure, `the post-quantum worker failed: ${e.message}`)));
  w.on('exit', () => failAll(new KmipError(Reason.CryptographicFailure, 'the post-quantum worker stopped')));
  pool[slot] = t;
  return t;
}

/** The least busy thread: an idle running one, else a slot not started yet, else the shortest queue. */
function pickThread(): Thread | undefined {
  const size = poolSize();
  let best: Thread | undefined;
  let emptySlot: number | undefined;
  for (let i = 0; i < size; i++) {
    const t = pool[i];
    if (!t) {
      emptySlot ??= i;
      continue;
    }
    if (t.pending.size === 0) return t;
    if (!best || t.pending.size < best.pending.size) best = t;
  }
  if (emptySlot !== undefined) return startThread(emptySlot) ?? best;
  return best;
}

/** Distributes a task; undefined when no worker thread can be made (then the caller runs inline). */
function submit(task: PqcTask extends infer T ? (T extends unknown ? Omit<T, 'id'> : never) : never): Promise<PqcTaskResult & { ok: true }> | undefined {
  const t = pickThread();
  if (!t) return undefined;
  const id = nextId++;
  return new Promise((resolve, reject) => {
    t.pending.set(id, { resolve, reject });
    // Held while it works, so a process waiting on the answer does not exit.
    t.worker.ref();
    t.worker.postMessage({ ...task, id });
  });
}

/**
 * What is worth the hop: SLH-DSA key generation and signing, and ML-DSA signing (10 to 30 ms in
 * JavaScript, long enough to stall other connections; the hop costs a fraction of a millisecond).
 * ML-DSA key generation (a few ms), ML-KEM and verification stay inline.
 */
function slow(alg: PqcAlgorithm, op: PqcTask['op']): boolean {
  return alg.family === 'slh-dsa' || (op === 'sign' && alg.family === 'ml-dsa');
}

export async function generatePqcKeyPairOffThread(alg: PqcAlgorithm): Promise<PqcKeyPair> {
  const job = slow(alg, 'keygen') ? submit({ op: 'keygen', alg: alg.kmip }) : undefined;
  if (!job) return generatePqcKeyPair(alg);
  const r = await job;
  if (!r.publicKey || !r.secretKey) throw new KmipError(Reason.CryptographicFailure, `${alg.name} key generation returned no key`);
  return { publicKey: r.publicKey, secretKey: r.secretKey, seed: r.seed };
}

export async function pqcSignOffThread(alg: PqcAlgorithm, secretKey: Uint8Array, data: Uint8Array, input: PqcSignInput): Promise<Uint8Array> {
  // The thread gets a copy of the key, which it wipes after signing.
  const job = slow(alg, 'sign') ? submit({ op: 'sign', alg: alg.kmip, secretKey: Uint8Array.from(secretKey), data, input }) : undefined;
  if (!job) return pqcSign(alg, secretKey, data, input);
  const r = await job;
  if (!r.signature) throw new KmipError(Reason.CryptographicFailure, `${alg.name} signing returned no signature`);
  return r.signature;
}
