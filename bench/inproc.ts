/**
 * The request path without TLS: handleMessage over a real SQLite file and a real SoftHSM2 token,
 * in one process, driven by `concurrency` loops. Shows the server's own cost per operation (µs of
 * event-loop time), apart from sockets and the load generator; run it under `node --cpu-prof` to
 * profile handlers, store and HSM alone. Prints figures; asserts nothing.
 *
 *   node -r ./scripts/register-ts.js bench/inproc.ts [--ops create,get,firstget,locate,getattrs]
 *        [--seconds 5] [--concurrency 32] [--call-mode sync|async] [--keys 1000] [--first-get-keys 5000]
 *
 * firstget reads keys made for it (still Fresh), each once, until they run out or time is up.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createEmbeddedCore } from '../src/embedded';
import { handleMessage } from '../src/server/handle-message';
import { Pkcs11KeyProtector } from '../src/keys/pkcs11';
import { ensureSoftHsmToken, softHsmProtectorConfig } from '../src/keys/softhsm';
import { KEK_LABEL } from '../src/embedded';
import { createAuditLog } from '../src/audit/audit-log';
import { RequestBuilder, summarise } from './lib/kmip';
import { LatencyRecorder, fmtMs, fmtRate, table } from './lib/stats';

function flag(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : dflt;
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-inproc-'));
  const callMode = flag('call-mode', 'async') as 'sync' | 'async';
  const token = ensureSoftHsmToken(path.join(dir, 'softhsm'));
  const keys = await Pkcs11KeyProtector.open(softHsmProtectorConfig(token, KEK_LABEL, { callMode }));
  // The audit file, as the server writes it (the embedded default keeps records in memory); no
  // checkpoints (no MAC), and nothing here waits for its syncs as the listener does.
  const audit = createAuditLog({ file: path.join(dir, 'audit.log') });
  const embedded = await createEmbeddedCore(dir, { keys, audit });
  const session = { client: { name: 'client', isAdmin: false } };
  const b = new RequestBuilder({ major: 1, minor: 4 });
  const seconds = Number(flag('seconds', '5'));
  const concurrency = Number(flag('concurrency', '32'));
  const rows: string[][] = [];
  try {
    const call = async (msg: Uint8Array) => summarise(await handleMessage(msg, session, embedded.core));
    const pool: Array<{ uid: string; name: string }> = [];
    for (let i = 0; i < Number(flag('keys', '1000')); i++) {
      const name = `inproc-${i}`;
      const r = await call(b.create(name));
      pool.push({ uid: r.uids[0]!, name });
      await call(b.get(r.uids[0]!)); // first Get writes (Fresh): keep it out of the figures
    }
    const pick = () => pool[Math.floor(Math.random() * pool.length)]!;
    const ops = flag('ops', 'create,get,locate,getattrs').split(',');
    const unread: string[] = [];
    if (ops.includes('firstget')) {
      for (let i = 0; i < Number(flag('first-get-keys', '5000')); i++) unread.push((await call(b.create(`inproc-fresh-${i}`))).uids[0]!);
    }
    let nextUnread = 0;
    const requests: Record<string, () => Uint8Array> = {
      create: () => b.create(`inproc-new-${Math.random()}`),
      get: () => b.get(pick().uid),
      locate: () => b.locateByName(pick().name),
      getattrs: () => b.getAttributes(pick().uid),
      firstget: () => b.get(unread[nextUnread++]!),
    };
    for (const op of ops) {
      const make = requests[op];
      if (!make) throw new Error(`unknown op ${op}`);
      const rec = new LatencyRecorder();
      const elu0 = performance.eventLoopUtilization();
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      const startUs = process.hrtime.bigint() / 1000n;
      const end = Date.now() + seconds * 1000;
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (Date.now() < end && (op !== 'firstget' || nextUnread < unread.length)) {
            const t = performance.now();
            const r = await call(make());
            if (r.ok) rec.record(performance.now() - t);
            else rec.fail(r.message ?? '?');
            // As sockets would: the next request arrives in a later turn of the event loop.
            await new Promise((res) => setImmediate(res));
          }
        }),
      );
      const elapsed = (performance.now() - t0) / 1000;
      // The window on CLOCK_MONOTONIC, for bench/profile-summary.ts under --cpu-prof.
      console.error(`${op}: window ${startUs}-${process.hrtime.bigint() / 1000n}`);
      const elu = performance.eventLoopUtilization(elu0);
      const cpu = process.cpuUsage(cpu0);
      const s = rec.summary(elapsed);
      const perOp = (us: number) => (us / Math.max(1, s.ok)).toFixed(0);
      rows.push([op, fmtRate(s.opsPerSecond), perOp(elu.active * 1000), perOp(cpu.user + cpu.system), fmtMs(s.p50), fmtMs(s.p99), String(s.failed)]);
    }
  } finally {
    await embedded.close();
    await keys.close();
    // The audit log is left to process exit: closing it here sometimes raised winston's "write
    // after end" at teardown, which would hide the figures.
    fs.rmSync(dir, { recursive: true, force: true });
  }
  console.log(`handleMessage in process, HSM calls ${callMode}, concurrency ${concurrency}`);
  // CPU µs/op (all threads) is the steadier figure on a shared machine: waiting for a core is not in it.
  console.log(table(['op', 'ops/s', 'loop µs/op', 'CPU µs/op', 'p50 ms', 'p99 ms', 'failed'], rows));
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
  process.exit(1);
});
