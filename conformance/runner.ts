/**
 * The conformance runner: replays each OASIS test case (request after request, in order) against
 * a target and compares every response with the expected one (see compare.ts for what may vary).
 *
 * Each case runs against a fresh target, except the chained cases, which read objects that an
 * earlier case of the same version left on the server: those run in order against one target.
 */
import { decodeTtlv } from '../ttlv/decode';
import { encodeTtlv } from '../ttlv/encode';
import { ItemType } from '../ttlv/types';
import type { TtlvItem } from '../ttlv/types';
import { Tag } from '../src/spec/generated/tags';
import { loadCase } from './cases';
import type { CaseInfo, LoadedCase } from './cases';
import { CaseState, ServerState, compareResponse, finishRequest, observeResponse, resolveRequestPlaceholder, showValue } from './compare';
import { requestFromElement } from './expected';
import type { Target } from './targets';

export type CaseStatus = 'pass' | 'fail' | 'skip';

export interface CaseResult {
  readonly info: CaseInfo;
  readonly status: CaseStatus;
  /** fail: where and what differed; skip: why. */
  readonly detail?: string;
  /** Steps (request/response pairs) that matched, of `totalSteps`. */
  readonly stepsPassed: number;
  readonly totalSteps: number;
  readonly ms: number;
}

export interface SkipRule {
  /** Case id pattern, `*` matching anything: "v1.4/MSGENC-HTTPS-M-1-14", "*\/MSGENC-HTTPS-*". */
  readonly pattern: string;
  readonly reason: string;
}

/**
 * Cases that need objects an earlier case left behind (by base name, in running order): SASED-M-3
 * locates the authentication key SASED-M-2 registered, TL-M-3 the tape key TL-M-2 created.
 */
export const CHAINS: readonly (readonly string[])[] = [
  ['SASED-M-2', 'SASED-M-3'],
  ['TL-M-2', 'TL-M-3'],
];

export interface RunOptions {
  /** The cases to run, in order (see `selectCases`). */
  readonly cases: readonly CaseInfo[];
  readonly skips?: readonly SkipRule[];
  /** Opens a target for a group of cases that share one server. */
  readonly openTarget: (group: readonly PreparedCase[]) => Promise<Target>;
  /** Groups run at the same time. */
  readonly jobs?: number;
  /** Longest wait for one response. */
  readonly timeoutMs?: number;
  readonly clockSlackSeconds?: number;
  /** Called once per case, in case order, as soon as the case and all before it are done. */
  readonly onResult?: (r: CaseResult) => void;
  /** Called with every request sent and response received (for --trace); not in case order. */
  readonly onStep?: (s: StepTrace) => void;
}

export interface StepTrace {
  readonly info: CaseInfo;
  readonly step: number;
  readonly request: TtlvItem;
  /** Undefined when no decodable response came. */
  readonly response?: TtlvItem;
}

export interface PreparedCase {
  readonly info: CaseInfo;
  readonly skip?: string;
  readonly loaded?: LoadedCase;
  readonly loadError?: string;
}

function globToRegExp(glob: string): RegExp {
  return new RegExp('^' + glob.split('*').map((s) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('.*') + '$');
}

/** The reason a case is skipped, or undefined. */
export function skipReason(info: CaseInfo, skips: readonly SkipRule[]): string | undefined {
  for (const s of skips) if (globToRegExp(s.pattern).test(info.id)) return s.reason;
  return undefined;
}

function chainOf(info: CaseInfo): readonly string[] | undefined {
  return CHAINS.find((c) => c.includes(info.base));
}

/**
 * The cases matching `filter` (a regular expression, case-insensitive, tried on the id
 * "v1.4/SKLC-M-1-14"), plus the earlier members of their chains, which they cannot run without.
 */
export function selectCases(all: readonly CaseInfo[], filter: RegExp | undefined): CaseInfo[] {
  if (filter === undefined) return [...all];
  const chosen = new Set(all.filter((c) => filter.test(c.id)));
  for (const c of [...chosen]) {
    const chain = chainOf(c);
    if (chain === undefined) continue;
    for (const base of chain.slice(0, chain.indexOf(c.base))) {
      const before = all.find((o) => o.version === c.version && o.base === base);
      if (before) chosen.add(before);
    }
  }
  return all.filter((c) => chosen.has(c));
}

/** Cases in groups that each run against one target, chains kept together in chain order. */
export function groupCases(cases: readonly CaseInfo[]): CaseInfo[][] {
  const groups: CaseInfo[][] = [];
  const chained = new Map<string, CaseInfo[]>();
  for (const c of cases) {
    const chain = chainOf(c);
    if (chain === undefined) {
      groups.push([c]);
      continue;
    }
    const key = `${c.version}/${chain.join('+')}`;
    let g = chained.get(key);
    if (g === undefined) {
      g = [];
      chained.set(key, g);
      groups.push(g);
    }
    g.push(c);
  }
  for (const g of chained.values()) {
    const chain = chainOf(g[0] as CaseInfo) as readonly string[];
    g.sort((a, b) => chain.indexOf(a.base) - chain.indexOf(b.base));
  }
  return groups;
}

function prepare(info: CaseInfo, skips: readonly SkipRule[]): PreparedCase {
  const skip = skipReason(info, skips);
  if (skip !== undefined) return { info, skip };
  try {
    return { info, loaded: loadCase(info.file) };
  } catch (e) {
    return { info, loadError: e instanceof Error ? e.message : String(e) };
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no response within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

function operationsOf(request: TtlvItem): string {
  if (request.type !== ItemType.Structure) return '?';
  const names: string[] = [];
  for (const item of request.value) {
    if (item.tag !== Tag.BatchItem || item.type !== ItemType.Structure) continue;
    const op = item.value.find((c) => c.tag === Tag.Operation);
    names.push(op ? showValue(op) : '?');
  }
  return names.join('+');
}

interface CaseOutcome {
  readonly result: CaseResult;
  /** The target may be out of step (timeout, broken connection): open a new one. */
  readonly targetSpoiled: boolean;
}

async function runCase(
  prepared: PreparedCase,
  loaded: LoadedCase,
  target: Target,
  server: ServerState,
  opts: { timeoutMs: number; clockSlackSeconds: number; onStep?: (s: StepTrace) => void },
): Promise<CaseOutcome> {
  const started = Date.now();
  const state = new CaseState(server, opts.clockSlackSeconds);
  const total = loaded.steps.length;
  const done = (status: CaseStatus, stepsPassed: number, detail?: string, targetSpoiled = false): CaseOutcome => ({
    result: { info: prepared.info, status, detail, stepsPassed, totalSteps: total, ms: Date.now() - started },
    targetSpoiled,
  });
  for (let i = 0; i < total; i++) {
    const step = loaded.steps[i] as (typeof loaded.steps)[number];
    const at = `step ${i + 1}/${total}`;
    let request: TtlvItem;
    try {
      const now = Date.now();
      request = finishRequest(requestFromElement(step.request, (info) => resolveRequestPlaceholder(info, state, now)), state);
    } catch (e) {
      return done('fail', i, `${at}: cannot build the request: ${(e as Error).message}`);
    }
    const what = `${at} (${operationsOf(request)})`;
    let reply: Uint8Array;
    try {
      reply = await withTimeout(target.handle(encodeTtlv(request)), opts.timeoutMs);
    } catch (e) {
      opts.onStep?.({ info: prepared.info, step: i + 1, request });
      return done('fail', i, `${what}: no response: ${(e as Error).message}`, true);
    }
    let actual: TtlvItem;
    try {
      actual = decodeTtlv(reply, { maxMessageBytes: reply.length });
    } catch (e) {
      opts.onStep?.({ info: prepared.info, step: i + 1, request });
      return done('fail', i, `${what}: the response does not decode: ${(e as Error).message}`);
    }
    opts.onStep?.({ info: prepared.info, step: i + 1, request, response: actual });
    const mismatch = compareResponse(step.response, actual, request, state, Date.now());
    if (mismatch) return done('fail', i, `${what} at ${mismatch.path}: expected ${mismatch.expected}, got ${mismatch.actual}`);
    observeResponse(request, actual, state);
  }
  return done('pass', total);
}

interface GroupOptions {
  readonly openTarget: RunOptions['openTarget'];
  readonly timeoutMs: number;
  readonly clockSlackSeconds: number;
  readonly onStep?: (s: StepTrace) => void;
}

async function runGroup(group: readonly PreparedCase[], opts: GroupOptions, report: (r: CaseResult) => void): Promise<void> {
  // One server state for the group: the objects of a chain outlive each case.
  const server = new ServerState();
  let target: Target | undefined;
  try {
    for (const p of group) {
      if (p.skip !== undefined) {
        report({ info: p.info, status: 'skip', detail: p.skip, stepsPassed: 0, totalSteps: 0, ms: 0 });
        continue;
      }
      if (p.loaded === undefined) {
        report({ info: p.info, status: 'fail', detail: `cannot read the test case: ${p.loadError ?? 'unknown error'}`, stepsPassed: 0, totalSteps: 0, ms: 0 });
        continue;
      }
      if (target === undefined) {
        try {
          target = await opts.openTarget(group);
        } catch (e) {
          const steps = p.loaded.steps.length;
          report({ info: p.info, status: 'fail', detail: `cannot open the target: ${(e as Error).message}`, stepsPassed: 0, totalSteps: steps, ms: 0 });
          continue;
        }
      }
      const outcome = await runCase(p, p.loaded, target, server, opts);
      report(outcome.result);
      if (outcome.targetSpoiled) {
        await target.close().catch(() => undefined);
        target = undefined;
      }
    }
  } finally {
    if (target) await target.close().catch(() => undefined);
  }
}

/** Runs the cases; results come back (and go to `onResult`) in case order. */
export async function runConformance(options: RunOptions): Promise<CaseResult[]> {
  const skips = options.skips ?? [];
  const jobs = Math.max(1, options.jobs ?? 1);
  const opts: GroupOptions = {
    openTarget: options.openTarget,
    timeoutMs: options.timeoutMs ?? 30_000,
    clockSlackSeconds: options.clockSlackSeconds ?? 60,
    ...(options.onStep === undefined ? {} : { onStep: options.onStep }),
  };
  const order = new Map<string, number>();
  options.cases.forEach((c, i) => order.set(c.id, i));
  const results = new Array<CaseResult | undefined>(options.cases.length);
  let emitted = 0;
  const report = (r: CaseResult): void => {
    results[order.get(r.info.id) as number] = r;
    while (emitted < results.length && results[emitted] !== undefined) {
      options.onResult?.(results[emitted] as CaseResult);
      emitted++;
    }
  };
  const groups = groupCases(options.cases);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < groups.length) {
      const g = groups[next++] as CaseInfo[];
      await runGroup(
        g.map((c) => prepare(c, skips)),
        opts,
        report,
      );
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, groups.length) }, worker));
  return results.filter((r): r is CaseResult => r !== undefined);
}
