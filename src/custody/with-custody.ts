/**
 * The one way a custody command (kek, grant, approve) reaches the data dir beside a running
 * server: its configuration, the token, the custody lock and the side audit trail
 * (custody-audit.ts), all released after. Kept apart from kek-commands.ts so the other command
 * groups use it without importing each other.
 */
import fs from 'node:fs';
import { loadConfig, type ServerConfig } from '../config';
import { restrictNewFiles } from '../data-dir';
import { Pkcs11KeyProtector } from '../keys/pkcs11';
import { currentKekFor, tokenProtectorConfig } from '../server-hsm';
import { lockCustody, openCustodyAudit, type CustodyAudit } from './custody-audit';
import { CustodyError } from './escrow';
import { settleCurrentKek } from './rotation';
import { CustodyToken } from './token';

export interface CustodyOptions {
  readonly config?: string;
  readonly dataDir?: string;
}

/**
 * Runs `fn` with the token, the custody lock (for commands that change something) and the side
 * audit trail, all released after.
 */
export async function withCustody<T>(
  opts: CustodyOptions,
  how: { mayCreateToken: boolean; lock: boolean; action?: string },
  fn: (ctx: { config: ServerConfig; token: CustodyToken; audit: () => Promise<CustodyAudit> }) => Promise<T>,
): Promise<T> {
  restrictNewFiles();
  const config = loadConfig({ configFile: opts.config, dataDir: opts.dataDir });
  // Recovery may start from nothing: a new data dir for a new token.
  if (how.mayCreateToken) fs.mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const unlock = how.lock ? lockCustody(config.dataDir) : () => {};
  let token: CustodyToken | undefined;
  let keys: Pkcs11KeyProtector | undefined;
  let audit: CustodyAudit | undefined;
  try {
    // On PostgreSQL the database names the current KEK (a data dir's file may name one retired since).
    const current = config.storeEngine.engine === 'postgres' ? await currentKekFor(config) : {};
    const protector = tokenProtectorConfig(config, { mayCreateToken: how.mayCreateToken, ...current });
    token = await CustodyToken.open(protector);
    // A data dir from before kek-current.json gets it (only that file is written), before anything opens the KEK.
    if (how.lock && fs.existsSync(config.storePath)) settleCurrentKek(token, config.dataDir, config.storePath);
    const openAudit = async () => {
      if (audit !== undefined) return audit;
      // Opened once the KEK is on the token (recover puts it there first) and as the data dir names it
      // then; the audit key MACs the checkpoints.
      keys = await Pkcs11KeyProtector.open({ ...tokenProtectorConfig(config, { mayCreateToken: false, ...current }), createKek: false, openIndexKey: false });
      const k = keys;
      audit = await openCustodyAudit(config.dataDir, (data) => k.auditMac(data));
      return audit;
    };
    try {
      return await fn({ config, token, audit: openAudit });
    } catch (e) {
      // A refusal is a step too: audited when the token can MAC the trail (a recovery refused
      // before any key reached the token cannot, and wrote nothing).
      if (e instanceof CustodyError && how.action !== undefined) {
        try {
          await (await openAudit()).record(`${how.action}-refused`, { reason: e.message });
        } catch {
          // The refusal itself is what the operator needs to see.
        }
      }
      throw e;
    }
  } finally {
    await audit?.close();
    await keys?.close();
    await token?.close();
    unlock();
  }
}

