/**
 * The side-by-side chart of `npm run bench:compare -- --svg FILE`: per operation, ops/s and p99 of
 * our server and of PyKMIP as horizontal bars, one panel per metric. Plain SVG text, no dependency.
 *
 * Each panel's scale is linear from zero to its largest figure, so bar lengths compare honestly
 * (a bar too short to see still has its figure printed beside it). Every bar carries data-row,
 * data-series, data-metric and data-value attributes: the test checks proportions through them.
 */
import { fmtMs, fmtRate } from './stats';

export interface SideFigures {
  readonly opsPerSecond: number;
  readonly p99: number;
}

export interface ChartRow {
  /** The operation as the bench names it (phase/op). */
  readonly label: string;
  readonly ours?: SideFigures;
  readonly pykmip?: SideFigures;
}

export interface ChartInput {
  readonly title: string;
  /** One line under the title: version, store size, runs, date. */
  readonly subtitle: string;
  readonly rows: readonly ChartRow[];
}

export const SERIES = [
  { key: 'ours', name: 'this server', colour: '#1f6fb4' },
  { key: 'pykmip', name: 'PyKMIP', colour: '#e07b22' },
] as const;

const METRICS = [
  { key: 'throughput', heading: 'throughput, ops/s (longer is better)', pick: (f: SideFigures) => f.opsPerSecond, fmt: fmtRate },
  { key: 'p99', heading: 'p99 latency, ms (shorter is better)', pick: (f: SideFigures) => f.p99, fmt: fmtMs },
] as const;

const LABEL_WIDTH = 220;
const BAR_AREA = 300;
// Room right of the longest bar for its figure.
const VALUE_ROOM = 70;
const PANEL_WIDTH = BAR_AREA + VALUE_ROOM;
const BAR_HEIGHT = 14;
const ROW_HEIGHT = 2 * BAR_HEIGHT + 14;
const TOP = 96;
const FONT = 'font-family="sans-serif" font-size="12"';
const TITLE_FONT = 'font-family="sans-serif" font-size="16"';

/** Text for an SVG text node or attribute: the five XML specials escaped. */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

function usable(x: number | undefined): x is number {
  return x !== undefined && Number.isFinite(x) && x >= 0;
}

/** Two decimals are enough for a pixel and keep the file small. */
function px(x: number): string {
  return String(Math.round(x * 100) / 100);
}

export function renderCompareSvg(input: ChartInput): string {
  const width = LABEL_WIDTH + METRICS.length * (PANEL_WIDTH + 20) + 10;
  const height = TOP + input.rows.length * ROW_HEIGHT + 20;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img">`,
    `<title>${escapeXml(input.title)}</title>`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="10" y="22" ${TITLE_FONT} font-weight="bold">${escapeXml(input.title)}</text>`,
    `<text x="10" y="42" ${FONT} fill="#444444">${escapeXml(input.subtitle)}</text>`,
  ];
  SERIES.forEach((s, i) => {
    const x = 10 + i * 140;
    out.push(`<rect x="${x}" y="54" width="12" height="12" fill="${s.colour}"/>`, `<text x="${x + 18}" y="65" ${FONT}>${escapeXml(s.name)}</text>`);
  });
  METRICS.forEach((metric, m) => {
    const left = LABEL_WIDTH + m * (PANEL_WIDTH + 20);
    const figures = input.rows.flatMap((r) => SERIES.map((s) => r[s.key])).filter((f): f is SideFigures => f !== undefined).map(metric.pick);
    const max = Math.max(0, ...figures.filter(usable));
    out.push(
      `<text x="${left}" y="${TOP - 12}" ${FONT} font-weight="bold">${escapeXml(metric.heading)}</text>`,
      `<line x1="${left}" y1="${TOP - 4}" x2="${left}" y2="${TOP + input.rows.length * ROW_HEIGHT}" stroke="#888888"/>`,
    );
    input.rows.forEach((row, r) => {
      SERIES.forEach((s, i) => {
        const y = TOP + r * ROW_HEIGHT + i * BAR_HEIGHT;
        const side = row[s.key];
        const value = side ? metric.pick(side) : undefined;
        if (!usable(value)) {
          out.push(`<text x="${left + 4}" y="${y + BAR_HEIGHT - 3}" ${FONT} fill="#888888">n/a</text>`);
          return;
        }
        const w = max > 0 ? (value / max) * BAR_AREA : 0;
        const attrs = `data-row="${escapeXml(row.label)}" data-series="${s.key}" data-metric="${metric.key}" data-value="${value}"`;
        out.push(
          `<rect x="${left}" y="${y}" width="${px(w)}" height="${BAR_HEIGHT - 2}" fill="${s.colour}" ${attrs}/>`,
          `<text x="${px(left + w + 4)}" y="${y + BAR_HEIGHT - 3}" ${FONT}>${escapeXml(metric.fmt(value))}</text>`,
        );
      });
    });
  });
  input.rows.forEach((row, r) => {
    out.push(`<text x="${LABEL_WIDTH - 8}" y="${TOP + r * ROW_HEIGHT + BAR_HEIGHT + 4}" ${FONT} text-anchor="end">${escapeXml(row.label)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
