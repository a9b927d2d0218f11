/**
 * What a run prints and writes: one line per case, the table per KMIP version and profile group,
 * the JSON report, and the two files kept in the project (skip list, expected results).
 */
import * as fs from 'fs';
import { GROUPS } from './cases';
import type { CaseKind } from './cases';
import type { CaseResult, SkipRule } from './runner';

export function caseLine(r: CaseResult): string {
  const v = `v${r.info.version}`;
  switch (r.status) {
    case 'pass':
      return `PASS ${v} ${r.info.name}`;
    case 'fail':
      return `FAIL ${v} ${r.info.name} ${r.detail ?? ''}`.trimEnd();
    case 'skip':
      return `SKIP ${v} ${r.info.name}: ${r.detail ?? ''}`;
  }
}

export interface Cell {
  passed: number;
  failed: number;
  skipped: number;
}

export interface TableRow {
  readonly group: string;
  readonly kind: CaseKind;
  /** By version ("1.4"); absent where the version has no case of this group. */
  readonly cells: Readonly<Record<string, Cell>>;
}

export interface SummaryTable {
  readonly versions: readonly string[];
  readonly rows: readonly TableRow[];
  readonly totals: Readonly<Record<string, Cell>>;
}

function emptyCell(): Cell {
  return { passed: 0, failed: 0, skipped: 0 };
}

function add(cell: Cell, r: CaseResult): void {
  if (r.status === 'pass') cell.passed++;
  else if (r.status === 'fail') cell.failed++;
  else cell.skipped++;
}

export function summarize(results: readonly CaseResult[], versions: readonly string[]): SummaryTable {
  const groupOrder = (g: string): number => {
    const i = (GROUPS as readonly string[]).indexOf(g);
    return i < 0 ? GROUPS.length : i;
  };
  const keys = [...new Set(results.map((r) => `${r.info.group}\u0000${r.info.kind}`))].sort((a, b) => {
    const [ga, ka] = a.split('\u0000') as [string, string];
    const [gb, kb] = b.split('\u0000') as [string, string];
    return groupOrder(ga) - groupOrder(gb) || ga.localeCompare(gb) || (ka === kb ? 0 : ka === 'mandatory' ? -1 : 1);
  });
  const totals: Record<string, Cell> = {};
  for (const v of versions) totals[v] = emptyCell();
  const rows: TableRow[] = keys.map((key) => {
    const [group, kind] = key.split('\u0000') as [string, CaseKind];
    const cells: Record<string, Cell> = {};
    for (const r of results) {
      if (r.info.group !== group || r.info.kind !== kind) continue;
      const cell = (cells[r.info.version] ??= emptyCell());
      add(cell, r);
      add((totals[r.info.version] ??= emptyCell()), r);
    }
    return { group, kind, cells };
  });
  return { versions, rows, totals };
}

function cellText(c: Cell | undefined): string {
  if (c === undefined) return '-';
  const total = c.passed + c.failed + c.skipped;
  return c.skipped > 0 ? `${c.passed}/${total} ${c.skipped}s` : `${c.passed}/${total}`;
}

/** A fixed-width text table: rows group x mandatory/optional, columns versions, cells passed/total. */
export function renderTable(t: SummaryTable): string {
  const header = ['group', 'M/O', ...t.versions.map((v) => `v${v}`)];
  const body = t.rows.map((r) => [r.group, r.kind === 'mandatory' ? 'M' : 'O', ...t.versions.map((v) => cellText(r.cells[v]))]);
  const total = ['all', '', ...t.versions.map((v) => cellText(t.totals[v]))];
  const all = [header, ...body, total];
  const widths = header.map((_, i) => Math.max(...all.map((row) => (row[i] ?? '').length)));
  const line = (row: string[]): string => row.map((c, i) => c.padEnd(widths[i] as number)).join('  ').trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [
    'Conformance by KMIP version and profile group (passed/total; "Ns": N of them skipped)',
    line(header),
    rule,
    ...body.map(line),
    rule,
    line(total),
  ].join('\n');
}

export function countResults(results: readonly CaseResult[]): Cell {
  const c = emptyCell();
  for (const r of results) add(c, r);
  return c;
}

export interface JsonReport {
  readonly target: string;
  readonly startedAt: string;
  readonly durationMs: number;
  readonly versions: readonly string[];
  readonly totals: Cell;
  readonly table: SummaryTable;
  readonly regressions: readonly string[];
  readonly cases: ReadonlyArray<{
    readonly id: string;
    readonly version: string;
    readonly name: string;
    readonly group: string;
    readonly kind: CaseKind;
    readonly status: string;
    readonly detail?: string;
    readonly stepsPassed: number;
    readonly totalSteps: number;
    readonly ms: number;
  }>;
}

export function jsonReport(
  results: readonly CaseResult[],
  meta: { target: string; startedAt: Date; durationMs: number; versions: readonly string[]; regressions: readonly CaseResult[] },
): JsonReport {
  return {
    target: meta.target,
    startedAt: meta.startedAt.toISOString(),
    durationMs: meta.durationMs,
    versions: meta.versions,
    totals: countResults(results),
    table: summarize(results, meta.versions),
    regressions: meta.regressions.map((r) => r.info.id),
    cases: results.map((r) => ({
      id: r.info.id,
      version: r.info.version,
      name: r.info.name,
      group: r.info.group,
      kind: r.info.kind,
      status: r.status,
      ...(r.detail === undefined ? {} : { detail: r.detail }),
      stepsPassed: r.stepsPassed,
      totalSteps: r.totalSteps,
      ms: r.ms,
    })),
  };
}

// =============================================================================================
// Project files

function readJson(file: string): unknown {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** conformance/skip-list.json: `{ "skips": [{ "case": "<id pattern>", "reason": "..." }] }`; every skip needs a reason. */
export function loadSkipList(file: string): SkipRule[] {
  const data = readJson(file);
  const list = isRecord(data) ? data['skips'] : undefined;
  if (!Array.isArray(list)) throw new Error(`${file}: expected { "skips": [...] }`);
  return list.map((entry: unknown, i) => {
    if (!isRecord(entry) || typeof entry['case'] !== 'string' || typeof entry['reason'] !== 'string' || entry['reason'].trim() === '') {
      throw new Error(`${file}: skips[${i}] needs a "case" pattern and a non-empty "reason"`);
    }
    return { pattern: entry['case'], reason: entry['reason'] };
  });
}

/** conformance/expected-results.json: the cases that passed once and may not fail again. */
export function loadExpectedPassing(file: string): Set<string> {
  if (!fs.existsSync(file)) return new Set();
  const data = readJson(file);
  const list = isRecord(data) ? data['passing'] : undefined;
  if (!Array.isArray(list) || !list.every((x): x is string => typeof x === 'string')) throw new Error(`${file}: expected { "passing": ["v1.4/SKLC-M-1-14", ...] }`);
  return new Set(list);
}

/** Cases listed as passing that ran in this run and did not pass (a skip counts: it hides a case). */
export function findRegressions(expected: ReadonlySet<string>, results: readonly CaseResult[]): CaseResult[] {
  return results.filter((r) => expected.has(r.info.id) && r.status !== 'pass');
}

export function byCaseId(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

/** Adds this run's passes to the file (never removes one); returns the ids added. */
export function updateExpectedPassing(file: string, results: readonly CaseResult[]): string[] {
  const passing = loadExpectedPassing(file);
  const added = results.filter((r) => r.status === 'pass' && !passing.has(r.info.id)).map((r) => r.info.id);
  for (const id of added) passing.add(id);
  const content = {
    comment:
      'Cases that passed in-process. A case listed here that fails or is skipped is a regression ' +
      '(npm run conformance -- --in-process --check-regressions). Only --update-expected changes this file, and it only adds.',
    passing: [...passing].sort(byCaseId),
  };
  fs.writeFileSync(file, JSON.stringify(content, null, 2) + '\n');
  return added;
}
