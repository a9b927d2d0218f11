/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`): the functions with the most self time,
 * and the share of busy time spent under each area of the code (inclusive: a sample counts for
 * every area on its stack). Prints figures; asserts nothing.
 *
 *   node -r ./scripts/register-ts.js bench/profile-summary.ts FILE.cpuprofile [top=25] [fromUs-toUs]
 *
 * The optional window (CLOCK_MONOTONIC µs, as V8 stamps samples and process.hrtime reads) keeps
 * only the samples of a measured phase, leaving out start-up and populating.
 */
import fs from 'node:fs';

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly startTime: number;
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** Areas, tested in order against a frame's url (or name, for V8's pseudo-frames). */
const AREAS: ReadonlyArray<readonly [string, (f: CallFrame) => boolean]> = [
  ['audit log', (f) => /src\/audit\//.test(f.url)],
  ['store (better-sqlite3, sqlite.ts)', (f) => /better-sqlite3|store\/sqlite/.test(f.url)],
  ['HSM (pkcs11)', (f) => /pkcs11/.test(f.url)],
  ['TTLV codec', (f) => /\/ttlv\//.test(f.url)],
  ['TLS / net / streams (node core)', (f) => /^node:(_tls|tls|net|_stream|stream|internal\/streams|internal\/tls|internal\/net|internal\/stream_base)/.test(f.url)],
  ['operations (src/ops)', (f) => /\/src\/ops\//.test(f.url)],
  ['kmip message/attributes', (f) => /\/src\/kmip\//.test(f.url)],
  ['server (handle-message, listener)', (f) => /\/src\/server\//.test(f.url)],
  ['node:crypto (randomUUID, randomBytes, hash)', (f) => /^node:internal\/crypto/.test(f.url)],
  ['garbage collector', (f) => f.functionName === '(garbage collector)'],
];

function main(): void {
  const file = process.argv[2];
  if (!file) throw new Error('usage: profile-summary.ts FILE.cpuprofile [top]');
  const top = Number(process.argv[3] ?? 25);
  const [from, to] = (process.argv[4] ?? '0-Infinity').split('-').map(Number) as [number, number];
  const p = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  const selfUs = new Map<number, number>();
  let totalUs = 0;
  let idleUs = 0;
  const areaUs = new Map<string, number>();
  /** Each sample once, to the area nearest its leaf (or "other"): the shares add up to 100%. */
  const leafAreaUs = new Map<string, number>();
  let t = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    const id = p.samples[i]!;
    const dt = p.timeDeltas[i] ?? 0;
    t += dt;
    if (t < from || t > to) continue;
    const node = byId.get(id);
    if (!node) continue;
    totalUs += dt;
    if (node.callFrame.functionName === '(idle)') {
      idleUs += dt;
      continue;
    }
    selfUs.set(id, (selfUs.get(id) ?? 0) + dt);
    const seen = new Set<string>();
    let leafArea: string | undefined;
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const f = byId.get(cur)!.callFrame;
      for (const [area, test] of AREAS) {
        if (!seen.has(area) && test(f)) {
          seen.add(area);
          leafArea ??= area;
          areaUs.set(area, (areaUs.get(area) ?? 0) + dt);
        }
      }
    }
    const la = leafArea ?? 'other (node internals, V8, program)';
    leafAreaUs.set(la, (leafAreaUs.get(la) ?? 0) + dt);
  }
  const busyUs = totalUs - idleUs;
  const pct = (us: number) => `${((100 * us) / busyUs).toFixed(1)}%`;
  console.log(`profile ${file}: ${(totalUs / 1e6).toFixed(1)} s sampled, main thread busy ${(busyUs / 1e6).toFixed(1)} s (${((100 * busyUs) / totalUs).toFixed(0)}%)`);

  // Self time grouped by function (the same function appears under many stacks).
  const byFunction = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const f = byId.get(id)!.callFrame;
    const where = f.url ? `${f.url.replace(/^.*\/(node_modules\/|work\/main\/)/, '')}:${f.lineNumber + 1}` : '';
    const key = `${f.functionName || '(anonymous)'} ${where}`.trim();
    byFunction.set(key, (byFunction.get(key) ?? 0) + us);
  }
  console.log(`\ntop ${top} functions by self time (% of busy time):`);
  for (const [k, us] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`  ${pct(us).padStart(6)}  ${k}`);
  }
  console.log('\ninclusive time by area (% of busy time; areas overlap):');
  for (const [area, us] of [...areaUs].sort((a, b) => b[1] - a[1])) console.log(`  ${pct(us).padStart(6)}  ${area}`);
  console.log('\nexclusive time by area (each sample to the area nearest its leaf; adds up to 100%):');
  for (const [area, us] of [...leafAreaUs].sort((a, b) => b[1] - a[1])) console.log(`  ${pct(us).padStart(6)}  ${area}`);
}

main();
