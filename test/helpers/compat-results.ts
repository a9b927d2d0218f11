/**
 * The client-compatibility suite's record: one line per flow (`compat CLIENT VERSION FLOW: pass|fail`)
 * on the test's output, and, when COMPAT_RESULTS names a file, one JSON line per flow appended to it,
 * from which `npm run compat` prints the totals and the README's interoperability matrix.
 */
import fs from 'node:fs';

export interface FlowResult {
  readonly client: string;
  readonly version: string;
  readonly flow: string;
  readonly ok: boolean;
  readonly detail?: string;
}

export function recordFlow(r: FlowResult): void {
  process.stdout.write(`compat ${r.client} ${r.version} ${r.flow}: ${r.ok ? 'pass' : 'fail'}${r.ok || !r.detail ? '' : ` (${r.detail})`}\n`);
  const file = process.env['COMPAT_RESULTS'];
  if (file) fs.appendFileSync(file, `${JSON.stringify(r)}\n`);
}

/** A jest test that is also one flow of the compatibility record. */
export function compatTest(client: string, version: string, flow: string, body: () => Promise<void>, timeoutMs?: number): void {
  test(flow, async () => {
    try {
      await body();
      recordFlow({ client, version, flow, ok: true });
    } catch (e) {
      recordFlow({ client, version, flow, ok: false, detail: e instanceof Error ? e.message.split('\n')[0] : String(e) });
      throw e;
    }
  }, timeoutMs);
}
