/**
 * Counters and histograms that cost the request path a few Map look-ups and additions: plain
 * numbers per label set, handed to prom-client's registry only when it is scraped (each is a
 * registry metric: name, help, type, aggregator and `get()`, the form prom-client's own metrics
 * have). prom-client's Histogram.observe hashes its labels into a string on every call (about
 * 1.3 µs measured here); this does not.
 */

/** A tally per label set, found without building a key: nested maps, one level per label. */
interface Tally {
  readonly labels: Record<string, string>;
  n: number;
}

type Nest = Map<string, Nest | Tally>;

interface Sample {
  readonly labels: Readonly<Record<string, string | number>>;
  readonly value: number;
  readonly metricName?: string;
}

/** What prom-client's Registry reads from a metric (registerMetric; getMetricsAsJSON for the workers' sum). */
export interface RegistryMetric {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'histogram';
  readonly aggregator: 'sum';
  get(): { name: string; help: string; type: 'counter' | 'histogram'; aggregator: 'sum'; values: Sample[] };
}

/** A counter with up to four labels. */
export class TallyCounter implements RegistryMetric {
  readonly type = 'counter';
  readonly aggregator = 'sum';
  private readonly root: Nest = new Map();
  private readonly all: Tally[] = [];

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly string[],
  ) {}

  /**
   * Adds `by` to the tally of these label values (as many as there are label names, in order).
   * Values as parameters, not an array: nothing is allocated once a label set has been seen.
   */
  add(by: number, a: string, b = '', c = '', d = ''): void {
    const depth = this.labelNames.length;
    let node: Nest = this.root;
    for (let i = 0; i < depth - 1; i++) {
      const value = i === 0 ? a : i === 1 ? b : c;
      let next = node.get(value) as Nest | undefined;
      if (next === undefined) {
        next = new Map();
        node.set(value, next);
      }
      node = next;
    }
    const last = depth === 1 ? a : depth === 2 ? b : depth === 3 ? c : d;
    let tally = node.get(last) as Tally | undefined;
    if (tally === undefined) {
      const values = [a, b, c, d];
      const labels: Record<string, string> = {};
      this.labelNames.forEach((label, j) => (labels[label] = values[j]!));
      tally = { labels, n: 0 };
      node.set(last, tally);
      this.all.push(tally);
    }
    tally.n += by;
  }

  get(): ReturnType<RegistryMetric['get']> {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: this.all.map((t) => ({ labels: t.labels, value: t.n })) };
  }
}

/** One label set's buckets (not cumulative: get() sums them), sum and count. */
export interface Series {
  readonly labels: Record<string, string>;
  readonly counts: Float64Array;
  sum: number;
  count: number;
}

/** A histogram with at most one label; `series()` once per label value, `observe()` per event. */
export class TallyHistogram implements RegistryMetric {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly byValue = new Map<string, Series>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly buckets: readonly number[],
    private readonly labelName?: string,
  ) {}

  /** The series of this label value (the only one when the histogram has no label). */
  series(value = ''): Series {
    let s = this.byValue.get(value);
    if (s === undefined) {
      s = { labels: this.labelName === undefined ? {} : { [this.labelName]: value }, counts: new Float64Array(this.buckets.length + 1), sum: 0, count: 0 };
      this.byValue.set(value, s);
    }
    return s;
  }

  /** Counts `value` `times` times (an audit record that stands for several identical items). */
  observe(s: Series, value: number, times = 1): void {
    const b = this.buckets;
    let i = 0;
    while (i < b.length && value > b[i]!) i++;
    s.counts[i]! += times;
    s.sum += value * times;
    s.count += times;
  }

  get(): ReturnType<RegistryMetric['get']> {
    const values: Sample[] = [];
    for (const s of this.byValue.values()) {
      let cumulative = 0;
      this.buckets.forEach((le, i) => {
        cumulative += s.counts[i]!;
        values.push({ metricName: `${this.name}_bucket`, labels: { ...s.labels, le }, value: cumulative });
      });
      values.push({ metricName: `${this.name}_bucket`, labels: { ...s.labels, le: '+Inf' }, value: s.count });
      values.push({ metricName: `${this.name}_sum`, labels: s.labels, value: s.sum });
      values.push({ metricName: `${this.name}_count`, labels: s.labels, value: s.count });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}
