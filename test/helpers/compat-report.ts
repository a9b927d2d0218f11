/**
 * Results of a client-compatibility suite, one per flow, for the interoperability matrix: each
 * result is printed as one line `<suite> <client> <version> <flow>: pass|fail` as it is known, a
 * suite ends with `N passed, N failed`, and when COMPAT_RESULTS names a file the results are
 * written there as JSON. Several suites may share the file: each replaces only its own entries.
 */
import fs from 'node:fs';
import path from 'node:path';

export type FlowOutcome = 'pass' | 'fail';

export interface FlowResult {
  readonly suite: string;
  readonly client: string;
  readonly version: string;
  readonly flow: string;
  readonly result: FlowOutcome;
  /** Why it failed (the first line of the error); absent when it passed. */
  readonly detail?: string;
}

export interface CompatResultsFile {
  readonly results: FlowResult[];
}

export class CompatReport {
  private readonly results: FlowResult[] = [];

  constructor(
    readonly suite: string,
    private readonly print: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
  ) {}

  record(r: Omit<FlowResult, 'suite'>): FlowResult {
    const full: FlowResult = { suite: this.suite, ...r };
    this.results.push(full);
    const why = full.detail === undefined ? '' : ` (${full.detail})`;
    this.print(`${this.suite} ${full.client} ${full.version} ${full.flow}: ${full.result}${why}`);
    return full;
  }

  all(): readonly FlowResult[] {
    return this.results;
  }

  summary(): string {
    const passed = this.results.filter((r) => r.result === 'pass').length;
    return `${passed} passed, ${this.results.length - passed} failed`;
  }

  /** Prints the summary line and writes the JSON file when COMPAT_RESULTS (or `file`) is set. */
  finish(file: string | undefined = process.env['COMPAT_RESULTS']): void {
    this.print(`${this.suite}: ${this.summary()}`);
    if (file) writeCompatResults(file, this.suite, this.results);
  }
}

/** Replaces `suite`'s entries in the JSON file (created if absent), keeping other suites' entries. */
export function writeCompatResults(file: string, suite: string, results: readonly FlowResult[]): void {
  let kept: FlowResult[] = [];
  if (fs.existsSync(file)) {
    const old = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<CompatResultsFile>;
    kept = (old.results ?? []).filter((r) => r.suite !== suite);
  }
  const out: CompatResultsFile = { results: [...kept, ...results] };
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(out, null, 2)}\n`);
  fs.renameSync(tmp, file);
}

/** The first line of an error, for a result's detail. */
export function firstLine(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  // jest's matcher messages carry colour codes and start with the matcher call.
  const plain = text.replace(/\u001b\[[0-9;]*m/g, '');
  const lines = plain.split('\n').map((l) => l.trim()).filter(Boolean);
  return lines.slice(0, 3).join(' / ').slice(0, 300);
}
