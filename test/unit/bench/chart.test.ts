/**
 * The bench:compare chart (bench/lib/chart.ts) on fixed figures: well-formed XML (read by the
 * project's own strict XML reader), bar lengths proportional to the figures within each panel, no
 * bar where a side has no figure, text escaped; then `bench/compare.ts --from-json --svg` as a real
 * process, redrawing figures a --json run saved.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readXml, type XmlElement } from '../../../ttlv/xml';
import { renderCompareSvg, type ChartRow } from '../../../bench/lib/chart';

const ROOT = path.join(__dirname, '..', '..', '..');

const ROWS: ChartRow[] = [
  { label: 'get/Get', ours: { opsPerSecond: 4603, p99: 13.9 }, pykmip: { opsPerSecond: 316, p99: 135 } },
  { label: 'locate/Locate', ours: { opsPerSecond: 5743, p99: 12 }, pykmip: { opsPerSecond: 6.9, p99: 5279 } },
  { label: 'create/Create <AES & "256">', ours: { opsPerSecond: 2081, p99: 30.4 }, pykmip: { opsPerSecond: 169, p99: 279 } },
  { label: 'encrypt/Encrypt', ours: { opsPerSecond: 4323, p99: 12.7 } },
];

function elements(root: XmlElement, name: string): XmlElement[] {
  const found: XmlElement[] = [];
  const walk = (e: XmlElement) => {
    if (e.name === name) found.push(e);
    e.children.forEach(walk);
  };
  walk(root);
  return found;
}

const attr = (e: XmlElement, name: string): string | undefined => e.attributes.find((a) => a.name === name)?.value;

interface Bar {
  row: string;
  series: string;
  metric: string;
  value: number;
  width: number;
}

function bars(svg: string): Bar[] {
  return elements(readXml(svg), 'rect')
    .filter((r) => attr(r, 'data-series') !== undefined)
    .map((r) => ({
      row: attr(r, 'data-row')!,
      series: attr(r, 'data-series')!,
      metric: attr(r, 'data-metric')!,
      value: Number(attr(r, 'data-value')),
      width: Number(attr(r, 'width')),
    }));
}

describe('renderCompareSvg', () => {
  const svg = renderCompareSvg({ title: 'ours & PyKMIP', subtitle: 'KMIP 1.4, 200 keys', rows: ROWS });

  it('is one well-formed SVG document', () => {
    const root = readXml(svg);
    expect(root.name).toBe('svg');
    expect(attr(root, 'xmlns')).toBe('http://www.w3.org/2000/svg');
    const texts = elements(root, 'text').map((t) => t.content.map((n) => (n.kind === 'text' ? n.value : '')).join(''));
    expect(texts).toContain('ours & PyKMIP');
    expect(texts).toContain('create/Create <AES & "256">');
  });

  it('draws one bar per figure, none where a side did not run', () => {
    const all = bars(svg);
    // 4 rows x 2 sides x 2 metrics, less PyKMIP's missing Encrypt in both panels.
    expect(all).toHaveLength(14);
    expect(all.filter((b) => b.row === 'encrypt/Encrypt').map((b) => b.series)).toEqual(['ours', 'ours']);
    expect(elements(readXml(svg), 'text').filter((t) => t.content.some((n) => n.kind === 'text' && n.value === 'n/a'))).toHaveLength(2);
  });

  it('makes bar lengths proportional to the figures within each panel', () => {
    for (const metric of ['throughput', 'p99']) {
      const panel = bars(svg).filter((b) => b.metric === metric);
      const longest = panel.reduce((a, b) => (b.value > a.value ? b : a));
      expect(longest.width).toBe(300);
      for (const b of panel) expect(b.width / longest.width).toBeCloseTo(b.value / longest.value, 3);
    }
    const byKey = new Map(bars(svg).map((b) => [`${b.metric}/${b.row}/${b.series}`, b]));
    expect(byKey.get('throughput/locate/Locate/ours')!.width).toBe(300);
    expect(byKey.get('p99/locate/Locate/pykmip')!.width).toBe(300);
    // Get: 4603 against 316 ops/s, so ours is 14.6 times as long.
    expect(byKey.get('throughput/get/Get/ours')!.width / byKey.get('throughput/get/Get/pykmip')!.width).toBeCloseTo(4603 / 316, 1);
  });

  it('has no bars and no NaN for a table without figures', () => {
    const empty = renderCompareSvg({ title: 't', subtitle: 's', rows: [{ label: 'x' }] });
    expect(bars(empty)).toEqual([]);
    expect(empty).not.toMatch(/NaN|Infinity/);
  });
});

describe('bench/compare.ts --from-json --svg', () => {
  it('redraws the medians of saved runs as the chart', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-chart-'));
    try {
      const side = (opsPerSecond: number, p99: number) => ({ opsPerSecond, p50: p99 / 2, p99, failed: 0 });
      // Three runs as --json writes them (NaN was saved as null: the median leaves it out).
      const runs = [
        { 'get/Get': { ours: side(4000, 14), pykmip: side(300, 130) } },
        { 'get/Get': { ours: side(5000, 12), pykmip: side(320, 140) } },
        { 'get/Get': { ours: side(4500, 13), pykmip: { ...side(310, 135), p50: null } } },
      ];
      fs.writeFileSync(path.join(dir, 'runs.json'), JSON.stringify(runs));
      const out = execFileSync(
        process.execPath,
        ['-r', path.join(ROOT, 'scripts', 'register-ts.js'), path.join(ROOT, 'bench', 'compare.ts'), '--from-json', path.join(dir, 'runs.json'), '--svg', path.join(dir, 'chart.svg')],
        { cwd: ROOT, encoding: 'utf8', timeout: 60_000 },
      );
      expect(out).toMatch(/medians of 3 runs/);
      expect(out).toMatch(/get\/Get\s+4500\s+6\.50\s+13\.0\s+310\s+67\.5\s+135\s+14\.5x/);
      const drawn = bars(fs.readFileSync(path.join(dir, 'chart.svg'), 'utf8'));
      expect(drawn.map((b) => [b.metric, b.series, b.value, b.width])).toEqual([
        ['throughput', 'ours', 4500, 300],
        ['throughput', 'pykmip', 310, Math.round((310 / 4500) * 300 * 100) / 100],
        ['p99', 'ours', 13, Math.round((13 / 135) * 300 * 100) / 100],
        ['p99', 'pykmip', 135, 300],
      ]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
