/**
 * `kmip-server approve ID --as OFFICER [--deny]` and `kmip-server approve list`: the second person of
 * dual control (the access policy's `dualControl` rules, src/access/; src/server/dual-control.ts),
 * beside a running server.
 * The decision is written to the store's approvals table (the server sees it at the requester's next
 * Poll) and recorded in the custody side trail (custody/with-custody.ts) with both identities.
 *
 * `--as` names the officer deciding. The command cannot authenticate a person: whoever runs it
 * has the data dir's files (the store, the token's PIN) already; what it guarantees is that the
 * named identity is a security officer of the policy, is not the requester, and is on the record.
 *
 * Also here: what `kek retire` asks of dual control when a rule names KekRetire.
 */
import type { Command } from 'commander';
import { loadConfig, type ServerConfig } from './config';
import { isSecurityOfficer, requiresApproval } from './access/caller';
import { KEK_RETIRE, type AccessPolicy } from './access/policy';
import { openApprovalStore } from './server-store';
import type { ApprovalRecord, ApprovalStore } from './store/approval-store';
import type { CustodyAudit } from './custody/custody-audit';
import { withCustody } from './custody/with-custody';
import { newApprovalId } from './server/dual-control';
import { secureRandomBytes } from './crypto/random-pool';
import { ResultStatus } from './spec/generated/enums';

interface Common {
  readonly config?: string;
  readonly dataDir?: string;
  readonly json?: boolean;
}

/** A refusal of the command: one line, exit 1. */
export class ApprovalError extends Error {
  override readonly name = 'ApprovalError';
}

/** The access policy as the configuration reads it now (the CLI runs beside the server: its file as it is). */
function policyOf(config: ServerConfig): AccessPolicy {
  const policy = config.accessPolicy?.policy;
  if (policy === undefined || policy.dualControl.length === 0) {
    throw new ApprovalError(`no dual-control rules: the configuration${config.accessPolicy ? `'s accessPolicy ${config.accessPolicy.file}` : ''} has no dualControl rules (set accessPolicy to a policy file with them)`);
  }
  return policy;
}

function describe(a: ApprovalRecord): Record<string, unknown> {
  return {
    id: a.id,
    state: a.state,
    operation: a.operation,
    ...(a.uniqueIdentifier !== undefined ? { uniqueIdentifier: a.uniqueIdentifier } : {}),
    requester: a.requester,
    rule: a.rule,
    requestedAt: new Date(a.createdAt).toISOString(),
    ...(a.decidedBy !== undefined ? { decidedBy: a.decidedBy } : {}),
    ...(a.decidedAt !== undefined ? { decidedAt: new Date(a.decidedAt).toISOString() } : {}),
  };
}

/** Approves or denies one pending request; refusals are ApprovalErrors naming what is wrong. */
export async function decide(config: ServerConfig, openAudit: () => Promise<CustodyAudit>, opts: { id: string; as: string; deny: boolean }): Promise<ApprovalRecord> {
  const policy = policyOf(config);
  if (!isSecurityOfficer(policy, { name: opts.as })) throw new ApprovalError(`${opts.as} is not a security officer of the access policy (roles.securityOfficer): only officers approve`);
  const approvals = await openApprovalStore(config);
  try {
    const a = await approvals.byId(opts.id);
    if (a === undefined) throw new ApprovalError(`no request ${opts.id} waits for approval (kmip-server approve list shows them)`);
    if (a.requester === opts.as) throw new ApprovalError(`${opts.as} made request ${opts.id}: a request needs a second person, not its requester`);
    if (a.state !== 'pending') throw new ApprovalError(`request ${opts.id} is ${a.state}${a.decidedBy !== undefined ? ` (by ${a.decidedBy})` : ''}, no longer pending`);
    const to = opts.deny ? 'denied' : 'approved';
    const audit = await openAudit();
    const decidedAt = Date.now();
    if (!(await approvals.transition(a.id, ['pending'], to, { decidedBy: opts.as, decidedAt }))) {
      throw new ApprovalError(`request ${opts.id} was decided or withdrawn meanwhile`);
    }
    try {
      await audit.record(opts.deny ? 'approval-deny' : 'approval-approve', {
        approvalId: a.id,
        operation: a.operation,
        ...(a.uniqueIdentifier !== undefined ? { uniqueIdentifier: a.uniqueIdentifier } : {}),
        requester: a.requester,
        approver: opts.as,
        rule: a.rule,
      });
    } catch (e) {
      // Unaudited, the decision must not stand.
      await approvals.transition(a.id, [to], 'pending');
      throw e;
    }
    return { ...a, state: to, decidedBy: opts.as, decidedAt };
  } finally {
    await approvals.close();
  }
}

async function withApprovals<T>(config: ServerConfig, fn: (s: ApprovalStore) => Promise<T>): Promise<T> {
  const s = await openApprovalStore(config);
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}

/**
 * `kek retire` under dual control. Undefined: no rule names KekRetire, retire at once. Else, without
 * `approval`, a new request is recorded and its id returned for the operator to have approved; with
 * `approval`, that request must be an approved KekRetire of this KEK, and it is claimed (run once).
 */
export async function kekRetireApproval(
  config: ServerConfig,
  opts: { kekId: string; as?: string; approval?: string },
  audit: () => Promise<CustodyAudit>,
): Promise<{ readonly requested: string } | { readonly approved: ApprovalRecord; readonly finish: (ok: boolean, message?: string) => Promise<void> } | undefined> {
  const rule = requiresApproval(config.accessPolicy?.policy, { name: opts.as ?? '' }, KEK_RETIRE);
  if (rule === undefined) return undefined;
  if (opts.approval === undefined) {
    if (opts.as === undefined) throw new ApprovalError(`retiring a KEK needs a second officer's approval (dual control, policy ${rule.key}): run it with --as YOUR-IDENTITY to ask for it`);
    const id = newApprovalId();
    await withApprovals(config, (s) =>
      s.add({ id, correlation: secureRandomBytes(16).toString('hex'), requester: opts.as!, operation: KEK_RETIRE, uniqueIdentifier: opts.kekId, rule: rule.key, protocolVersion: '-', request: new Uint8Array(0), createdAt: Date.now() }),
    );
    await (await audit()).record('kek-retire-requested', { approvalId: id, kekId: opts.kekId, requester: opts.as, rule: rule.key });
    return { requested: id };
  }
  const approvalId = opts.approval;
  return withApprovals(config, async (s) => {
    const a = await s.byId(approvalId);
    if (a === undefined || a.operation !== KEK_RETIRE || a.uniqueIdentifier !== opts.kekId) throw new ApprovalError(`${approvalId} is no request to retire KEK ${opts.kekId}`);
    if (a.state !== 'approved') throw new ApprovalError(`request ${approvalId} is ${a.state}, not approved`);
    if (!(await s.transition(a.id, ['approved'], 'running'))) throw new ApprovalError(`request ${approvalId} was used or withdrawn meanwhile`);
    await (await audit()).record('kek-retire-approved', { approvalId: a.id, kekId: opts.kekId, requester: a.requester, approver: a.decidedBy ?? '' });
    return {
      approved: a,
      finish: (ok: boolean, message?: string) =>
        withApprovals(config, (t) => t.finish(a.id, { status: ok ? ResultStatus.Success : ResultStatus.OperationFailed, ...(message !== undefined ? { message } : {}) })),
    };
  });
}

export function registerApproveCommands(root: Command, sub: (parent: Command, name: string, description: string) => Command, value: (v: string) => string): void {
  const common = (cmd: Command) =>
    cmd
      .option('--config <FILE>', 'the server\'s configuration file (its accessPolicy names the officers)', value)
      .option('--data-dir <DIR>', 'the server\'s data dir (default ./data)', value)
      .option('--json', 'print a JSON summary');
  const approve = common(sub(root, 'approve', 'dual control: approve (or --deny) a request waiting for a second security officer'))
    .argument('[ID]', 'the request (kmip-server approve list shows them)')
    .option('--as <OFFICER>', 'the security officer deciding (never the requester)', value)
    .option('--deny', 'refuse the request: its requester\'s Poll answers Permission Denied')
    .action(async (id: string | undefined, o: Common & { as?: string; deny?: boolean }) => {
      if (id === undefined) throw new ApprovalError('approve: name the request (ID), or run kmip-server approve list');
      if (o.as === undefined) throw new ApprovalError('approve: --as OFFICER is required: the security officer deciding');
      const officer = o.as;
      const a = await withCustody(o, { mayCreateToken: false, lock: true }, ({ config, audit }) => decide(config, audit, { id, as: officer, deny: o.deny === true }));
      const verb = o.deny === true ? 'denied' : 'approved';
      console.log(o.json === true ? JSON.stringify({ msg: `request ${verb}`, ...describe(a) }) : `${a.id} ${verb} by ${o.as}: ${a.operation}${a.uniqueIdentifier !== undefined ? ` of ${a.uniqueIdentifier}` : ''} requested by ${a.requester}${o.deny === true ? '' : ' runs at its requester\'s next Poll'}`);
    });
  common(sub(approve, 'list', 'list the requests waiting for approval (--all: every state)'))
    .option('--all', 'also the decided, withdrawn and finished ones')
    .action(async (flags: Common & { all?: boolean }, cmd: Command) => {
      // --config and --data-dir given after `list` are read by `approve` (the same options): both count.
      const o = { ...(cmd.parent?.opts() as Common), ...flags };
      const config = loadConfig({ configFile: o.config, dataDir: o.dataDir });
      const list = await withApprovals(config, (s) => s.list(o.all === true ? undefined : ['pending']));
      if (o.json === true) {
        console.log(JSON.stringify({ approvals: list.map(describe) }));
        return;
      }
      if (list.length === 0) console.log(o.all === true ? 'no requests' : 'no request waits for approval');
      for (const a of list) console.log(`${a.id}  ${a.state.padEnd(9)} ${a.operation}${a.uniqueIdentifier !== undefined ? ` ${a.uniqueIdentifier}` : ''}  by ${a.requester}  ${new Date(a.createdAt).toISOString()}  (${a.rule})${a.decidedBy !== undefined ? `  decided by ${a.decidedBy}` : ''}`);
    });
}
