/**
 * Objects by type and state for the server's metrics, counted off the event loop: SQLite has no
 * constant-time count, and even on the covering (object_type, state) index a million objects take
 * about 250 ms, which on the serving thread would stall every request at each scrape. So the count
 * runs in a worker thread on a read-only connection of its own, at most once per `maxAgeMs`
 * (scrapes in between, and concurrent ones, share the last answer or the one under way).
 */
import { Worker } from 'node:worker_threads';
import type { ObjectCount } from './sqlite-watch';

/** The thread's code: plain JavaScript (eval), so it runs the same from the sources and from dist/. */
const THREAD = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path, { readonly: true, fileMustExist: true });
const counts = db.prepare('SELECT object_type AS objectType, state, count(*) AS count FROM objects GROUP BY object_type, state');
parentPort.on('message', (id) => {
  try {
    parentPort.postMessage({ id, rows: counts.all() });
  } catch (e) {
    parentPort.postMessage({ id, error: String(e && e.message) });
  }
});
`;

interface Answer {
  readonly id: number;
  readonly rows?: ObjectCount[];
  readonly error?: string;
}

export class ObjectCounter {
  private readonly thread: Worker;
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve: (rows: ObjectCount[]) => void; reject: (e: Error) => void }>();
  private last: { at: number; rows: Promise<ObjectCount[]> } | undefined;

  constructor(
    storePath: string,
    private readonly maxAgeMs = 5_000,
  ) {
    this.thread = new Worker(THREAD, { eval: true, workerData: { path: storePath, driver: require.resolve('better-sqlite3') } });
    // A metrics thread must never keep the server from exiting.
    this.thread.unref();
    this.thread.on('message', (a: Answer) => {
      const w = this.waiting.get(a.id);
      this.waiting.delete(a.id);
      if (a.rows) w?.resolve(a.rows);
      else w?.reject(new Error(`cannot count the store's objects: ${a.error}`));
    });
    this.thread.on('error', (e) => this.failAll(e));
    this.thread.on('exit', () => this.failAll(new Error('the counting thread ended')));
  }

  /** Objects by Object Type and State, at most `maxAgeMs` old. */
  counts(): Promise<ObjectCount[]> {
    const now = Date.now();
    if (this.last && now - this.last.at < this.maxAgeMs) return this.last.rows;
    const id = this.nextId++;
    const rows = new Promise<ObjectCount[]>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.thread.postMessage(id);
    });
    this.last = { at: now, rows };
    // A failed count is not kept: the next scrape tries again.
    rows.catch(() => {
      if (this.last?.rows === rows) this.last = undefined;
    });
    return rows;
  }

  close(): Promise<number> {
    return this.thread.terminate();
  }

  private failAll(e: Error): void {
    for (const w of this.waiting.values()) w.reject(e);
    this.waiting.clear();
  }
}
