/**
 * The longest pause a stream of Gets sees while `kmip-server backup` copies the store of a running
 * server. Fills a data dir with N AES keys (in process, through the request path), starts the real
 * server on it, runs `--concurrency` Get loops against it over mutual TLS, and measures each Get's
 * latency for a few seconds before the backup (the baseline), during it, and after. Prints figures;
 * asserts nothing.
 *
 *   node -r ./scripts/register-ts.js bench/backup-pause.ts [--objects 100000] [--concurrency 4] [--baseline-seconds 5]
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createEmbeddedCore } from '../src/embedded';
import { handleMessage } from '../src/server/handle-message';
import { KmipClient } from '../src/client';
import { RequestBuilder, summarise } from './lib/kmip';

function flag(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : dflt;
}

const ROOT = path.join(__dirname, '..');
const CLI = ['-r', path.join(ROOT, 'scripts', 'register-ts.js'), path.join(ROOT, 'scripts', 'run-cli.ts')];

async function fill(dir: string, n: number): Promise<string[]> {
  const embedded = await createEmbeddedCore(dir);
  const session = { client: { name: 'client', isAdmin: false } };
  const b = new RequestBuilder({ major: 1, minor: 4 });
  const uids: string[] = [];
  const started = performance.now();
  try {
    for (let i = 0; i < n; i += 64) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(64, n - i) }, (_, j) => handleMessage(b.create(`pause-${i + j}`), session, embedded.core).then(summarise)),
      );
      for (const r of batch) {
        if (!r.ok) throw new Error(`create failed: ${r.message}`);
        uids.push(r.uids[0]!);
      }
      if (i % 10_000 === 0) process.stderr.write(`\rcreated ${i}/${n}`);
    }
  } finally {
    await embedded.close();
  }
  process.stderr.write(`\rcreated ${n} in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
  return uids;
}

function startServer(dir: string): Promise<{ port: number; stop(): Promise<void> }> {
  const child = spawn(process.execPath, [...CLI, 'start', '--listen', '127.0.0.1:0', '--data-dir', dir], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /"msg":"listening".*?"port":(\d+)/.exec(out);
      if (m) resolve({ port: Number(m[1]), stop: () => new Promise<void>((r) => (child.once('exit', () => r()), child.kill('SIGTERM'))) });
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}: ${out}`)));
  });
}

function runBackup(dir: string, out: string): Promise<{ ms: number; summary: Record<string, unknown> }> {
  const started = performance.now();
  const child = spawn(process.execPath, [...CLI, 'backup', '--data-dir', dir, '--out', out, '--json'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) =>
    child.once('exit', (code) => (code === 0 ? resolve({ ms: performance.now() - started, summary: JSON.parse(stdout) as Record<string, unknown> }) : reject(new Error(`backup exited ${code}: ${stderr}`)))),
  );
}

type Phase = 'warmup' | 'baseline' | 'backup' | 'after';

async function main(): Promise<void> {
  const n = Number(flag('objects', '100000'));
  const concurrency = Number(flag('concurrency', '4'));
  const baselineMs = Number(flag('baseline-seconds', '5')) * 1000;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-backup-pause-'));
  try {
    const uids = await fill(dir, n);
    const server = await startServer(dir);
    const pki = path.join(dir, 'pki');
    const client = new KmipClient({
      servers: [`127.0.0.1:${server.port}`],
      servername: 'localhost',
      ca: fs.readFileSync(path.join(pki, 'ca.pem')),
      cert: fs.readFileSync(path.join(pki, 'client.pem')),
      key: fs.readFileSync(path.join(pki, 'client-key.pem')),
      maxConnections: concurrency,
    });
    // The first second opens the connections and warms the server: not counted.
    let phase: Phase = 'warmup';
    const lat: Record<Phase, number[]> = { warmup: [], baseline: [], backup: [], after: [] };
    let running = true;
    const loops = Array.from({ length: concurrency }, async () => {
      while (running) {
        const uid = uids[Math.floor(Math.random() * uids.length)]!;
        const p = phase;
        const t0 = performance.now();
        await client.get(uid);
        lat[p].push(performance.now() - t0);
      }
    });
    await new Promise((r) => setTimeout(r, 1000));
    phase = 'baseline';
    await new Promise((r) => setTimeout(r, baselineMs));
    phase = 'backup';
    const backup = await runBackup(dir, path.join(dir, 'bench.kbak'));
    phase = 'after';
    await new Promise((r) => setTimeout(r, 2000));
    running = false;
    await Promise.all(loops);
    client.close();
    await server.stop();
    const pct = (xs: number[], q: number) => (xs.length === 0 ? 0 : [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!);
    const row = (p: Phase) => ({ phase: p, gets: lat[p].length, p50Ms: +pct(lat[p], 0.5).toFixed(2), p99Ms: +pct(lat[p], 0.99).toFixed(2), maxMs: +Math.max(0, ...lat[p]).toFixed(2) });
    const result = {
      objects: n,
      concurrency,
      backupSeconds: +(backup.ms / 1000).toFixed(2),
      snapshotMs: backup.summary['snapshotMs'],
      restarts: backup.summary['restarts'],
      fileBytes: backup.summary['bytes'],
      phases: (['baseline', 'backup', 'after'] as const).map(row),
    };
    console.table(result.phases);
    console.log(JSON.stringify(result));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
