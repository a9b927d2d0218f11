/**
 * Metrics and readiness with workers (`--workers N`): the primary serves the endpoint and asks each
 * worker, over the cluster channel, for its registry (prom-client's JSON form) and its readiness;
 * it adds its own (the audit trail it owns) and sums them with prom-client's AggregatorRegistry
 * (each metric says how: counters and histograms add up, the objects gauge keeps one reading).
 * Own messages rather than prom-client's built-in cluster listener, so readiness rides along and
 * a worker that does not answer is named instead of failing the whole scrape.
 */
import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import type { ServerMetrics } from './metrics';

/** A worker that has not answered in this long is left out of the scrape and makes the server not ready. */
const WORKER_ANSWER_TIMEOUT_MS = 5_000;

interface ScrapeRequest {
  readonly type: 'kmip-metrics-request';
  readonly id: number;
}

interface ScrapeReply {
  readonly type: 'kmip-metrics-reply';
  readonly id: number;
  readonly metrics: MetricObjectWithValues<MetricValue<string>>[];
  readonly notReady: readonly string[];
}

function isScrapeRequest(m: unknown): m is ScrapeRequest {
  return typeof m === 'object' && m !== null && (m as { type?: unknown }).type === 'kmip-metrics-request';
}

function isScrapeReply(m: unknown): m is ScrapeReply {
  return typeof m === 'object' && m !== null && (m as { type?: unknown }).type === 'kmip-metrics-reply';
}

/** In a worker: answers the primary's scrapes with this process's metrics and readiness. */
export function answerPrimaryScrapes(metrics: ServerMetrics, notReady: () => Promise<readonly string[]>): void {
  process.on('message', (m: unknown) => {
    if (!isScrapeRequest(m) || !cluster.isWorker) return;
    void Promise.all([metrics.registry.getMetricsAsJSON(), notReady()]).then(
      ([json, reasons]) => process.send?.({ type: 'kmip-metrics-reply', id: m.id, metrics: json, notReady: reasons.map((r) => `worker ${process.pid}: ${r}`) } satisfies ScrapeReply),
      (e: unknown) => process.send?.({ type: 'kmip-metrics-reply', id: m.id, metrics: [], notReady: [`worker ${process.pid}: ${(e as Error).message}`] } satisfies ScrapeReply),
    );
  });
}

/** One round of questions to the ready workers: their replies, and the workers that did not answer. */
async function askWorkers(workers: readonly Worker[], id: number): Promise<{ replies: ScrapeReply[]; silent: Worker[] }> {
  const replies: ScrapeReply[] = [];
  const silent: Worker[] = [];
  await Promise.all(
    workers.map(
      (w) =>
        new Promise<void>((resolve) => {
          const onMessage = (m: unknown) => {
            if (!isScrapeReply(m) || m.id !== id) return;
            finish();
            replies.push(m);
          };
          const timer = setTimeout(() => {
            finish();
            silent.push(w);
          }, WORKER_ANSWER_TIMEOUT_MS);
          const finish = () => {
            clearTimeout(timer);
            w.off('message', onMessage);
            resolve();
          };
          w.on('message', onMessage);
          w.send({ type: 'kmip-metrics-request', id } satisfies ScrapeRequest);
        }),
    ),
  );
  return { replies, silent };
}

/**
 * In the primary: the metrics text (its own registry summed with every worker's) and the readiness
 * (its own, the audit trail and its HSM, and every ready worker's; none ready is not ready).
 */
export function clusterScrape(own: ServerMetrics, ownReadiness: () => Promise<readonly string[]>, readyWorkers: () => readonly Worker[], expected: number) {
  let nextId = 0;
  return {
    async metrics(): Promise<string> {
      const { replies } = await askWorkers(readyWorkers(), nextId++);
      const all = [await own.registry.getMetricsAsJSON(), ...replies.map((r) => r.metrics)];
      return AggregatorRegistry.aggregate(all).metrics();
    },
    async notReady(): Promise<readonly string[]> {
      const primary = (await ownReadiness()).map((r) => `primary: ${r}`);
      const workers = readyWorkers();
      if (workers.length === 0) return [...primary, `no worker is serving (0 of ${expected} ready)`];
      const { replies, silent } = await askWorkers(workers, nextId++);
      return [...primary, ...replies.flatMap((r) => r.notReady), ...silent.map((w) => `worker ${w.process.pid} did not answer in ${WORKER_ANSWER_TIMEOUT_MS} ms`)];
    },
  };
}
