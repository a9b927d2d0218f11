/**
 * Serving from several processes (`workers` > 1). One Node process serves requests on one thread;
 * workers let TLS, the codec, the handlers and HSM calls use every core. The primary prepares the
 * data directory once, forks the workers (Node's cluster module: the primary accepts connections
 * and deals them out in turn, so a connection stays with one worker), restarts a worker that dies,
 * stops them all on SIGTERM or SIGINT, and on SIGHUP reopens the audit file it owns and passes the
 * signal on to each worker (each reloads its TLS material; the primary serves nothing itself).
 * KMIP over HTTPS (`https.listen`) is served the same way: each worker listens on that port too,
 * and the primary deals its connections out in turn.
 *
 * The workers share the SQLite file (each has its own connection; see the store's
 * `sharedWithOtherProcesses`) and the HSM token (a session each). The primary owns the audit file
 * and its chain: workers send their records over the cluster channel and answer a request only once
 * the primary has acknowledged its record as synced (audit/worker-sink.ts). The primary opens the
 * HSM itself for the trail's checkpoints. State held in memory stays with its worker: multi-part
 * cryptographic streams continue only on the connection's worker. If the primary is killed, each
 * worker exits as soon as it notices (Node's cluster channel closes).
 */
import cluster, { type Worker } from 'node:cluster';
import type { ServerConfig } from './config';
import { openAuditLog, prepareDataDir, SCHEDULER_ROLE_ENV, startAuditForwarder, startMetrics, tlsSources } from './main';
import { openHsmForAudit } from './server-hsm';
import { serveWorkerAudit } from './audit/worker-sink';
import { ServerMetrics } from './server/metrics';
import { clusterScrape } from './server/metrics-cluster';
import { probeReadiness, type RunningMetricsEndpoint } from './server/metrics-endpoint';
import { readTlsMaterial } from './pki/tls-material';
import { openObjectCounter } from './server-store';
import { removeStaleKekRecords } from './keys/kek-in-use';

/** What a worker tells the primary once its listener is up. */
export interface WorkerReady {
  readonly type: 'kmip-worker-ready';
  readonly address: string;
  readonly port: number;
  /** Where KMIP over HTTPS listens, when configured (every worker serves it too). */
  readonly httpsAddress?: string;
  readonly httpsPort?: number;
}

function isWorkerReady(m: unknown): m is WorkerReady {
  return typeof m === 'object' && m !== null && (m as { type?: unknown }).type === 'kmip-worker-ready';
}

/** Restarts allowed in RESTART_WINDOW_MS before the primary gives up (a worker that cannot run). */
const MAX_RESTARTS = 5;
const RESTART_WINDOW_MS = 60_000;
/** A worker that has not stopped this long after SIGTERM is killed. */
const STOP_GRACE_MS = 30_000;

type Log = (record: Record<string, unknown>) => void;

/** Runs the primary until it is stopped; resolves with the process's exit code. */
export async function runWorkers(config: ServerConfig, log: Log): Promise<number> {
  const { tlsWarnings } = await prepareDataDir(config);
  // Each worker records the KEK it wraps under; those of processes gone before are removed once here.
  removeStaleKekRecords(config.dataDir);
  for (const note of tlsWarnings) log({ msg: 'config', note });
  // The primary owns the audit trail (the workers send it their records) and forwards it to the SIEM collector.
  const forwarder = startAuditForwarder(config);
  // The primary's own metrics: its audit trail (the backlog, the HSM's checkpoint MACs); the workers' are asked for at each scrape.
  const metrics = config.metrics ? new ServerMetrics() : undefined;
  const hsm = await openHsmForAudit(config);
  const keys = metrics ? metrics.observeKeys(hsm) : hsm;
  /** Workers that said they are serving: the ones a scrape asks. */
  const ready = new Set<Worker>();
  let audit: Awaited<ReturnType<typeof openAuditLog>>;
  let metricsEndpoint: RunningMetricsEndpoint | undefined;
  try {
    audit = await openAuditLog(config, keys, forwarder);
  } catch (e) {
    await keys.close();
    await forwarder?.close();
    throw e;
  }
  const trail = audit.trail;
  // The primary counts the objects itself (a connection of its own: server-store.ts openObjectCounter), once for all workers.
  const counter = metrics ? openObjectCounter(config) : undefined;
  metrics?.readFrom({ auditBacklog: () => trail.backlog, ...(counter ? { objectCounts: () => counter.counts() } : {}) });
  try {
    // The primary's own readiness: the audit trail it owns and its HSM (the checkpoints' MACs).
    const hsmCall = (data: Uint8Array) => (hsm.auditMac ? hsm.auditMac(data) : hsm.indexMac(data));
    const ownReadiness = () => probeReadiness({ hsmCall, audit: trail });
    if (metrics) metricsEndpoint = await startMetrics(config, readTlsMaterial(tlsSources(config)), clusterScrape(metrics, ownReadiness, () => [...ready], config.workers));
  } catch (e) {
    await counter?.close();
    await audit.close();
    await keys.close();
    await forwarder?.close();
    throw e;
  }
  const code = await new Promise<number>((resolve) => {
    const workers = new Set<Worker>();
    /** Workers sent SIGHUP while still starting: sent it once ready (until then the signal would end them). */
    const reloadOwed = new Set<Worker>();
    const restarts: number[] = [];
    let started = false;
    let stopping = false;
    let exitCode = 0;

    const stopAll = (code: number) => {
      if (stopping) return;
      stopping = true;
      exitCode = code;
      for (const w of workers) w.process.kill('SIGTERM');
      setTimeout(() => {
        for (const w of workers) w.process.kill('SIGKILL');
      }, STOP_GRACE_MS).unref();
      if (workers.size === 0) resolve(exitCode);
    };

    // Exactly one worker runs the lifecycle scheduler: the first, then whichever replaces it once it has exited.
    let scheduling: Worker | undefined;
    const fork = () => {
      const runsScheduler = scheduling === undefined;
      const w = cluster.fork(runsScheduler ? { [SCHEDULER_ROLE_ENV]: '1' } : {});
      if (runsScheduler) scheduling = w;
      workers.add(w);
      serveWorkerAudit(w, audit.trail);
      w.on('message', (m: unknown) => {
        if (!isWorkerReady(m)) return;
        ready.add(w);
        if (reloadOwed.delete(w)) w.process.kill('SIGHUP');
        if (!started && ready.size === config.workers) {
          started = true;
          const https = m.httpsPort !== undefined ? { httpsAddress: m.httpsAddress, httpsPort: m.httpsPort } : {};
          log({ msg: 'listening', address: m.address, port: m.port, ...https, dataDir: config.dataDir, workers: config.workers });
        }
      });
      w.on('exit', (code, signal) => {
        workers.delete(w);
        if (scheduling === w) scheduling = undefined;
        ready.delete(w);
        reloadOwed.delete(w);
        if (stopping) {
          if (workers.size === 0) resolve(exitCode);
          return;
        }
        log({ msg: 'worker exited', pid: w.process.pid, code, signal });
        if (!started) {
          // A worker that cannot start (its error is on stderr): the others would fail alike.
          stopAll(1);
          return;
        }
        const now = Date.now();
        while (restarts.length > 0 && restarts[0]! < now - RESTART_WINDOW_MS) restarts.shift();
        if (restarts.length >= MAX_RESTARTS) {
          log({ msg: 'workers keep exiting; stopping', restarts: restarts.length, windowMs: RESTART_WINDOW_MS });
          stopAll(1);
          return;
        }
        restarts.push(now);
        fork();
      });
    };

    process.on('SIGTERM', () => stopAll(0));
    process.on('SIGINT', () => stopAll(0));
    process.on('SIGHUP', () => {
      if (stopping) return;
      // The primary owns the audit file: it reopens it; the workers reload their TLS material.
      if (metricsEndpoint && config.metrics?.tls) {
        try {
          metricsEndpoint.reloadTls(readTlsMaterial(tlsSources(config)));
        } catch (e) {
          log({ msg: 'reload failed', error: `metrics endpoint: ${(e as Error).message}; still serving the previous TLS material` });
        }
      }
      audit.reopen().then(
        () => log({ msg: 'reloaded', pid: process.pid, auditFile: config.auditFile }),
        (e: unknown) => log({ msg: 'reload failed', error: `audit file ${config.auditFile}: cannot reopen it (${(e as Error).message}); records go to the file open before` }),
      );
      for (const w of workers) {
        if (ready.has(w)) w.process.kill('SIGHUP');
        else reloadOwed.add(w);
      }
    });
    for (let i = 0; i < config.workers; i++) fork();
  });
  await metricsEndpoint?.close();
  await counter?.close();
  // Every worker has exited: what they sent is appended; the last checkpoint needs the HSM.
  await audit.close();
  await keys.close();
  await forwarder?.close();
  return code;
}
