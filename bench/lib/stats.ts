/** Latency recording and the figures printed per operation. */

/** Keeps every latency of a phase (bounded by the phase's request cap), in milliseconds. */
export class LatencyRecorder {
  private samples = new Float64Array(1024);
  private n = 0;
  failures = 0;
  /** First few distinct failure descriptions, for the report. */
  readonly failureKinds = new Map<string, number>();

  record(ms: number): void {
    if (this.n === this.samples.length) {
      const grown = new Float64Array(this.samples.length * 2);
      grown.set(this.samples);
      this.samples = grown;
    }
    this.samples[this.n++] = ms;
  }

  fail(kind: string): void {
    this.failures++;
    if (this.failureKinds.has(kind) || this.failureKinds.size < 5) this.failureKinds.set(kind, (this.failureKinds.get(kind) ?? 0) + 1);
  }

  get count(): number {
    return this.n;
  }

  summary(seconds: number): LatencySummary {
    const sorted = this.samples.slice(0, this.n).sort();
    const pct = (p: number): number => (this.n === 0 ? NaN : sorted[Math.min(this.n - 1, Math.ceil((p / 100) * this.n) - 1)]!);
    return {
      ok: this.n,
      failed: this.failures,
      opsPerSecond: this.n / seconds,
      p50: pct(50),
      p95: pct(95),
      p99: pct(99),
      max: this.n === 0 ? NaN : sorted[this.n - 1]!,
      failureKinds: [...this.failureKinds].map(([k, c]) => `${c}x ${k}`),
    };
  }
}

export interface LatencySummary {
  /** Successful requests (latencies are of these only). */
  readonly ok: number;
  readonly failed: number;
  readonly opsPerSecond: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly max: number;
  readonly failureKinds: readonly string[];
}

export function median(xs: readonly number[]): number {
  const s = [...xs].filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function fmtMs(ms: number): string {
  if (Number.isNaN(ms)) return '-';
  return ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : ms.toFixed(0);
}

export function fmtRate(r: number): string {
  if (Number.isNaN(r)) return '-';
  return r < 100 ? r.toFixed(1) : Math.round(r).toString();
}

/** A plain fixed-width text table (console.table quotes strings and adds an index column). */
export function table(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}
