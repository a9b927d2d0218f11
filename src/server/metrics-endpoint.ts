/**
 * The operator's HTTP endpoint (`metrics.listen`, `--metrics-listen`): GET /metrics (Prometheus
 * text), /healthz (the process answers) and /readyz (the store and the HSM are usable: a real
 * read and a real HSM call, 503 with the reasons when not). Plain HTTP, or with `metrics.tls` HTTPS
 * requiring a client certificate the server's CA issued (and its CRLs), as KMIP clients do.
 * Nothing here reaches a key or an object: the answers are counts and reasons.
 */
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { secureContextOptions, type TlsReload } from './peer-identity';

/** The content type of Prometheus's text format, version 0.0.4 (what prom-client writes). */
const PROMETHEUS_TEXT = 'text/plain; version=0.0.4; charset=utf-8';

/** An HSM call that has not answered in this long counts as unusable (a network HSM that hangs). */
const HSM_PROBE_TIMEOUT_MS = 5_000;

export interface MetricsEndpointOptions {
  readonly host: string;
  readonly port: number;
  /** mTLS with the server's certificate, CA and CRLs; absent: plain HTTP. */
  readonly tls?: TlsReload & { readonly ciphers?: string };
  /** The Prometheus text: this process's registry, or the sum over the workers. */
  metrics(): Promise<string>;
  /** Why requests cannot be served now; empty when ready. */
  notReady(): Promise<readonly string[]>;
}

export interface RunningMetricsEndpoint {
  readonly address: AddressInfo;
  /** New handshakes use this material (SIGHUP, as the KMIP listeners); a no-op on plain HTTP. */
  reloadTls(material: TlsReload): void;
  close(): Promise<void>;
}

/** What the readiness probe looks at in one process; each absent where the process holds none. */
export interface ReadinessSources {
  /** The store (SqliteObjectStore): why it cannot serve, or undefined. */
  readonly store?: { unusableReason(): string | undefined };
  /**
   * One real HSM call on `data` (a session, the login and a key on the token): the index key's
   * HMAC where requests are served, the audit key's in a primary that only keeps the trail.
   */
  readonly hsmCall: (data: Uint8Array) => Promise<unknown>;
  /** The audit trail (AuditTrail), in the process that owns the file: answers wait for their records. */
  readonly audit?: { readonly unusableReason: string | undefined };
}

const PROBE_INPUT = Buffer.from('kmip-server readiness probe');

/** The reasons this process cannot serve requests now (empty: it can). */
export async function probeReadiness(sources: ReadinessSources): Promise<string[]> {
  const reasons: string[] = [];
  const storeProblem = sources.store?.unusableReason();
  if (storeProblem !== undefined) reasons.push(`store: ${storeProblem}`);
  const auditProblem = sources.audit?.unusableReason;
  if (auditProblem !== undefined) reasons.push(`audit: ${auditProblem}`);
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      sources.hsmCall(PROBE_INPUT),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer in ${HSM_PROBE_TIMEOUT_MS} ms`)), HSM_PROBE_TIMEOUT_MS);
      }),
    ]);
  } catch (e) {
    reasons.push(`hsm: ${(e as Error).message}`);
  } finally {
    clearTimeout(timer);
  }
  return reasons;
}

export function startMetricsEndpoint(opts: MetricsEndpointOptions): Promise<RunningMetricsEndpoint> {
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => void serve(req, res);
  const server = opts.tls
    ? https.createServer({ ...secureContextOptions(opts.tls, opts.tls.ciphers), requestCert: true, rejectUnauthorized: true }, handler)
    : http.createServer(handler);
  // Scrapers keep connections open; a stop must not wait for them.
  server.keepAliveTimeout = 5_000;

  async function serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics' && path !== '/healthz' && path !== '/readyz') return answer(res, 404, 'not found: try /metrics, /healthz or /readyz\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') return answer(res, 405, 'method not allowed: GET\n', { Allow: 'GET, HEAD' });
    try {
      if (path === '/healthz') return answer(res, 200, 'ok\n');
      if (path === '/readyz') {
        const reasons = await opts.notReady();
        return reasons.length === 0 ? answer(res, 200, 'ready\n') : answer(res, 503, `not ready: ${reasons.join('; ')}\n`);
      }
      return answer(res, 200, await opts.metrics(), { 'Content-Type': PROMETHEUS_TEXT });
    } catch (e) {
      return answer(res, 500, `${(e as Error).message}\n`);
    }
  }

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve({
        address: server.address() as AddressInfo,
        reloadTls(material) {
          if (!opts.tls) return;
          const next = secureContextOptions(material, opts.tls.ciphers);
          // Built once first: setSecureContext records the options before OpenSSL can refuse them.
          tls.createSecureContext(next);
          (server as https.Server).setSecureContext(next);
        },
        close: () =>
          new Promise<void>((r) => {
            server.close(() => r());
            server.closeAllConnections();
          }),
      });
    });
  });
}

function answer(res: http.ServerResponse, status: number, body: string, headers: Readonly<Record<string, string>> = {}): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store', ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
