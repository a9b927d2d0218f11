/** Reading the server's metrics endpoint in tests: HTTP(S) GETs and the Prometheus text's samples. */
import http from 'node:http';
import https from 'node:https';

export interface HttpAnswer {
  readonly status: number;
  readonly body: string;
  readonly contentType: string | undefined;
}

/** GET (or another method) on the endpoint; `tls` for `metrics.tls` (client certificate and CA). */
export function httpGet(port: number, path: string, opts: { method?: string; tls?: https.RequestOptions } = {}): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const request = opts.tls ? https.request : http.request;
    const req = request({ host: '127.0.0.1', port, path, method: opts.method ?? 'GET', agent: false, ...(opts.tls ?? {}) }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, contentType: res.headers['content-type'] }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The value of the sample `name` whose labels include `labels` (0 when there is none); several matching add up. */
export function sample(text: string, name: string, labels: Readonly<Record<string, string>> = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line === '') continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = new Map([...(m[2] ?? '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1]!, l[2]!]));
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) total += Number(m[3]);
  }
  return total;
}

/** The metrics port a server process logged ("metrics listening"). */
export function metricsPortOf(output: string): number {
  const m = /"msg":"metrics listening".*?"port":(\d+)/.exec(output);
  if (!m) throw new Error(`the server did not log where metrics listen:\n${output}`);
  return Number(m[1]);
}
