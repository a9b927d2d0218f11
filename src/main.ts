/**
 * The composition root: the only place that builds the adapters (store, HSM, audit, registry, TLS)
 * and wires them to the request path, for the server (startServer) and for an in-process core
 * (openEmbeddedCore: embedded.ts, tests, benchmarks, the conformance runner). The store of the
 * configured engine is opened by server-store.ts, the HSM by server-hsm.ts (the commands beside a
 * running server open them the same way).
 */
import fs from 'node:fs';
import { randomUUID } from 'node:crypto';
import { AccessControl } from './access/access-control';
import path from 'node:path';
import type { ServerConfig } from './config';
import { ensureDevPki } from './pki/dev-pki';
import type { KeyProtector } from './keys/key-protector';
import { forgetKekInUse, recordKekInUse, removeStaleKekRecords } from './keys/kek-in-use';
import { currentKekId } from './keys/kek-current';
import { openEmbeddedHsm, openServerHsm } from './server-hsm';
import { KekFollower } from './server-kek';
import { sealClearDigests } from './objects/digest-index';
import { PendingOperations } from './objects/pending-operations';
import { closeInterruptedApprovals, DualControl } from './server/dual-control';
import { auditSideFile, secureDataDir } from './data-dir';
import { SqliteObjectStore } from './store/sqlite';
import { PostgresObjectStore } from './store/postgres-store';
import { closeStore, openApprovalStore, openDueDates, openObjectCounter, openSchedulerLease, openServerStore, SCHEDULER_LEASE, type ServerStore } from './server-store';
import cluster from 'node:cluster';
import { createAuditLog, MemoryAuditSink, type AuditLog, type AuditSink } from './audit/audit-log';
import { HEAD_FILE } from './audit/chain';
import type { AuditTrail } from './audit/trail';
import { WorkerAuditSink } from './audit/worker-sink';
import { createSyslogForwarder, type AuditForwarder } from './audit/syslog-forwarder';
import { buildRegistry } from './server/registry';
import { SENT_OPERATIONS } from './notify/messages';
import { systemClock, type Clock, type ServerInfo } from './objects/context';
import type { ServerCore } from './server/handle-message';
import { loopWaitsOnlyForAudit } from './server/loop-demand';
import { startListener, type ListenerOptions, type RunningListener } from './server/listener';
import { startHttpsListener } from './server/https-listener';
import { readTlsMaterial, type TlsMaterial, type TlsSources } from './pki/tls-material';
import { devCrlPath } from './pki/dev-crl';
import { EndpointNotifier } from './notify/notifier';
import { ChangeObserver } from './notify/change-observer';
import { serveToOwner } from './objects/served-object';
import { COMPAT_PROFILES } from './compat/profiles';
import { CredentialVerifier } from './server/credentials';
import type { CryptoPolicy } from './crypto/policy';
import type { CryptoperiodPolicy } from './objects/cryptoperiod';
import { ServerMetrics } from './server/metrics';
import { probeReadiness, startMetricsEndpoint, type MetricsEndpointOptions, type RunningMetricsEndpoint } from './server/metrics-endpoint';
import { answerPrimaryScrapes } from './server/metrics-cluster';
import { startLifecycleScheduler, type LifecycleScheduler } from './scheduler/start';
import { LeasedScheduler } from './scheduler/leased';
import { AutomaticRotation } from './scheduler/rotation';

/** What the server tells clients about itself (Query). */
export const SERVER_INFO: ServerInfo = {
  vendorIdentification: 'kmip-server (TypeScript)',
  serverName: 'kmip-server',
  serverVersion: '0.1.0',
};

/** The adapters a core is wired to, and the settings of its request path. */
type CoreParts = Omit<ServerCore, 'registry' | 'server' | 'pending'>;

/** The request path wired to its adapters: the one place a ServerCore is put together. */
function composeCore(parts: CoreParts): ServerCore {
  return { registry: buildRegistry(SENT_OPERATIONS), server: SERVER_INFO, pending: new PendingOperations(), ...parts };
}

export interface EmbeddedCoreOptions {
  /** Share one HSM session pool between cores (one process can initialise SoftHSM2 only once). */
  readonly keys?: KeyProtector;
  readonly audit?: AuditSink;
  readonly clock?: Clock;
  readonly maxMessageBytes: number;
  readonly maxRsaModulusBits?: number;
  readonly onVersionPruned?: ServerCore['onVersionPruned'];
  readonly crypto?: CryptoPolicy;
  /** The cryptoperiod rules new objects get (config `cryptoperiods`); absent: none. */
  readonly cryptoperiods?: CryptoperiodPolicy;
  /** The PostgreSQL store at this URL instead of the SQLite file (the handler suites run on both engines). */
  readonly postgresUrl?: string;
}

/** A core served in process: no listener, no audit file unless given one. */
export interface EmbeddedCore {
  readonly core: ServerCore;
  readonly store: ServerStore;
  close(): Promise<void>;
}

/**
 * A core over the SQLite store at `storePath` (or PostgreSQL's at `opts.postgresUrl`) and the
 * embedded token in `tokenDir` (unless `opts.keys` brings an open HSM, which the caller then
 * closes), auditing to memory by default.
 */
export async function openEmbeddedCore(files: { readonly storePath: string; readonly tokenDir: string }, opts: EmbeddedCoreOptions): Promise<EmbeddedCore> {
  const keys = opts.keys ?? (await openEmbeddedHsm(files.tokenDir));
  let store: ServerStore;
  try {
    store = opts.postgresUrl !== undefined ? await PostgresObjectStore.open({ url: opts.postgresUrl }) : new SqliteObjectStore({ path: files.storePath });
  } catch (e) {
    if (!opts.keys) await keys.close();
    throw e;
  }
  try {
    await sealClearDigests(store, keys);
  } catch (e) {
    await closeStore(store);
    if (!opts.keys) await keys.close();
    throw e;
  }
  const core = composeCore({
    store,
    keys,
    audit: opts.audit ?? new MemoryAuditSink(),
    clock: opts.clock ?? systemClock,
    limits: { maxMessageBytes: opts.maxMessageBytes, ...(opts.maxRsaModulusBits !== undefined ? { maxRsaModulusBits: opts.maxRsaModulusBits } : {}) },
    onVersionPruned: opts.onVersionPruned,
    ...(opts.crypto ? { crypto: opts.crypto } : {}),
    ...(opts.cryptoperiods ? { cryptoperiods: opts.cryptoperiods } : {}),
  });
  return {
    core,
    store,
    async close() {
      await core.pending?.drain();
      await closeStore(store);
      if (!opts.keys) await keys.close();
    },
  };
}

export interface RunningServer {
  readonly listener: RunningListener;
  /** KMIP over HTTPS (`https.listen`), beside the TTLV listener; absent when not configured. */
  readonly httpsListener?: RunningListener;
  /** /metrics, /healthz and /readyz (`metrics.listen`); absent when not configured, and in a worker (the primary serves them). */
  readonly metricsEndpoint?: RunningMetricsEndpoint;
  /** The audit sink (SIGHUP: `audit.reopen()` after logrotate; with workers the primary's is in workers.ts). */
  readonly audit: AuditSink;
  /**
   * SIGHUP: reopens the audit file by name (logrotate moved it) and serves new handshakes with the
   * TLS files read again (a renewed certificate, a new CRL). A file that fails leaves the TLS
   * material as it was and rejects naming the file; open connections are never touched.
   */
  reload(): Promise<ReloadOutcome>;
  /** What the operator should know about the TLS files read at start (a CRL past its next update). */
  readonly tlsWarnings: readonly string[];
  /** The lifecycle scheduler, in the one process that runs it (src/scheduler/); tests wake it after moving their clock. */
  readonly scheduler?: LifecycleScheduler;
  /** Stops accepting, finishes in-flight requests, delivers queued notifications, closes the store and the HSM. */
  stop(): Promise<void>;
}

/**
 * The audit file, continuing its chain, with a first checkpoint: it proves at start that the HSM
 * can MAC (creating the audit key on first use) and authenticates what the last run left.
 */
export async function openAuditLog(
  config: ServerConfig,
  keys: KeyProtector,
  forwarder?: AuditForwarder,
  syncInline?: () => boolean,
): Promise<AuditLog & { readonly trail: AuditTrail }> {
  const audit = createAuditLog({
    onDurable: forwarder && ((lines) => forwarder.push(lines)),
    file: config.auditFile,
    headFile: auditSideFile(config, HEAD_FILE),
    mac: keys.auditMac ? (data) => (keys.auditMac as (d: Uint8Array) => Promise<Buffer>).call(keys, data) : undefined,
    checkpointEvery: config.auditCheckpointEvery,
    checkpointSeconds: config.auditCheckpointSeconds,
    syncInline,
  });
  try {
    await audit.checkpoint('start');
  } catch (e) {
    await audit.close();
    throw new Error(`the HSM cannot MAC the audit trail's checkpoints: ${(e as Error).message}`);
  }
  return audit;
}

export interface ReloadOutcome {
  /** The certificate now served; absent when the TLS files failed and the previous material stays. */
  readonly tls?: { readonly serial: string; readonly validTo: string; readonly crls: number };
  /** The KEK new objects are wrapped under after the reload, and the one before. */
  readonly kek?: { readonly kekId: string; readonly previous: string; readonly changed: boolean };
  /** The cryptoperiod rules in force after the reload (the configuration file read again), and whether they changed. */
  readonly cryptoperiods?: { readonly rules: number; readonly changed: boolean };
  /** One line each, naming the file: what failed and what was kept instead. */
  readonly failures: readonly string[];
  readonly warnings: readonly string[];
}

/** The configured TLS files, or the dev PKI's (with its CRL once `pki revoke` has written one). */
export function tlsSources(config: ServerConfig): TlsSources {
  if (config.tls) return { ...config.tls, crl: config.tlsCrl };
  const pkiDir = path.join(config.dataDir, 'pki');
  const devCrl = devCrlPath(pkiDir);
  return {
    key: path.join(pkiDir, 'server-key.pem'),
    cert: path.join(pkiDir, 'server.pem'),
    ca: path.join(pkiDir, 'ca.pem'),
    crl: [...config.tlsCrl, ...(fs.existsSync(devCrl) ? [devCrl] : [])],
  };
}

async function tlsFiles(config: ServerConfig): Promise<TlsMaterial> {
  if (!config.tls) await ensureDevPki(path.join(config.dataDir, 'pki'));
  return readTlsMaterial(tlsSources(config));
}

/**
 * What must happen once before worker processes start, not in each of them at the same time: the
 * data directory and dev PKI, the embedded token and its KEK, the store's migrations. Opening the
 * HSM and the store here also refuses a bad set-up with one message instead of one per worker.
 */
export async function prepareDataDir(config: ServerConfig): Promise<{ tlsWarnings: readonly string[] }> {
  secureDataDir(config.dataDir);
  const tls = await tlsFiles(config);
  const store = await openServerStore(config);
  try {
    await (await openServerHsm(config, store)).close();
  } finally {
    await closeStore(store);
  }
  // Before any worker runs an approved request: those the last stop interrupted are closed here, once.
  const approvals = config.accessPolicy ? await openApprovalStore(config) : undefined;
  if (approvals) await closeInterruptedApprovals(new DualControl(approvals)).finally(() => approvals.close());
  return { tlsWarnings: tls.warnings };
}

/** Set by the primary in the environment of the one worker that runs the lifecycle scheduler. */
export const SCHEDULER_ROLE_ENV = 'KMIP_SERVER_SCHEDULER';

/** Where the SIEM forwarder keeps the last `seq` it sent. */
export const FORWARD_CURSOR_FILE = 'audit-forward.cursor';

/**
 * The SIEM forwarder (`audit.syslog`), run by the one process that owns the audit file: the server
 * itself, or the primary when there are workers. Undefined when no collector is configured.
 */
export function startAuditForwarder(config: ServerConfig): AuditForwarder | undefined {
  if (config.auditSyslog === null) return undefined;
  return createSyslogForwarder(config.auditSyslog, { auditFile: config.auditFile, cursorFile: auditSideFile(config, FORWARD_CURSOR_FILE) });
}

/** What a test can set that no configuration does. */
export interface StartOptions {
  /** The clock of the request path and the scheduler (default: the system's). */
  readonly clock?: Clock;
  /** The scheduler's longest sleep (lifecycle-scheduler.ts recheckMs): a test with its own clock sets it long and wakes it. */
  readonly schedulerRecheckMs?: number;
  /**
   * SIGHUP: the configuration read again as at start (the command line's files and flags), for the
   * settings a reload applies: `cryptoperiods`. Absent: they stay as started.
   */
  readonly rereadConfig?: () => ServerConfig;
}

export async function startServer(config: ServerConfig, opts: StartOptions = {}): Promise<RunningServer> {
  // SIGHUP replaces them when the configuration file read again says otherwise (opts.rereadConfig).
  let cryptoperiods = config.cryptoperiods;
  const clock = opts.clock ?? systemClock;
  secureDataDir(config.dataDir);
  let tls = await tlsFiles(config);
  // Read at each connection to an endpoint, so a renewed server certificate is used from the reload on.
  const endpointTls = {
    get key() {
      return tls.key;
    },
    get cert() {
      return tls.cert;
    },
    get ca() {
      return tls.ca;
    },
  };
  // With workers, the primary owns the trail and forwards it (workers.ts).
  const forwarder = config.workers === 1 ? startAuditForwarder(config) : undefined;
  // Metrics observe through decorators and observers; without `metrics` nothing is wrapped.
  const metrics = config.metrics ? new ServerMetrics() : undefined;
  let store: ServerStore;
  try {
    store = await openServerStore(config, metrics?.store);
  } catch (e) {
    await forwarder?.close();
    throw e;
  }
  let hsm: KeyProtector;
  try {
    hsm = await openServerHsm(config, store);
  } catch (e) {
    await closeStore(store);
    await forwarder?.close();
    throw e;
  }
  const keys = metrics ? metrics.observeKeys(hsm) : hsm;
  // Which KEK this process wraps under, for kek rotate and kek retire (keys/kek-in-use.ts).
  if (config.workers === 1) removeStaleKekRecords(config.dataDir);
  recordKekInUse(config.dataDir, keys.kekId);
  // On PostgreSQL the current KEK is the database's, which kek rotate changes for every node (server-kek.ts).
  const kekFollower = store instanceof PostgresObjectStore ? new KekFollower(store.kekCatalog(), keys, (fields) => console.log(JSON.stringify(fields))) : undefined;
  await kekFollower?.start();
  /** A worker of several: the primary owns the audit file and serves the metrics endpoint (workers.ts). */
  const inCluster = cluster.isWorker && config.workers > 1;
  // A worker's records go to the primary, which owns the audit file and its chain (workers.ts).
  let trail: AuditSink;
  let fileTrail: AuditTrail | undefined;
  try {
    if (inCluster) trail = new WorkerAuditSink();
    else {
      // This process serves every connection, so it knows when a sync on its loop delays nobody
      // (loop-demand.ts); a primary of several workers does not, and syncs on the thread pool.
      const log = await openAuditLog(config, keys, forwarder, loopWaitsOnlyForAudit);
      fileTrail = log.trail;
      trail = log;
    }
  } catch (e) {
    await kekFollower?.close();
    await closeStore(store);
    await keys.close();
    await forwarder?.close();
    throw e;
  }
  // Requests and refusals are counted from their audit records (server/metrics.ts).
  const audit = metrics ? metrics.observeAudit(trail) : trail;
  // Objects are counted by the process that serves the endpoint: here, unless the primary does.
  // On a connection of its own: a thread reading the SQLite file, or PostgreSQL's GROUP BY (server-store.ts).
  const counter = metrics && !inCluster ? openObjectCounter(config) : undefined;
  const backlogOf = fileTrail;
  metrics?.readFrom({
    ...(counter ? { objectCounts: () => counter.counts() } : {}),
    ...(backlogOf ? { auditBacklog: () => backlogOf.backlog } : {}),
  });
  // The server reaches endpoints as a TLS client with its own certificate, trusting the same CA.
  const notifier =
    config.notifications.endpoints.length === 0
      ? undefined
      : new EndpointNotifier(config.notifications, {
          serveToOwner: (uid, version) => serveToOwner({ store, keys, clock, server: SERVER_INFO }, uid, version),
          audit,
          clock,
          server: SERVER_INFO,
          maxMessageBytes: config.maxMessageBytes,
          tls: endpointTls,
        });
  // Held requests wait in the store; with any policy file, as SIGHUP may bring rules. Closing interrupted
  // runs: only a server's one process (a worker starting beside others must not close their runs).
  // What a failed start closes, in reverse order of opening.
  const closeOpened = async (): Promise<void> => {
    await counter?.close();
    await notifier?.close();
    await kekFollower?.close();
    await closeStore(store);
    await audit.close();
    await keys.close();
    await forwarder?.close();
  };
  let dualControl: DualControl | undefined;
  try {
    dualControl = config.accessPolicy ? new DualControl(await openApprovalStore(config)) : undefined;
  } catch (e) {
    await closeOpened();
    throw e;
  }
  if (dualControl && config.workers === 1) await closeInterruptedApprovals(dualControl);
  const core = composeCore({
    store,
    keys,
    audit,
    clock,
    limits: { maxMessageBytes: config.maxMessageBytes, maxRsaModulusBits: config.maxRsaModulusBits },
    crypto: config.crypto,
    observeWrites: notifier ? (store) => new ChangeObserver(store, notifier) : undefined,
    compat: COMPAT_PROFILES[config.compat],
    credentials: config.credentials.size > 0 ? new CredentialVerifier(config.credentials, config.adminIdentities) : undefined,
    access: config.accessPolicy ? new AccessControl(config.accessPolicy.policy, store.grants()) : undefined,
    dualControl,
  });
  // Read per request (handle-message.ts), so a reload's rules apply from the next request on.
  Object.defineProperty(core, 'cryptoperiods', { get: () => cryptoperiods, enumerable: true });
  // One set of options for both transports: the same TLS material, identities, limits and timeouts.
  const listenerOptions: ListenerOptions = {
    host: config.host,
    port: config.port,
    key: tls.key,
    cert: tls.cert,
    ca: tls.ca,
    crl: tls.crl,
    adminIdentities: config.adminIdentities,
    identityFrom: config.identityFrom,
    ciphers: config.tlsCiphers,
    requireClientAuthEku: config.requireClientAuthEku,
    idleTimeoutMs: config.idleTimeoutMs,
    handshakeTimeoutMs: config.handshakeTimeoutMs,
    messageTimeoutMs: config.messageTimeoutMs,
    // Connections are dealt to the workers in turn, so each holds its share of the limit.
    maxConnections: Math.ceil(config.maxConnections / config.workers),
    maxConnectionsPerIdentity: Math.ceil(config.maxConnectionsPerIdentity / config.workers),
    connections: metrics?.connections,
  };
  let listener: RunningListener;
  let httpsListener: RunningListener | undefined;
  let metricsEndpoint: RunningMetricsEndpoint | undefined;
  // One process of a server runs the scheduler: this one, or the worker the primary gave the role (workers.ts).
  const schedulerProcess = !inCluster || process.env[SCHEDULER_ROLE_ENV] === '1';
  const startScheduler = () =>
    startLifecycleScheduler({
      dueDates: openDueDates(config),
      store,
      audit,
      clock,
      notifier,
      recheckMs: opts.schedulerRecheckMs,
      tasks: (dueDates, storeForRun) => [
        new AutomaticRotation({ dueDates, store, storeForRun, keys, audit, clock, server: SERVER_INFO, crypto: config.crypto, compat: COMPAT_PROFILES[config.compat], policies: config.rotationPolicies }),
      ],
    });
  // On PostgreSQL several nodes share the store: of their scheduler processes, the lease's holder runs it.
  const lease = schedulerProcess ? openSchedulerLease(config) : undefined;
  const scheduler = schedulerProcess && !lease ? startScheduler() : undefined;
  const leased = lease ? new LeasedScheduler(lease, SCHEDULER_LEASE.ttlMs, SCHEDULER_LEASE.renewMs, startScheduler, (fields) => console.log(JSON.stringify(fields))) : undefined;
  leased?.begin();
  try {
    listener = await startListener(core, listenerOptions);
    try {
      // With workers, each worker listens on the HTTPS port too and the primary deals its
      // connections out in turn, as it does for the TTLV port (Node's cluster module).
      if (config.https) httpsListener = await startHttpsListener(core, { ...listenerOptions, host: config.https.host, port: config.https.port });
      // With workers the primary serves the endpoint and asks each worker (server/metrics-cluster.ts).
      const notReady = () => probeReadiness({ store, hsmCall: (data) => hsm.indexMac(data), audit: fileTrail });
      if (metrics && inCluster) answerPrimaryScrapes(metrics, notReady);
      else if (metrics) metricsEndpoint = await startMetrics(config, tls, { metrics: () => metrics.text(), notReady });
    } catch (e) {
      await Promise.all([listener.close(), httpsListener?.close()]);
      throw e;
    }
  } catch (e) {
    await scheduler?.close();
    await leased?.close();
    await closeOpened();
    throw e;
  }
  return {
    listener,
    ...(httpsListener ? { httpsListener } : {}),
    ...(metricsEndpoint ? { metricsEndpoint } : {}),
    audit: trail,
    tlsWarnings: tls.warnings,
    ...(scheduler ? { scheduler } : {}),
    async reload() {
      const failures: string[] = [];
      // After kek rotate named a new current KEK (kek-current.json): new objects are wrapped under it from now on.
      let kek: ReloadOutcome['kek'];
      try {
        if (kekFollower) {
          // The database's current KEK, as every node's timed look reads it.
          kek = await kekFollower.check();
          if (kek?.changed) recordKekInUse(config.dataDir, kek.kekId);
        } else if (keys.adoptCurrentKek) {
          const adopted = await keys.adoptCurrentKek(currentKekId(config.dataDir));
          if (adopted.changed) recordKekInUse(config.dataDir, adopted.kekId);
          kek = adopted;
        }
      } catch (e) {
        failures.push(`KEK: cannot adopt the current KEK (${(e as Error).message}); new objects are still wrapped under KEK ${keys.kekId}`);
      }
      let periods: ReloadOutcome['cryptoperiods'];
      if (opts.rereadConfig) {
        try {
          const next = opts.rereadConfig().cryptoperiods;
          const changed = JSON.stringify(next) !== JSON.stringify(cryptoperiods);
          if (changed) {
            trail.record({ event: 'config-reloaded', correlationId: randomUUID(), reason: `cryptoperiods: ${cryptoperiods.length} rules replaced by ${next.length}` });
            cryptoperiods = next;
          }
          periods = { rules: next.length, changed };
        } catch (e) {
          failures.push(`${(e as Error).message}; the cryptoperiods stay as they were (${cryptoperiods.length} rules)`);
        }
      }
      try {
        await audit.reopen();
      } catch (e) {
        failures.push(`audit file ${config.auditFile}: cannot reopen it (${(e as Error).message}); records go to the file open before`);
      }
      // After the reopen, so the record lands in the file logrotate left.
      if (core.access && config.accessPolicy) {
        const failure = core.access.reload(config.accessPolicy, audit);
        if (failure) failures.push(failure);
      }
      try {
        const material = readTlsMaterial(tlsSources(config));
        listener.reloadTls(material);
        httpsListener?.reloadTls(material);
        metricsEndpoint?.reloadTls(material);
        tls = material;
        return { tls: { serial: material.serial, validTo: material.validTo, crls: material.crl.length }, ...(kek ? { kek } : {}), ...(periods ? { cryptoperiods: periods } : {}), failures, warnings: material.warnings };
      } catch (e) {
        failures.push(`${(e as Error).message}; still serving the previous TLS certificate, key, CA and CRLs`);
        return { ...(kek ? { kek } : {}), ...(periods ? { cryptoperiods: periods } : {}), failures, warnings: [] };
      }
    },
    async stop() {
      await Promise.all([listener.close(), httpsListener?.close(), metricsEndpoint?.close()]);
      // Before the store: a sweep under way finishes its writes.
      await scheduler?.close();
      await leased?.close();
      await counter?.close();
      // Operations answered Operation Pending finish (their writes are whole) before the store closes.
      await core.pending?.drain();
      // After the last request's changes are queued; before the store and HSM a Put reads from.
      await notifier?.close();
      await dualControl?.approvals.close();
      await kekFollower?.close();
      await closeStore(store);
      // Before the HSM: the last checkpoint is MAC'd by it.
      await audit.close();
      await keys.close();
      forgetKekInUse(config.dataDir);
      // After the audit log's last lines, which it sends before closing.
      await forwarder?.close();
    },
  };
}

/**
 * The metrics endpoint (`metrics.listen`) of the process that serves it (the server, or the primary
 * with workers), with the server's TLS material under `metrics.tls`; logs where it listens.
 */
export async function startMetrics(config: ServerConfig, tls: TlsMaterial, scrape: Pick<MetricsEndpointOptions, 'metrics' | 'notReady'>): Promise<RunningMetricsEndpoint> {
  const m = config.metrics!;
  const endpoint = await startMetricsEndpoint({
    host: m.host,
    port: m.port,
    ...(m.tls ? { tls: { key: tls.key, cert: tls.cert, ca: tls.ca, crl: tls.crl, ciphers: config.tlsCiphers } } : {}),
    ...scrape,
  });
  console.log(JSON.stringify({ msg: 'metrics listening', address: endpoint.address.address, port: endpoint.address.port, tls: m.tls }));
  return endpoint;
}
