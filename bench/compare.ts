/**
 * `npm run bench:compare`: our server and Debian's pykmip-server side by side, on loopback, each in
 * its own temp dir, driven by the same load generator (bench/load.ts) with the same workload, one
 * after the other. Prints, per operation, ops/s and p50/p99 for each and the ratio ours/PyKMIP of
 * ops/s; with --runs N, every run's table and the medians. Figures are relative: the machine is
 * shared and noisy. Prints figures; asserts nothing.
 *
 *   node -r ./scripts/register-ts.js bench/compare.ts [--runs 1] [--seconds 6] [--pykmip-seconds 6]
 *        [--connections 32] [--pykmip-connections 32] [--kmip-version 1.4] [--keys 200]
 *        [--phases get,locate,getattrs,encrypt,create,lifecycle] [--json FILE] [--workers 1|N|auto]
 *        [--svg FILE] [--from-json FILE]
 *
 * --svg FILE draws the medians as a side-by-side chart (ops/s and p99 per operation, ours and
 * PyKMIP; bench/lib/chart.ts). --from-json FILE reads the figures a --json run saved instead of
 * measuring, so a chart can be redrawn without running the bench again (give the same
 * --kmip-version and --keys as that run: they only label the chart).
 * --workers sets our server's serving processes (default 1); PyKMIP's server has no such setting.
 *
 * The read phases come first, so that both stores hold the same objects (the populated keys) when
 * Locate runs: PyKMIP's Locate scans every object, so its figure depends on the store's size.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parsePhases, runLoad, type LoadReport } from './load';
import { parseVersion } from './lib/kmip';
import { renderCompareSvg, type ChartRow } from './lib/chart';
import { failureNotes, phaseTable, resourceTable } from './lib/report';
import { startOurServer, startPykmipServer, type ServerUnderTest } from './lib/servers';
import { fmtMs, fmtRate, median, table } from './lib/stats';

function flag(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : dflt;
}

const version = parseVersion(flag('kmip-version', '1.4'));
const phases = parsePhases(flag('phases', 'get,locate,getattrs,encrypt,create,lifecycle'), undefined);
const keys = Number(flag('keys', '200'));

interface Side {
  readonly server: ServerUnderTest;
  readonly seconds: number;
  readonly connections: number;
}

async function drive(side: Side, pkiDir: string): Promise<LoadReport> {
  const log = (line: string) => console.error(`[compare ${side.server.name}] ${line}`);
  return runLoad({
    target: {
      host: '127.0.0.1',
      port: side.server.port,
      ca: fs.readFileSync(path.join(pkiDir, 'ca.pem')),
      cert: fs.readFileSync(path.join(pkiDir, 'client.pem')),
      key: fs.readFileSync(path.join(pkiDir, 'client-key.pem')),
      servername: 'localhost',
      requestTimeoutMs: 60_000,
    },
    pid: side.server.pid,
    version,
    connections: side.connections,
    phases,
    seconds: side.seconds,
    maxRequests: 10_000_000,
    warmupSeconds: 1,
    keys,
    encryptKeys: Math.min(keys, 64),
    idleConnections: 0,
    populateTimeoutSeconds: 300,
    connectParallel: 4,
    log,
  });
}

interface OpFigures {
  readonly opsPerSecond: number;
  readonly p50: number;
  readonly p99: number;
  readonly failed: number;
}

type RunFigures = Map<string, { ours?: OpFigures; pykmip?: OpFigures }>;

function figures(report: LoadReport): Map<string, OpFigures> {
  const out = new Map<string, OpFigures>();
  for (const r of report.results) {
    for (const [op, s] of r.ops) {
      out.set(`${r.label}/${op}`, { opsPerSecond: s.opsPerSecond, p50: s.p50, p99: s.p99, failed: s.failed });
    }
  }
  return out;
}

/** Per operation, in the order first measured, the median of every figure over the runs. */
function medians(runs: readonly RunFigures[]): Array<{ key: string; ours: OpFigures; pykmip: OpFigures }> {
  const keysInOrder = [...new Set(runs.flatMap((r) => [...r.keys()]))];
  const side = (k: string, which: 'ours' | 'pykmip'): OpFigures => {
    const pick = (f: keyof OpFigures) => median(runs.map((r) => r.get(k)?.[which]?.[f] ?? NaN));
    return { opsPerSecond: pick('opsPerSecond'), p50: pick('p50'), p99: pick('p99'), failed: pick('failed') };
  };
  return keysInOrder.map((key) => ({ key, ours: side(key, 'ours'), pykmip: side(key, 'pykmip') }));
}

function compareTable(runs: readonly RunFigures[]): string {
  const rows = medians(runs).map(({ key, ours, pykmip: py }) => [
    key,
    fmtRate(ours.opsPerSecond),
    fmtMs(ours.p50),
    fmtMs(ours.p99),
    fmtRate(py.opsPerSecond),
    fmtMs(py.p50),
    fmtMs(py.p99),
    Number.isFinite(ours.opsPerSecond / py.opsPerSecond) && py.opsPerSecond > 0 ? `${(ours.opsPerSecond / py.opsPerSecond).toFixed(1)}x` : '-',
    `${Number.isNaN(ours.failed) ? '-' : ours.failed}/${Number.isNaN(py.failed) ? '-' : py.failed}`,
  ]);
  return table(
    ['phase/op', 'ours ops/s', 'ours p50 ms', 'ours p99 ms', 'PyKMIP ops/s', 'PyKMIP p50 ms', 'PyKMIP p99 ms', 'ops/s ours/PyKMIP', 'failed ours/Py'],
    rows,
  );
}

function chartRows(runs: readonly RunFigures[]): ChartRow[] {
  // A side with no figure (NaN: that side did not run the operation) gets no bar.
  const present = (f: OpFigures) => (Number.isNaN(f.opsPerSecond) ? undefined : f);
  return medians(runs).map(({ key, ours, pykmip }) => ({ label: key, ours: present(ours), pykmip: present(pykmip) }));
}

/** The figures a --json run wrote (JSON turns NaN into null: back to NaN). */
function readSavedRuns(file: string): RunFigures[] {
  const saved = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
  if (!Array.isArray(saved)) throw new Error(`${file}: not the array of runs that --json writes`);
  const num = (x: unknown) => (typeof x === 'number' ? x : NaN);
  const sideOf = (x: unknown): OpFigures | undefined => {
    if (typeof x !== 'object' || x === null) return undefined;
    const o = x as Record<string, unknown>;
    return { opsPerSecond: num(o.opsPerSecond), p50: num(o.p50), p99: num(o.p99), failed: num(o.failed) };
  };
  return saved.map((run: unknown) => {
    const figures: RunFigures = new Map();
    for (const [k, v] of Object.entries((run ?? {}) as Record<string, { ours?: unknown; pykmip?: unknown }>)) {
      figures.set(k, { ours: sideOf(v.ours), pykmip: sideOf(v.pykmip) });
    }
    return figures;
  });
}

async function oneRun(run: number): Promise<{ figures: RunFigures; notes: string[] }> {
  const notes: string[] = [];
  const servers: ServerUnderTest[] = [];
  const result: RunFigures = new Map();
  try {
    const ours = await startOurServer({ workers: flag('workers', '1') });
    servers.push(ours);
    const pykmip = await startPykmipServer(ours.pkiDir);
    servers.push(pykmip);
    const sides: Array<[Side, 'ours' | 'pykmip']> = [
      [{ server: ours, seconds: Number(flag('seconds', '6')), connections: Number(flag('connections', '32')) }, 'ours'],
      [{ server: pykmip, seconds: Number(flag('pykmip-seconds', '6')), connections: Number(flag('pykmip-connections', '32')) }, 'pykmip'],
    ];
    for (const [side, key] of sides) {
      const report = await drive(side, ours.pkiDir);
      console.log(`\nrun ${run}: ${side.server.name}, KMIP ${version.major}.${version.minor}, ${side.connections} connections`);
      console.log(phaseTable(report.results));
      console.log(resourceTable(report.results));
      notes.push(...failureNotes(report.results).map((n) => `${side.server.name}: ${n}`));
      for (const [k, f] of figures(report)) result.set(k, { ...result.get(k), [key]: f });
    }
  } finally {
    for (const s of servers) {
      await s.stop(15_000);
      fs.rmSync(s.dir, { recursive: true, force: true });
    }
  }
  return { figures: result, notes };
}

function pykmipVersion(): string {
  try {
    return execFileSync('/usr/bin/python3', ['-c', 'import kmip; print(kmip.__version__)'], { encoding: 'utf8' }).trim();
  } catch {
    return '?';
  }
}

async function main(): Promise<void> {
  const fromJson = flag('from-json', '');
  const all: RunFigures[] = [];
  const notes = new Set<string>();
  let source = `figures read from ${fromJson}`;
  if (fromJson) {
    all.push(...readSavedRuns(fromJson));
  } else {
    const runs = Number(flag('runs', '1'));
    for (let i = 1; i <= runs; i++) {
      const r = await oneRun(i);
      all.push(r.figures);
      for (const n of r.notes) notes.add(n);
    }
    source = `pykmip-server ${pykmipVersion()}`;
  }
  const about = `KMIP ${version.major}.${version.minor}, ${keys} keys stored for the read phases` + (all.length > 1 ? `, medians of ${all.length} runs` : '');
  console.log(`\nours vs PyKMIP (${source}), ${about}`);
  console.log(compareTable(all));
  for (const n of notes) console.log(n);
  const json = flag('json', '');
  if (json && !fromJson) {
    const plain = all.map((r) => Object.fromEntries(r));
    fs.writeFileSync(json, JSON.stringify(plain, null, 2));
  }
  const svg = flag('svg', '');
  if (svg) {
    const title = 'This server and PyKMIP, side by side';
    fs.writeFileSync(svg, renderCompareSvg({ title, subtitle: `${about}; one machine, one run after the other: compare within a row`, rows: chartRows(all) }));
    console.log(`chart written to ${svg}`);
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
  process.exit(1);
});
