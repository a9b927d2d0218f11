/**
 * `npm run conformance -- [options]`: option parsing and the run, separate from cli.ts so tests
 * can call it.
 */
import * as fs from 'fs';
import * as path from 'path';
import { parseArgs } from 'util';
import { ALL_VERSIONS, DEFAULT_VERSIONS, discoverCases } from './cases';
import { replayTarget } from './replay';
import { caseLine, countResults, findRegressions, jsonReport, loadExpectedPassing, loadSkipList, renderTable, summarize, updateExpectedPassing } from './report';
import { runConformance, selectCases } from './runner';
import type { CaseResult, PreparedCase, StepTrace } from './runner';
import { renderKmipXml } from '../ttlv/xml';
import { kmipDictionary } from '../src/spec/dictionary';
import { groupEncoding, httpsFactory, openEmbeddedRun, parseHostPort, tlsFactory } from './targets';
import type { Target } from './targets';

export const PROJECT_ROOT = path.resolve(__dirname, '..');
export const DEFAULT_SKIP_LIST = path.join(PROJECT_ROOT, 'conformance', 'skip-list.json');
export const DEFAULT_EXPECTED = path.join(PROJECT_ROOT, 'conformance', 'expected-results.json');

export const USAGE = `usage: npm run conformance -- (--in-process | [--server HOST:PORT] [--https-server HOST:PORT] --ca FILE --cert FILE --key FILE | --self-test) [options]

  --in-process          run against this project's server core (src/embedded.ts), a fresh one per case
                        (MSGENC cases through the HTTPS transport's body handling, in their encoding)
    --postgres URL      on the PostgreSQL store engine: URL of a cluster's admin database (e.g.
                        postgresql://postgres@127.0.0.1:5432/postgres); a fresh database per case
  --server HOST:PORT    run against a KMIP server over mutual TLS (any implementation)
  --https-server HOST:PORT
                        KMIP over HTTPS (POST /kmip): the MSGENC cases go there in their encoding
                        (TTLV, JSON, XML); alone, every case goes there (binary TTLV unless MSGENC);
                        without it, --server skips the MSGENC cases
    --ca FILE --cert FILE --key FILE   CA bundle for the server, client certificate and key (PEM)
    --servername NAME   name the server certificate must carry, if not HOST
  --self-test           run against a replay of the cases themselves (tests the runner)
  --cases DIR           test-case folder (default: $KMIP_CONFORMANCE_DIR or ../shared/kmip-conformance)
  --versions LIST       e.g. 1.0,1.4,2.1 (default ${DEFAULT_VERSIONS.join(',')}; 3.0 is a draft)
  --filter REGEX        only cases whose id (e.g. v1.4/SKLC-M-1-14) matches, case-insensitive
                        (the earlier cases of a chain come along)
  --json FILE           also write the report as JSON
  --trace               print every request sent and response received, as KMIP XML
  --jobs N              cases run at the same time (default: 4 in-process, 1 otherwise)
  --timeout MS          longest wait for one response (default 30000)
  --clock-slack S       seconds a server time may lie outside the $NOW window (default 60)
  --skip-list FILE      default conformance/skip-list.json
  --ignore-skips        run the cases of the skip list too
  --expected FILE       default conformance/expected-results.json
  --check-regressions   exit 1 if a case listed there as passing did not pass
  --update-expected     add this run's passing cases to that file (never removes one)

Exit status: 0, or 1 for regressions (with --check-regressions), 2 for a usage or set-up error.`;

export interface CliOptions {
  readonly mode: 'in-process' | 'server' | 'self-test';
  readonly server?: { host: string; port: number; ca: string; cert: string; key: string; servername?: string };
  /** `--https-server`: KMIP over HTTPS, with the same CA and client files. */
  readonly https?: { host: string; port: number; ca: string; cert: string; key: string; servername?: string };
  readonly casesDir: string;
  readonly versions: readonly string[];
  readonly filter?: RegExp;
  readonly json?: string;
  readonly jobs: number;
  /** `--postgres`: in-process cores on PostgreSQL, a database per case made through this admin URL. */
  readonly postgres?: string;
  readonly timeoutMs: number;
  readonly clockSlackSeconds: number;
  readonly skipList: string;
  readonly ignoreSkips: boolean;
  readonly expected: string;
  readonly checkRegressions: boolean;
  readonly updateExpected: boolean;
  readonly trace: boolean;
}

export class UsageError extends Error {}

function positiveInt(text: string | undefined, name: string, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`${name}: expected a whole number, got "${text}"`);
  return n;
}

export function defaultCasesDir(): string {
  const env = process.env['KMIP_CONFORMANCE_DIR'];
  return env !== undefined && env !== '' ? path.resolve(env) : path.resolve(PROJECT_ROOT, '..', 'shared', 'kmip-conformance');
}

export function parseCli(argv: readonly string[]): CliOptions {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        'in-process': { type: 'boolean' },
        postgres: { type: 'string' },
        server: { type: 'string' },
        'https-server': { type: 'string' },
        ca: { type: 'string' },
        cert: { type: 'string' },
        key: { type: 'string' },
        servername: { type: 'string' },
        'self-test': { type: 'boolean' },
        cases: { type: 'string' },
        versions: { type: 'string' },
        filter: { type: 'string' },
        json: { type: 'string' },
        jobs: { type: 'string' },
        timeout: { type: 'string' },
        'clock-slack': { type: 'string' },
        'skip-list': { type: 'string' },
        'ignore-skips': { type: 'boolean' },
        expected: { type: 'string' },
        'check-regressions': { type: 'boolean' },
        'update-expected': { type: 'boolean' },
        trace: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const v = parsed.values;
  if (v.help) throw new UsageError('');
  const modes = [v['in-process'] ? 'in-process' : undefined, v.server !== undefined || v['https-server'] !== undefined ? 'server' : undefined, v['self-test'] ? 'self-test' : undefined].filter(
    (m): m is CliOptions['mode'] => m !== undefined,
  );
  if (modes.length !== 1) throw new UsageError('choose one of --in-process, --server HOST:PORT (and/or --https-server HOST:PORT), --self-test');
  const mode = modes[0] as CliOptions['mode'];
  let server: CliOptions['server'];
  let httpsServer: CliOptions['https'];
  if (mode === 'server') {
    if (v.ca === undefined || v.cert === undefined || v.key === undefined) throw new UsageError(`${v.server !== undefined ? '--server' : '--https-server'} needs --ca, --cert and --key`);
    const files = { ca: v.ca, cert: v.cert, key: v.key, ...(v.servername === undefined ? {} : { servername: v.servername }) };
    const at = (text: string, flag: string) => {
      try {
        return parseHostPort(text);
      } catch (e) {
        throw new UsageError((e as Error).message.replace('--server', flag));
      }
    };
    if (v.server !== undefined) server = { ...at(v.server, '--server'), ...files };
    if (v['https-server'] !== undefined) httpsServer = { ...at(v['https-server'], '--https-server'), ...files };
  }
  const versions =
    v.versions === undefined
      ? DEFAULT_VERSIONS
      : v.versions
          .split(',')
          .map((s) => s.trim().replace(/^v/, ''))
          .filter((s) => s !== '');
  for (const ver of versions) {
    if (!(ALL_VERSIONS as readonly string[]).includes(ver)) throw new UsageError(`--versions: unknown version "${ver}" (known: ${ALL_VERSIONS.join(', ')})`);
  }
  if (v.postgres !== undefined && mode !== 'in-process') throw new UsageError('--postgres goes with --in-process');
  let filter: RegExp | undefined;
  if (v.filter !== undefined) {
    try {
      filter = new RegExp(v.filter, 'i');
    } catch (e) {
      throw new UsageError(`--filter: ${(e as Error).message}`);
    }
  }
  return {
    mode,
    ...(server === undefined ? {} : { server }),
    ...(httpsServer === undefined ? {} : { https: httpsServer }),
    casesDir: v.cases === undefined ? defaultCasesDir() : path.resolve(v.cases),
    versions,
    ...(filter === undefined ? {} : { filter }),
    ...(v.json === undefined ? {} : { json: v.json }),
    jobs: Math.max(1, positiveInt(v.jobs, '--jobs', mode === 'server' ? 1 : 4)),
    ...(v.postgres === undefined ? {} : { postgres: v.postgres }),
    timeoutMs: positiveInt(v.timeout, '--timeout', 30_000),
    clockSlackSeconds: positiveInt(v['clock-slack'], '--clock-slack', 60),
    skipList: v['skip-list'] ?? DEFAULT_SKIP_LIST,
    ignoreSkips: v['ignore-skips'] === true,
    expected: v.expected ?? DEFAULT_EXPECTED,
    checkRegressions: v['check-regressions'] === true,
    updateExpected: v['update-expected'] === true,
    trace: v.trace === true,
  };
}

type OpenTarget = (group: readonly PreparedCase[]) => Promise<Target>;

interface Opener {
  readonly open: OpenTarget;
  readonly label: string;
  close(): Promise<void>;
}

async function openerFor(opts: CliOptions): Promise<Opener> {
  switch (opts.mode) {
    case 'self-test':
      return { open: async (group) => replayTarget(group), label: 'self-test (replay of the cases)', close: async () => undefined };
    case 'server': {
      const files = (f: { ca: string; cert: string; key: string; servername?: string }) => ({
        ca: fs.readFileSync(f.ca),
        cert: fs.readFileSync(f.cert),
        key: fs.readFileSync(f.key),
        ...(f.servername === undefined ? {} : { servername: f.servername }),
      });
      const s = opts.server;
      const h = opts.https;
      const overTls = s && tlsFactory({ host: s.host, port: s.port, ...files(s) });
      const overHttps = h && httpsFactory({ host: h.host, port: h.port, ...files(h) });
      const label = [s && `server ${s.host}:${s.port}`, h && `HTTPS ${h.host}:${h.port}`].filter(Boolean).join(', ');
      return {
        // MSGENC cases over HTTPS in their encoding; the rest over TLS, or over HTTPS in binary TTLV when no --server.
        open: (group) => {
          const encoding = groupEncoding(group);
          if (overHttps && (encoding !== undefined || !overTls)) return overHttps(encoding);
          return (overTls as NonNullable<typeof overTls>)();
        },
        label,
        close: async () => undefined,
      };
    }
    case 'in-process': {
      const run = await openEmbeddedRun(opts.postgres === undefined ? {} : { postgresAdminUrl: opts.postgres });
      return {
        open: (group) => run.factory(groupEncoding(group)),
        label: opts.postgres === undefined ? 'in-process (SoftHSM2 token, fresh SQLite data directory per case)' : 'in-process (SoftHSM2 token, fresh PostgreSQL database per case)',
        close: () => run.close(),
      };
    }
  }
}

export interface Output {
  line(text: string): void;
}

/** Runs the CLI; resolves to the exit status. */
export async function main(argv: readonly string[], out: Output = { line: (t) => process.stdout.write(t + '\n') }): Promise<number> {
  let opts: CliOptions;
  try {
    opts = parseCli(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    if (e.message !== '') out.line(`conformance: ${e.message}`);
    out.line(USAGE);
    return e.message === '' ? 0 : 2;
  }
  if (!fs.existsSync(opts.casesDir)) {
    out.line(`conformance: test cases not found at ${opts.casesDir} (set KMIP_CONFORMANCE_DIR or use --cases)`);
    return 2;
  }
  const skips = opts.ignoreSkips ? [] : loadSkipList(opts.skipList);
  if (opts.mode === 'server' && opts.https === undefined) {
    skips.push({ pattern: '*/MSGENC-*', reason: 'the MSGENC cases are KMIP over HTTPS: add --https-server HOST:PORT' });
  }
  const cases = selectCases(discoverCases(opts.casesDir, opts.versions), opts.filter);
  if (cases.length === 0) {
    out.line('conformance: no test case matches');
    return 2;
  }
  let opener: Opener;
  try {
    opener = await openerFor(opts);
  } catch (e) {
    out.line(`conformance: cannot set up the ${opts.mode} target: ${(e as Error).message}`);
    return 2;
  }
  const startedAt = new Date();
  let results: CaseResult[];
  try {
    results = await runConformance({
      cases,
      skips,
      openTarget: opener.open,
      jobs: opts.jobs,
      timeoutMs: opts.timeoutMs,
      clockSlackSeconds: opts.clockSlackSeconds,
      onResult: (r) => out.line(caseLine(r)),
      ...(opts.trace
        ? {
            onStep: (t: StepTrace) => {
              out.line(`--- v${t.info.version} ${t.info.name} step ${t.step}: request`);
              out.line(renderKmipXml(t.request, kmipDictionary));
              out.line(`--- v${t.info.version} ${t.info.name} step ${t.step}: response`);
              out.line(t.response === undefined ? '(none)' : renderKmipXml(t.response, kmipDictionary));
            },
          }
        : {}),
    });
  } finally {
    await opener.close();
  }
  const durationMs = Date.now() - startedAt.getTime();
  const regressions = findRegressions(loadExpectedPassing(opts.expected), results);
  const versions = opts.versions.filter((ver) => results.some((r) => r.info.version === ver));

  out.line('');
  out.line(`Target: ${opener.label}; ${results.length} cases in ${(durationMs / 1000).toFixed(1)} s`);
  out.line(renderTable(summarize(results, versions)));
  if (opts.json !== undefined) {
    fs.writeFileSync(opts.json, JSON.stringify(jsonReport(results, { target: opener.label, startedAt, durationMs, versions, regressions }), null, 2) + '\n');
  }
  if (opts.updateExpected) {
    const added = updateExpectedPassing(opts.expected, results);
    out.line(`${path.relative(process.cwd(), opts.expected) || opts.expected}: ${added.length} newly passing case(s) added`);
  }
  out.line('');
  for (const r of regressions) out.line(`REGRESSION v${r.info.version} ${r.info.name}: listed as passing, now ${r.status.toUpperCase()}`);
  const n = countResults(results);
  out.line(`${n.skipped} skipped`);
  out.line(`${n.passed} passed, ${n.failed} failed`);
  return opts.checkRegressions && regressions.length > 0 ? 1 : 0;
}
