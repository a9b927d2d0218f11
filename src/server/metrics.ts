/**
 * The server's Prometheus metrics (prom-client), one registry per process. The request path does
 * not know about them: requests and refusals are read from the audit records every request and
 * refusal already produces (a decorator on the AuditSink, so the metrics and the trail can never
 * disagree), HSM calls from a decorator on the KeyProtector, commits from the store's observer,
 * connections from the listeners' ConnectionObserver; objects by type and state and the audit
 * backlog are read when Prometheus scrapes.
 *
 * Cost on the request path: per audit record a few Map look-ups by strings the record already
 * holds and numbers added (metrics-tallies.ts: handed to prom-client only at scrape time); per HSM
 * call the same for its histogram.
 */
import { Gauge, Registry, collectDefaultMetrics, type Metric } from 'prom-client';
import type { AuditRecord, AuditSink } from '../audit/audit-log';
import type { KeyProtector } from '../keys/key-protector';
import { KeyProtectorError } from '../keys/key-protector';
import type { ObjectCount, StoreObserver } from '../store/sqlite-watch';
import { enumValueInfo } from '../spec/registry';
import { NO_CLIENT_AUTH_EKU, NO_CLIENT_CERTIFICATE, NO_IDENTITY } from '../pki/client-certificate';
import type { ConnectionObserver } from './listener';
import { TallyCounter, TallyHistogram, type RegistryMetric } from './metrics-tallies';

/** Seconds: KMIP items run from tens of microseconds (Get from cache) to seconds (RSA 4096 generation). */
const REQUEST_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Seconds: an in-process SoftHSM2 call is ~30 µs, a network HSM's milliseconds. */
const HSM_BUCKETS = [0.00002, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
/** Seconds: one transaction, or one fdatasync of the WAL. */
const STORE_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
/** Writes per group commit. */
const GROUP_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512];

/** A refused connection's audit reason as a bounded label (the reasons carry peers and names). */
export function refusalKind(reason: string): string {
  if (reason.startsWith('per-identity connection limit')) return 'identity_limit';
  if (reason.startsWith('connection limit reached')) return 'connection_limit';
  if (reason === 'certificate revoked') return 'certificate_revoked';
  if (reason === NO_CLIENT_CERTIFICATE) return 'no_client_certificate';
  if (reason === NO_CLIENT_AUTH_EKU) return 'no_client_auth_eku';
  if (reason === NO_IDENTITY) return 'no_identity';
  const chain = /^client certificate rejected: ([A-Z0-9_]+)$/.exec(reason);
  if (chain) return `certificate_${chain[1]!.toLowerCase()}`;
  // What OpenSSL and Node say about a handshake that failed (tlsClientError).
  if (/no shared cipher|no suitable signature|handshake failure/i.test(reason)) return 'no_shared_cipher';
  if (/unsupported protocol|wrong version|version too low|no protocols available/i.test(reason)) return 'protocol_version';
  if (/timed? ?out/i.test(reason)) return 'handshake_timeout';
  if (/ECONNRESET|disconnected|socket hang up|EPIPE/i.test(reason)) return 'disconnected';
  return 'handshake_failed';
}

/** A message refused as a whole: its KMIP Result Reason when it has one, else the transport's kind. */
export function messageRefusalKind(r: AuditRecord): string {
  if (r.resultReason !== undefined) return reasonName(r.resultReason);
  const http = /^HTTP (\d{3})/.exec(r.reason ?? '');
  if (http) return `http_${http[1]}`;
  if (/not completed in time|timed? ?out/i.test(r.reason ?? '')) return 'message_timeout';
  return 'framing';
}

const REASON_NAMES = new Map<string, string>();

/** Audit records carry the Result Reason as its number; the label is its spec name (looked up once). */
function reasonName(text: string): string {
  let name = REASON_NAMES.get(text);
  if (name === undefined) {
    const n = Number(text);
    name = (Number.isInteger(n) && enumValueInfo('ResultReason', n)?.xmlName) || text;
    REASON_NAMES.set(text, name);
  }
  return name;
}

/** What is read at scrape time; each absent in a process that does not hold it. */
export interface ScrapeSources {
  /** Objects by type and state (store/object-counts.ts: off the event loop, cached briefly). */
  objectCounts?(): Promise<readonly ObjectCount[]>;
  /** Audit records recorded and not yet durable (the process that owns the trail). */
  auditBacklog?(): number;
}

/** Where a process's metrics live and the decorators that feed them. */
export class ServerMetrics {
  readonly registry = new Registry();
  private readonly requests = new TallyCounter('kmip_requests_total', 'KMIP batch items answered, by operation, protocol version, Result Status and Result Reason.', ['operation', 'version', 'result', 'reason']);
  private readonly requestSeconds = new TallyHistogram('kmip_request_duration_seconds', 'Time to run one batch item, by operation.', REQUEST_BUCKETS, 'operation');
  private readonly rejectedMessages = new TallyCounter('kmip_messages_rejected_total', 'Messages refused as a whole (undecodable, unsupported version, HTTP refusal, timeout), by reason.', ['reason']);
  private readonly refusals = new TallyCounter('kmip_connections_refused_total', 'Connections refused at or after the TLS handshake, by reason.', ['reason']);
  private readonly connectionsAccepted = new TallyCounter('kmip_connections_total', 'Authenticated connections accepted, by transport.', ['transport']);
  private readonly hsmSeconds = new TallyHistogram('kmip_hsm_call_duration_seconds', 'Time of one HSM call, by call.', HSM_BUCKETS, 'call');
  private readonly hsmErrors = new TallyCounter('kmip_hsm_errors_total', 'HSM calls that failed, by call and error code.', ['call', 'code']);
  private readonly connectionsOpen = new Map<string, number>();
  private sources: ScrapeSources = {};
  /** The store's observer: commit latency and group size, WAL sync latency. */
  readonly store: StoreObserver;
  /** The listeners' observer: connections accepted (authenticated) and open, by transport. */
  readonly connections: ConnectionObserver;

  constructor() {
    const registers = [this.registry];
    // The process's own: CPU, memory, event loop delay, GC (prom-client's; each says how workers add
    // up). Less its three gauges named *_total, which promtool's lint refuses (the counts by type stay).
    collectDefaultMetrics({ register: this.registry });
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) this.registry.removeSingleMetric(name);
    const register = (m: RegistryMetric) => this.registry.registerMetric(m as unknown as Metric);
    for (const m of [this.requests, this.requestSeconds, this.rejectedMessages, this.refusals, this.connectionsAccepted, this.hsmSeconds, this.hsmErrors]) register(m);
    const open = this.connectionsOpen;
    new Gauge({
      name: 'kmip_connections_open',
      help: 'Authenticated connections open, by transport.',
      labelNames: ['transport'],
      registers,
      collect() {
        this.reset();
        for (const [transport, n] of open) this.set({ transport }, n);
      },
    });
    const commitSeconds = new TallyHistogram('kmip_store_commit_duration_seconds', 'Time of one group commit (the transaction, before its WAL sync).', STORE_BUCKETS);
    const groupSize = new TallyHistogram('kmip_store_commit_group_size', 'Writes per group commit.', GROUP_BUCKETS);
    const syncSeconds = new TallyHistogram('kmip_store_sync_duration_seconds', 'Time of one fdatasync of the WAL.', STORE_BUCKETS);
    for (const m of [commitSeconds, groupSize, syncSeconds]) register(m);
    const commits = commitSeconds.series();
    const groups = groupSize.series();
    const syncs = syncSeconds.series();
    this.store = {
      committed(writes, seconds) {
        commitSeconds.observe(commits, seconds);
        groupSize.observe(groups, writes);
      },
      synced(seconds) {
        syncSeconds.observe(syncs, seconds);
      },
    };
    this.connections = {
      opened: (transport) => {
        open.set(transport, (open.get(transport) ?? 0) + 1);
        this.connectionsAccepted.add(1, transport);
      },
      closed: (transport) => void open.set(transport, (open.get(transport) ?? 1) - 1),
    };
    const metrics = this;
    new Gauge({
      name: 'kmip_objects',
      help: 'Managed objects in the store, by Object Type and State.',
      labelNames: ['type', 'state'],
      registers,
      // Counted once, by the process that serves the endpoint (the primary with workers): never a sum.
      aggregator: 'max',
      async collect() {
        const counts = (await metrics.sources.objectCounts?.()) ?? [];
        this.reset();
        for (const c of counts) {
          const type = enumValueInfo('ObjectType', c.objectType)?.xmlName ?? String(c.objectType);
          const state = enumValueInfo('State', c.state)?.xmlName ?? String(c.state);
          this.set({ type, state }, c.count);
        }
      },
    });
    new Gauge({
      name: 'kmip_audit_backlog',
      help: 'Audit records recorded and not yet durable (answers wait for them).',
      registers,
      collect() {
        const backlog = metrics.sources.auditBacklog?.();
        if (backlog !== undefined) this.set(backlog);
      },
    });
  }

  /** What this process reads at scrape time (set once its store and audit trail are open). */
  readFrom(sources: ScrapeSources): void {
    this.sources = sources;
  }

  /** The Prometheus text of this process's registry. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  /** The audit sink that also counts what it records. */
  observeAudit(audit: AuditSink): AuditSink {
    return {
      record: (entry) => {
        this.count(entry);
        audit.record(entry);
      },
      internalError: (correlationId, error) => audit.internalError(correlationId, error),
      durable: () => audit.durable(),
      reopen: () => audit.reopen(),
      close: () => audit.close(),
    };
  }

  private count(r: AuditRecord): void {
    switch (r.event) {
      case 'operation': {
        const n = r.count ?? 1;
        const operation = r.operation ?? 'unknown';
        this.requests.add(n, operation, r.protocolVersion ?? '', r.resultStatus ?? '', r.resultReason === undefined ? '' : reasonName(r.resultReason));
        if (r.durationMs !== undefined) {
          const series = this.requestSeconds.series(operation);
          // A folded record stands for `count` identical failures of one message; its duration is the first's.
          this.requestSeconds.observe(series, r.durationMs / 1000, n);
        }
        return;
      }
      case 'connection-rejected':
        this.refusals.add(1, refusalKind(r.reason ?? ''));
        return;
      case 'message-rejected':
        this.rejectedMessages.add(1, messageRefusalKind(r));
        return;
      default:
        return;
    }
  }

  /** The key protector whose calls are timed, and counted when they fail, by call. */
  observeKeys(keys: KeyProtector): KeyProtector {
    const timed = <A extends unknown[], R>(call: string, f: (...args: A) => Promise<R>) => {
      const series = this.hsmSeconds.series(call);
      return async (...args: A): Promise<R> => {
        const started = process.hrtime.bigint();
        try {
          return await f.apply(keys, args);
        } catch (e) {
          this.hsmErrors.add(1, call, e instanceof KeyProtectorError ? e.code : 'other');
          throw e;
        } finally {
          this.hsmSeconds.observe(series, Number(process.hrtime.bigint() - started) / 1e9);
        }
      };
    };
    return {
      get kekId() {
        return keys.kekId;
      },
      get mechanism() {
        return keys.mechanism;
      },
      protect: timed('protect', keys.protect),
      unprotect: timed('unprotect', keys.unprotect),
      indexMac: timed('indexMac', keys.indexMac),
      ...(keys.signDigest ? { signDigest: timed('signDigest', keys.signDigest) } : {}),
      ...(keys.verifyDigest ? { verifyDigest: timed('verifyDigest', keys.verifyDigest) } : {}),
      ...(keys.missingKeks ? { missingKeks: timed('missingKeks', keys.missingKeks) } : {}),
      ...(keys.adoptCurrentKek ? { adoptCurrentKek: (kekId?: string) => keys.adoptCurrentKek!(kekId) } : {}),
      ...(keys.auditMac ? { auditMac: timed('auditMac', keys.auditMac) } : {}),
      ...(keys.verifyAuditMac ? { verifyAuditMac: timed('verifyAuditMac', keys.verifyAuditMac) } : {}),
      close: () => keys.close(),
    };
  }
}
