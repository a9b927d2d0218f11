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
 *
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

function compareTable(runs: readonly RunFigures[]): string {
  const keysInOrder = [...new Set(runs.flatMap((r) => [...r.keys()]))];
  const pickAll = (k: string, side: 'ours' | 'pykmip', f: keyof OpFigures) =>
    median(runs.map((r) => r.get(k)?.[side]?.[f] ?? NaN));
  const rows = keysInOrder.map((k) => {
    const ours = pickAll(k, 'ours', 'opsPerSecond');
    const py = pickAll(k, 'pykmip', 'opsPerSecond');
    const failedOurs = pickAll(k, 'ours', 'failed');
    const failedPy = pickAll(k, 'pykmip', 'failed');
    return [
      k,
      fmtRate(ours),
      fmtMs(pickAll(k, 'ours', 'p50')),
      fmtMs(pickAll(k, 'ours', 'p99')),
      fmtRate(py),
      fmtMs(pickAll(k, 'pykmip', 'p50')),
      fmtMs(pickAll(k, 'pykmip', 'p99')),
      Number.isFinite(ours / py) && py > 0 ? `${(ours / py).toFixed(1)}x` : '-',
      `${Number.isNaN(failedOurs) ? '-' : failedOurs}/${Number.isNaN(failedPy) ? '-' : failedPy}`,
    ];
  });
  return table(
    ['phase/op', 'ours ops/s', 'ours p50 ms', 'ours p99 ms', 'PyKMIP ops/s', 'PyKMIP p50 ms', 'PyKMIP p99 ms', 'ops/s ours/PyKMIP', 'failed ours/Py'],
    rows,
  );
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
  const runs = Number(flag('runs', '1'));
  const all: RunFigures[] = [];
  const notes = new Set<string>();
  for (let i = 1; i <= runs; i++) {
    const r = await oneRun(i);
    all.push(r.figures);
    for (const n of r.notes) notes.add(n);
  }
  console.log(`\nours vs PyKMIP (pykmip-server ${pykmipVersion()}), KMIP ${version.major}.${version.minor}, ${keys} keys stored for the read phases` + (runs > 1 ? `, medians of ${runs} runs` : ''));
  console.log(compareTable(all));
  for (const n of notes) console.log(n);
  const json = flag('json', '');
  if (json) {
    const plain = all.map((r) => Object.fromEntries(r));
    fs.writeFileSync(json, JSON.stringify(plain, null, 2));
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
  process.exit(1);
});
