/** Printing phase results as text tables. */
import type { PhaseResult } from './workload';
import { fmtMs, fmtRate, table } from './stats';

export function phaseTable(results: readonly PhaseResult[]): string {
  const rows: string[][] = [];
  for (const r of results) {
    for (const [op, s] of r.ops) {
      rows.push([
        `${r.label}/${op}`,
        String(s.ok),
        String(s.failed),
        fmtRate(s.opsPerSecond),
        fmtMs(s.p50),
        fmtMs(s.p95),
        fmtMs(s.p99),
        fmtMs(s.max),
      ]);
    }
  }
  return table(['phase/op', 'ok', 'failed', 'ops/s', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms'], rows);
}

export function resourceTable(results: readonly PhaseResult[]): string {
  const rows = results.map((r) => [
    r.label,
    r.seconds.toFixed(1),
    String(r.connections),
    r.server ? `${r.server.cpuSeconds.toFixed(1)} (${Math.round((100 * r.server.cpuSeconds) / r.seconds)}%)` : '-',
    r.server ? r.server.peakRssMb.toFixed(0) : '-',
    r.server ? r.server.hwmMb.toFixed(0) : '-',
    `${r.clientCpuSeconds.toFixed(1)} (${Math.round((100 * r.clientCpuSeconds) / r.seconds)}%)`,
  ]);
  return table(['phase', 'seconds', 'conns', 'server CPU s', 'server peak RSS MB', 'server VmHWM MB', 'load-gen CPU s'], rows);
}

export function failureNotes(results: readonly PhaseResult[]): string[] {
  const notes: string[] = [];
  for (const r of results) {
    for (const [op, s] of r.ops) if (s.failureKinds.length) notes.push(`${r.label}/${op} failures: ${s.failureKinds.join('; ')}`);
  }
  return notes;
}
