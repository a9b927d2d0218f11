/**
 * `kmip-server kek escrow | recover | rotate | status | retire`: registered by registerKekCommands.
 * Each works beside a running server on its data dir (its own PKCS#11 session; SQLite in WAL), is
 * audited in the custody side trail (custody-audit.ts), prints one JSON summary with --json (else
 * a line of text), and shows progress on stderr when that is a terminal.
 */
import path from 'node:path';
import type { Command } from 'commander';
import type { ServerConfig } from '../config';
import { currentKekFor, tokenProtectorConfig } from '../server-hsm';
import { PostgresKekCatalog } from '../store/postgres-keks';
import { progressBar } from './progress';
import { CustodyError, escrowKeys, recoverKeys } from './escrow';
import { kekReferences, kekStatus, openStoreFile, kekToRetire, retireKek, rotateKek } from './rotation';
import { currentOnDatabase, kekStatusPostgres, kekToRetirePostgres, retireKekPostgres, rotateKekPostgres } from './rotation-postgres';
import { nameCurrentKekIfUnset } from '../keys/kek-current';
import { withCustody } from './with-custody';
import { kekRetireApproval } from '../approve-command';

interface Common {
  readonly config?: string;
  readonly dataDir?: string;
  readonly json?: boolean;
}

function print(json: boolean | undefined, summary: Record<string, unknown>, text: string): void {
  console.log(json === true ? JSON.stringify(summary) : text);
}

/**
 * The KEK catalog of the postgres engine (store/postgres-keks.ts), closed after `fn`; undefined on
 * the embedded store, whose facts are the data dir's files and its SQLite file.
 */
async function withCatalog<T>(config: ServerConfig, fn: (catalog: PostgresKekCatalog | undefined) => Promise<T>): Promise<T> {
  const e = config.storeEngine;
  if (e.engine !== 'postgres') return fn(undefined);
  const catalog = PostgresKekCatalog.open(e.url);
  try {
    return await fn(catalog);
  } finally {
    await catalog.close();
  }
}

function positiveInt(flag: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new CustodyError(`${flag} must be a positive integer, not ${v}`);
  return n;
}

export function registerKekCommands(root: Command, sub: (parent: Command, name: string, description: string) => Command, value: (v: string) => string): void {
  const kek = sub(root, 'kek', 'key custody: KEK escrow, recovery, rotation and retirement (beside a running server)');
  const common = (cmd: Command) =>
    cmd
      .option('--config <FILE>', 'the server\'s configuration file', value)
      .option('--data-dir <DIR>', 'the server\'s data dir (default ./data)', value)
      .option('--json', 'print a JSON summary');

  common(sub(kek, 'escrow', 'split the escrowable KEK (and index and audit keys), wrapped, into N custodian share files, M needed to recover'))
    .requiredOption('--shares <N>', 'how many custodian share files', value)
    .requiredOption('--threshold <M>', 'how many shares recover the KEK (at least 2)', value)
    .requiredOption('--out <DIR>', 'where to write custodian-I-of-N.json (mode 0600); hand each to its custodian', value)
    .action((o: Common & { shares: string; threshold: string; out: string }) =>
      withCustody(o, { mayCreateToken: false, lock: true, action: 'kek-escrow' }, async ({ config, token, audit }) => {
        // Every KEK the store's rows name, and the current one: the database's on PostgreSQL.
        const { referenced, current } = await withCatalog(config, async (catalog) => {
          if (catalog !== undefined) return { referenced: [...(await catalog.references()).keys()], current: { current: await currentOnDatabase(token, catalog, config.dataDir) } };
          const db = openStoreFile(config.storePath);
          try {
            return { referenced: [...kekReferences(db).keys()], current: {} };
          } finally {
            db.close();
          }
        });
        const r = escrowKeys(token, { shares: positiveInt('--shares', o.shares), threshold: positiveInt('--threshold', o.threshold), outDir: path.resolve(o.out), dataDir: config.dataDir, referenced, ...current });
        await (await audit()).record('kek-escrow', { kekId: r.kekId, escrowId: r.escrowId, shares: r.shares, threshold: r.threshold, keys: r.keys.map((k) => `${k.role}:${k.id}`) });
        print(o.json, { msg: 'kek escrowed', ...r }, `KEK ${r.kekId} escrowed: ${r.shares} share files in ${path.resolve(o.out)}, any ${r.threshold} recover it`);
      }),
    );

  common(sub(kek, 'recover', 'put the escrowed KEK (and index and audit keys) into the data dir\'s token from M custodian shares'))
    .requiredOption('--share <FILE>', 'a custodian\'s share file (repeat: --share A --share B ...)', (v: string, prev: string[] = []) => [...prev, value(v)])
    .action((o: Common & { share: string[] }) =>
      withCustody(o, { mayCreateToken: true, lock: true, action: 'kek-recover' }, async ({ config, token, audit }) => {
        const r = recoverKeys(token, o.share.map((f) => path.resolve(f)));
        // A new data dir takes the escrow's current KEK as its own; one that names a KEK keeps it.
        nameCurrentKekIfUnset(config.dataDir, r.kekId);
        await (await audit()).record('kek-recover', { kekId: r.kekId, escrowId: r.escrowId, custodians: r.custodians, restored: r.restored.map((k) => `${k.role}:${k.id}`) });
        print(o.json, { msg: 'kek recovered', ...r }, `KEK ${r.kekId} recovered from custodians ${r.custodians.join(', ')}: ${r.restored.length} keys put into the token, ${r.alreadyPresent.length} already there`);
      }),
    );

  common(sub(kek, 'rotate', 'make a new KEK and re-wrap every object under it, online, in batches (rerun to resume)'))
    .option('--batch <N>', 'objects per committed batch (default 200)', value)
    .option('--switch-timeout <SECONDS>', 'how long to wait for the running server to switch to the new KEK (default 30)', value)
    .action((o: Common & { batch?: string; switchTimeout?: string }) =>
      withCustody(o, { mayCreateToken: false, lock: true, action: 'kek-rotate' }, async ({ config, token, audit }) => {
        const bar = progressBar('re-wrapping');
        const common = {
          dataDir: config.dataDir,
          protector: tokenProtectorConfig(config, { mayCreateToken: false, ...(await currentKekFor(config)) }),
          ...(o.batch !== undefined ? { batch: positiveInt('--batch', o.batch) } : {}),
          ...(o.switchTimeout !== undefined ? { switchTimeoutMs: positiveInt('--switch-timeout', o.switchTimeout) * 1000 } : {}),
          onProgress: (done: number, total: number) => bar.update(done, total),
        };
        // On PostgreSQL through the database, which every node follows (rotation-postgres.ts).
        const r = await withCatalog(config, async (catalog) =>
          catalog !== undefined ? rotateKekPostgres(token, await audit(), { ...common, catalog }) : rotateKek(token, await audit(), { ...common, storePath: config.storePath }),
        );
        bar.finish();
        print(
          o.json,
          { msg: 'kek rotate', ...r },
          r.done
            ? `KEK rotated: ${r.fromKekId} -> ${r.toKekId}; ${r.rewrapped} re-wrapped${r.resumed ? ' (resumed)' : ''}; retire the old one with: kmip-server kek retire --kek ${r.fromKekId}`
            : `KEK ${r.toKekId} is current; ${r.remaining} objects still under an earlier KEK (the store kept changing them): run kmip-server kek rotate again`,
        );
        if (!r.done) process.exitCode = 1;
      }),
    );

  common(sub(kek, 'status', 'list the token\'s KEKs with the number of objects each protects'))
    .action((o: Common) =>
      withCustody(o, { mayCreateToken: false, lock: false }, async ({ config, token }) => {
        const s = await withCatalog(config, async (catalog) =>
          catalog !== undefined ? kekStatusPostgres(token, catalog, config.dataDir) : { ...kekStatus(token, { dataDir: config.dataDir, storePath: config.storePath }), nodes: undefined },
        );
        if (o.json === true) {
          console.log(JSON.stringify(s));
          return;
        }
        for (const k of s.keks) console.log(`${k.kekId}  ${k.role.padEnd(8)} ${String(k.objects).padStart(8)} objects ${String(k.digests).padStart(6)} digests  ${k.escrowable ? 'escrowable' : 'not escrowable'}  ${k.label}`);
        for (const n of s.nodes ?? []) console.log(`node ${n.node} wraps under ${n.kekId} (reported ${(n.ageMs / 1000).toFixed(1)} s ago)`);
        if (s.rotation !== null && s.rotation.phase !== 'done') console.log(`rotation ${s.rotation.fromKekId} -> ${s.rotation.toKekId} unfinished (${s.rotation.phase}): run kmip-server kek rotate`);
      }),
    );

  common(sub(kek, 'retire', 'destroy an earlier KEK, only when no object references it'))
    .requiredOption('--kek <ID>', 'the KEK\'s id (CKA_ID, hex; kmip-server kek status lists them)', value)
    .option('--as <IDENTITY>', 'under dual control: who asks for the retirement (a second officer approves it)', value)
    .option('--approval <ID>', 'under dual control: the approved request to retire this KEK', value)
    .action((o: Common & { kek: string; as?: string; approval?: string }) =>
      withCustody(o, { mayCreateToken: false, lock: true, action: 'kek-retire' }, async ({ config, token, audit }) => withCatalog(config, async (catalog) => {
        // No approval is asked for (or spent on) a KEK that cannot be retired: the current one, or none.
        const kekId = (catalog !== undefined ? await kekToRetirePostgres(token, catalog, config.dataDir, o.kek) : kekToRetire(token, config.dataDir, o.kek)).id;
        // A dual-control rule for KekRetire: first a request, then the retirement with its approval (approve-command.ts).
        const gate = await kekRetireApproval(config, { kekId, ...(o.as !== undefined ? { as: o.as } : {}), ...(o.approval !== undefined ? { approval: o.approval } : {}) }, audit);
        if (gate !== undefined && 'requested' in gate) {
          print(o.json, { msg: 'kek retire needs approval', approvalId: gate.requested, kekId }, `KEK ${kekId} not retired yet: it needs a second officer's approval. Have one run: kmip-server approve ${gate.requested} --as OFFICER, then run: kmip-server kek retire --kek ${kekId} --approval ${gate.requested}`);
          process.exitCode = 1;
          return;
        }
        try {
          const r =
            catalog !== undefined
              ? await retireKekPostgres(token, await audit(), { catalog, dataDir: config.dataDir, kekId })
              : await retireKek(token, await audit(), { dataDir: config.dataDir, storePath: config.storePath, kekId });
          await gate?.finish(true);
          print(o.json, { msg: 'kek retired', ...r, ...(gate ? { approvalId: gate.approved.id, approvedBy: gate.approved.decidedBy } : {}) }, `KEK ${r.kekId} destroyed`);
        } catch (e) {
          await gate?.finish(false, (e as Error).message);
          throw e;
        }
      })),
    );
}
