/**
 * `kmip-server grant`: grants of operations on an object or an Object Group to an identity or a
 * group (src/access/), written to the store beside a running server (the server reads grants on
 * every request, so a change applies to the next request on every connection). Each change is
 * recorded in the custody side trail (custody/custody-audit.ts). Registered by one call in cli.ts.
 */
import os from 'node:os';
import type { Command } from 'commander';
import { loadConfig } from './config';
import { closeStore, openExistingServerStore, type ServerStore } from './server-store';
import { describeGrantee, describeTarget, type GrantGrantee, type GrantRecord, type GrantTarget } from './store/grants';
import { AccessPolicyError, operationNames } from './access/policy';
import { withCustody } from './custody/with-custody';

interface GrantFlags {
  readonly config?: string;
  readonly dataDir?: string;
  readonly object?: string;
  readonly group?: string;
  readonly to?: string;
  readonly toGroup?: string;
  readonly operations?: string;
  readonly revoke?: boolean;
  readonly json?: boolean;
}

export function registerGrantCommands(program: Command): void {
  const grant = program
    .command('grant')
    .description('grant operations on an object or an Object Group to an identity or a group, or revoke them (works beside a running server; needs an accessPolicy)')
    .option('--config <FILE>', 'the server\'s configuration file')
    .option('--data-dir <DIR>', "the server's data dir (default ./data)")
    .option('--object <ID>', 'the object (Unique Identifier)')
    .option('--group <GROUP>', 'every object with this Object Group')
    .option('--to <IDENTITY>', 'the identity granted to')
    .option('--to-group <GROUP>', 'every member of this group (access policy groups)')
    .option('--operations <LIST>', 'comma-separated operations as the KMIP enumeration spells them: Get,Encrypt,GetAttributes (with --revoke: default all)')
    .option('--revoke', 'take the operations away (all of them without --operations)')
    .option('--json', 'print a JSON summary')
    .action((flags: GrantFlags) => change(flags));
  grant
    .command('list')
    .description('list every grant')
    .option('--config <FILE>', 'the server\'s configuration file')
    .option('--data-dir <DIR>', "the server's data dir (default ./data)")
    .option('--json', 'print JSON')
    // `grant`'s own options come first in parsing: --data-dir after `list` lands on `grant`.
    .action((_flags: GrantFlags, cmd: Command) => list(cmd.optsWithGlobals<GrantFlags>()));
}

/** The server's store, on whichever engine its configuration names. */
async function openStore(flags: GrantFlags): Promise<ServerStore> {
  return openExistingServerStore(loadConfig({ configFile: flags.config, dataDir: flags.dataDir }));
}

function exactlyOne(a: string | undefined, b: string | undefined, flags: string): void {
  if ((a === undefined) === (b === undefined)) throw new Error(`give exactly one of ${flags}`);
  if (a === '' || b === '') throw new Error(`${flags.split(' and ')[a === '' ? 0 : 1]} names nothing`);
}

async function change(flags: GrantFlags): Promise<void> {
  exactlyOne(flags.object, flags.group, '--object and --group');
  exactlyOne(flags.to, flags.toGroup, '--to and --to-group');
  let operations: string[] = [];
  if (flags.operations !== undefined) {
    try {
      operations = operationNames(flags.operations.split(',').map((s) => s.trim()).filter((s) => s.length > 0), '--operations');
    } catch (e) {
      throw new Error(e instanceof AccessPolicyError ? `${e.key}: ${e.detail}` : (e as Error).message);
    }
  }
  if (!flags.revoke && operations.length === 0) throw new Error('--operations: name at least one operation to grant');
  const target: GrantTarget = flags.object !== undefined ? { objectUid: flags.object } : { objectGroup: flags.group! };
  const to: GrantGrantee = flags.to !== undefined ? { identity: flags.to } : { group: flags.toGroup! };
  const by = `${os.userInfo().username}@${os.hostname()}`;
  const action = flags.revoke ? 'grant-revoke' : 'grant';
  await withCustody({ config: flags.config, dataDir: flags.dataDir }, { mayCreateToken: false, lock: true }, async ({ audit }) => {
    const store = await openStore(flags);
    try {
      if (flags.object !== undefined && (await store.get(flags.object)) === undefined) throw new Error(`--object: no object ${flags.object} in the store`);
      const grants = store.grants();
      const now = flags.revoke ? await grants.revoke({ target, to, operations, by }) : await grants.grant({ target, to, operations, by });
      // The side trail names the change and what is left; durable before the command reports success.
      await (await audit()).record(action, { target: describeTarget(target), to: describeGrantee(to), operations: flags.revoke && operations.length === 0 ? ['(all)'] : operations, now: now?.operations ?? [] });
      const text = `${describeTarget(target)}, ${describeGrantee(to)}: ${now ? now.operations.join(',') : 'no grant left'}`;
      console.log(flags.json ? JSON.stringify({ msg: flags.revoke ? 'revoked' : 'granted', grant: now ?? null }) : text);
    } finally {
      await closeStore(store);
    }
  });
}

async function list(flags: GrantFlags): Promise<void> {
  const store = await openStore(flags);
  try {
    const all: GrantRecord[] = await store.grants().list();
    if (flags.json) {
      console.log(JSON.stringify(all));
      return;
    }
    if (all.length === 0) console.log('no grants');
    for (const g of all) console.log(`${describeTarget(g.target)}  ->  ${describeGrantee(g.to)}: ${g.operations.join(',')}  (${new Date(g.changedAt).toISOString()} by ${g.changedBy})`);
  } finally {
    await closeStore(store);
  }
}
