/**
 * Profiles our server under load: starts it with `node --cpu-prof`, runs one or more load phases
 * against it, stops it (the profile is written at exit) and prints the summary of each profile.
 *
 *   node -r ./scripts/register-ts.js bench/profile.ts [--phases get] [--seconds 10] [--connections 32]
 *                                                     [--kmip-version 1.4] [--keys 1000] [--out DIR]
 *                                                     [--variant "--call-mode sync --sessions 4"]
 *                                                     [--prof 0]   (same run, without the profiler: A/B figures)
 *                                                     [--root DIR] (run the server from another checkout)
 *                                                     [--workers N] (serving processes; --prof 0 then: one profile per process)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { parsePhases, runLoad } from './load';
import { parseVersion } from './lib/kmip';
import { phaseTable, resourceTable } from './lib/report';
import { PROJECT_ROOT, startOurServer } from './lib/servers';

function flag(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : dflt;
}

async function main(): Promise<void> {
  const out = path.resolve(flag('out', fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-prof-'))));
  fs.mkdirSync(out, { recursive: true });
  const phases = parsePhases(flag('phases', 'get'), undefined);
  for (const phase of phases) {
    let window = '0-Infinity';
    const profDir = path.join(out, phase.label);
    fs.mkdirSync(profDir, { recursive: true });
    const variant = flag('variant', '');
    const server = await startOurServer({
      nodeArgs: flag('prof', '1') === '0' ? [] : ['--cpu-prof', `--cpu-prof-dir=${profDir}`],
      variant: variant ? variant.split(' ') : undefined,
      root: flag('root', '') || undefined,
      workers: flag('workers', '') || undefined,
    });
    try {
      const report = await runLoad({
        target: {
          host: '127.0.0.1',
          port: server.port,
          ca: fs.readFileSync(path.join(server.pkiDir, 'ca.pem')),
          cert: fs.readFileSync(path.join(server.pkiDir, 'client.pem')),
          key: fs.readFileSync(path.join(server.pkiDir, 'client-key.pem')),
          servername: 'localhost',
          requestTimeoutMs: 30_000,
        },
        pid: server.pid,
        version: parseVersion(flag('kmip-version', '1.4')),
        connections: Number(flag('connections', '32')),
        phases: [phase],
        seconds: Number(flag('seconds', '10')),
        maxRequests: 10_000_000,
        warmupSeconds: 1,
        keys: Number(flag('keys', '1000')),
        idleConnections: 0,
        populateTimeoutSeconds: 600,
        log: (l) => console.error(`[profile] ${l}`),
      });
      console.log(phaseTable(report.results));
      console.log(resourceTable(report.results));
      const w = report.results[0]?.window;
      if (w) window = `${w.startUs}-${w.endUs}`;
    } finally {
      await server.stop(30_000);
      fs.rmSync(server.dir, { recursive: true, force: true });
    }
    for (const f of fs.readdirSync(profDir).filter((n) => n.endsWith('.cpuprofile'))) {
      console.log(`\n== ${phase.label}: ${path.join(profDir, f)}`);
      console.log(
        execFileSync(process.execPath, ['-r', path.join(PROJECT_ROOT, 'scripts', 'register-ts.js'), path.join(__dirname, 'profile-summary.ts'), path.join(profDir, f), '30', window], {
          encoding: 'utf8',
        }),
      );
    }
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
});
