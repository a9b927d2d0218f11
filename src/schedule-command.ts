/**
 * `kmip-server schedule`: what the lifecycle scheduler will do next (dates that move a State or are
 * reached, automatic rotations), read beside running servers on either engine (SQLite in WAL allows
 * a second reader; nothing is written, so no lock is taken). Registered by one call in cli.ts.
 */
import type { Command } from 'commander';
import { loadConfig } from './config';
import { closeStore, openDueDates, openExistingServerStore } from './server-store';
import { upcoming } from './scheduler/upcoming';
import { durationSeconds } from './scheduler/rotation-policy';

interface ScheduleFlags {
  readonly config?: string;
  readonly dataDir?: string;
  readonly within: string;
  readonly limit: string;
  readonly json?: boolean;
}

export function registerScheduleCommands(program: Command): void {
  program
    .command('schedule')
    .description('list what the scheduler will do next: dates that take effect and automatic rotations (works beside a running server)')
    .option('--config <FILE>', 'JSON configuration file (for its rotation policies)')
    .option('--data-dir <DIR>', "the server's data dir (default ./data)")
    .option('--within <DURATION>', 'how far ahead: seconds or an ISO 8601 duration', 'P7D')
    .option('--limit <N>', 'at most this many events', '50')
    .option('--json', 'print a JSON summary')
    .action((flags: ScheduleFlags) => schedule(flags));
}

async function schedule(flags: ScheduleFlags): Promise<void> {
  let within: number;
  try {
    within = durationSeconds(/^\d+$/.test(flags.within) ? Number(flags.within) : flags.within, '--within');
  } catch (e) {
    throw new Error(`--within: ${(e as Error).message}`);
  }
  const limit = Number(flags.limit);
  if (!Number.isInteger(limit) || limit < 1) throw new Error('--limit takes a whole number above 0');
  const config = loadConfig({ configFile: flags.config, dataDir: flags.dataDir });
  const from = BigInt(Math.floor(Date.now() / 1000));
  const store = await openExistingServerStore(config);
  const dueDates = openDueDates(config);
  try {
    const { events, more } = await upcoming(dueDates, store, config.rotationPolicies, { from, until: from + BigInt(within), limit });
    if (flags.json) {
      const out = { from: iso(from), until: iso(from + BigInt(within)), events: events.map((e) => ({ ...e, at: iso(e.at) })), more };
      process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
      return;
    }
    if (events.length === 0) process.stdout.write(`nothing due until ${iso(from + BigInt(within))}\n`);
    for (const e of events) process.stdout.write(`${iso(e.at)}  ${e.event.padEnd(18)}  ${e.uid}${e.detail ? `  (${e.detail})` : ''}\n`);
    if (more) process.stdout.write(`... more: raise --limit or shorten --within\n`);
  } finally {
    await closeStore(store);
    await dueDates.close();
  }
}

function iso(seconds: bigint): string {
  return new Date(Number(seconds) * 1000).toISOString().replace('.000Z', 'Z');
}
