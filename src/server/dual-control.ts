/**
 * Dual control on the request path (issue 16 item 4). The rules are the access policy's
 * `dualControl` (src/access/policy.ts), read from the live policy of each item (ctx.access), so a
 * SIGHUP reload applies from the next request on.
 *
 * A request a rule covers is answered Operation Pending with an Asynchronous Correlation Value, the
 * spec's asynchronous answer, and kept in the store (store/approval-store.ts). The spec lets a
 * server answer Operation Pending only to a client whose Asynchronous Indicator accepts it (1.x
 * true; 2.x Mandatory or Optional); without it the request must be processed synchronously. So a
 * request without it, or one in a batch of several items, is refused with Permission Denied and a
 * message saying approval is needed and how to ask for it: running it at once would defeat the rule.
 *
 * An officer other than the requester approves or denies it (`kmip-server approve`, from another
 * process). KMIP offers no operation by which a second client decides another's pending request
 * (Poll and Cancel act on the caller's own), so the command is the way; a vendor extension could
 * add one later. An approved request runs at its requester's next Poll, as the requester, in the
 * process that answers that Poll, exactly once (a compare-and-set claims it); that Poll returns its
 * outcome. Later Polls return its result status without a payload. Cancel withdraws it until then.
 */
import { ItemType, type TtlvStructure } from '../../ttlv/types';
import { decodeTtlv } from '../../ttlv/decode';
import { encodeTtlv } from '../../ttlv/encode';
import { CancellationResult, Operation, ResultReason, ResultStatus } from '../spec/generated/enums';
import { Tag } from '../spec/generated/tags';
import { operationInfo } from '../spec/registry';
import { versionString, type ProtocolVersion } from '../spec/versions';
import { child } from '../kmip/tree';
import { KmipError, Reason } from '../kmip/errors';
import type { RequestBatchItem, RequestMessage } from '../kmip/message';
import { requestForVersion } from '../kmip/request-adapter';
import { mayRequireApproval, requiresApproval } from '../access/caller';
import type { ApprovalRecord, ApprovalStore } from '../store/approval-store';
import { secureRandomBytes } from '../crypto/random-pool';
import type { ClientIdentity, OpContext } from '../objects/context';
import { mayReach } from '../objects/managed-object';
import type { PendingOutcome, PollAnswer } from '../objects/pending-operations';

/** Runs an approved request as its requester (handle-message.ts). */
export type ApprovedRunner = (item: RequestBatchItem, request: RequestMessage, client: ClientIdentity, approval: ApprovalRecord) => Promise<PendingOutcome>;

export class DualControl {
  constructor(readonly approvals: ApprovalStore) {}

  /**
   * At the start of a server's only process: a request that was running when the server stopped
   * cannot be known to have finished or not, so it is closed as failed, saying so, rather than left
   * pending for ever. Returns the ids closed.
   */
  closeInterrupted(): Promise<string[]> {
    return this.approvals.abandonRunning({
      status: ResultStatus.OperationFailed,
      reason: Reason.GeneralFailure,
      message: 'the server stopped while this approved request ran: it may or may not have taken effect; check the object, and ask again if needed',
    });
  }

  /**
   * Undefined when the item runs now; else the Asynchronous Correlation Value of the request now
   * waiting for approval. Throws the refusal when the client cannot be answered asynchronously.
   */
  async gate(item: RequestBatchItem, request: RequestMessage, ctx: OpContext): Promise<Uint8Array | undefined> {
    const info = operationInfo(item.operation);
    // The policy as it is now (requests already waiting keep waiting across a reload).
    const access = ctx.access;
    if (info === undefined || access === undefined || !mayRequireApproval(access.policy, info.xmlName)) return undefined;
    const v = request.header.version;
    let payload: TtlvStructure;
    try {
      payload = requestForVersion(item.operation, item.payload, v);
    } catch {
      return undefined; // refused by the handler's run, with its reason
    }
    const named = child(payload, Tag.UniqueIdentifier) ?? child(payload, Tag.PrivateKeyUniqueIdentifier);
    const uid = named?.type === ItemType.TextString ? named.value : named === undefined ? ctx.idPlaceholder : undefined;
    const rec = uid === undefined ? undefined : await ctx.store.get(uid);
    // An object the caller may not reach is not asked about: the handler answers as for an unknown one.
    if (uid !== undefined && (rec === undefined || !mayReach(ctx, rec))) return undefined;
    const rule = requiresApproval(access.policy, access.caller, info.xmlName, rec);
    if (rule === undefined) return undefined;
    const what = `${info.name}${uid !== undefined ? ` of ${uid}` : ''}`;
    if (request.header.asynchronousIndicator !== true || request.items.length !== 1) {
      throw new KmipError(
        Reason.PermissionDenied,
        `${what} needs a second security officer's approval (dual control, policy ${rule.key}): send it alone in its message with the Asynchronous Indicator set, then Poll its Asynchronous Correlation Value`,
      );
    }
    const correlation = secureRandomBytes(16);
    const id = newApprovalId();
    await this.approvals.add({
      id,
      correlation: correlation.toString('hex'),
      requester: ctx.client.name,
      ...(ctx.client.certificateFingerprint !== undefined ? { requesterFingerprint: ctx.client.certificateFingerprint } : {}),
      operation: info.xmlName,
      ...(uid !== undefined ? { uniqueIdentifier: uid } : {}),
      rule: rule.key,
      protocolVersion: versionString(v),
      request: encodeTtlv(item.payload),
      createdAt: ctx.clock.now(),
    });
    if (uid !== undefined) ctx.touched.push(uid);
    ctx.auditDetail.approvalId = id;
    return correlation;
  }

  /** Poll of a request that waited for approval; undefined: no such request of this caller. */
  async poll(client: ClientIdentity, correlation: Uint8Array, run: ApprovedRunner): Promise<PollAnswer | undefined> {
    const a = await this.approvals.byCorrelation(Buffer.from(correlation).toString('hex'));
    if (a === undefined || a.requester !== client.name) return undefined;
    const operation = Number(requestOperation(a));
    switch (a.state) {
      case 'pending':
      case 'running':
        return { state: 'pending', operation };
      case 'denied':
        return { state: 'done', operation, outcome: { status: ResultStatus.OperationFailed, reason: Reason.PermissionDenied, message: `a security officer denied this ${a.operation} (approval ${a.id})` } };
      case 'cancelled':
        return { state: 'done', operation, outcome: { status: ResultStatus.OperationFailed, reason: ResultReason.OperationCanceledByRequester, message: 'the request was cancelled before it was approved' } };
      case 'done':
        return {
          state: 'done',
          operation,
          outcome: {
            status: a.resultStatus ?? ResultStatus.OperationFailed,
            ...(a.resultReason !== undefined ? { reason: a.resultReason as PendingOutcome['reason'] } : {}),
            message: a.resultMessage ?? `approval ${a.id} ran; its result was delivered to the first Poll after it`,
          },
        };
      case 'approved': {
        // Exactly one process runs it: the one whose claim moves it on.
        if (!(await this.approvals.transition(a.id, ['approved'], 'running'))) return { state: 'pending', operation };
        const item: RequestBatchItem = { operation, payload: decodeTtlv(a.request) as TtlvStructure, messageExtensions: [] };
        const request: RequestMessage = { header: { version: parseVersion(a.protocolVersion), batchCount: 1 }, items: [item] };
        let outcome: PendingOutcome;
        try {
          outcome = await run(item, request, client, a);
        } catch {
          outcome = { status: ResultStatus.OperationFailed, reason: Reason.GeneralFailure, message: 'the approved request could not be run' };
        }
        await this.approvals.finish(a.id, { status: outcome.status, ...(outcome.reason !== undefined ? { reason: outcome.reason } : {}), ...(outcome.message !== undefined ? { message: outcome.message } : {}) });
        return { state: 'done', operation, outcome };
      }
    }
  }

  /** Cancel of a request that waited for approval; undefined: no such request of this caller. */
  async cancel(owner: string, correlation: Uint8Array): Promise<number | undefined> {
    const a = await this.approvals.byCorrelation(Buffer.from(correlation).toString('hex'));
    if (a === undefined || a.requester !== owner) return undefined;
    if (await this.approvals.transition(a.id, ['pending', 'approved'], 'cancelled')) return CancellationResult.Canceled;
    const now = (await this.approvals.byId(a.id))!;
    if (now.state === 'cancelled') return CancellationResult.Canceled;
    if (now.state === 'running') return CancellationResult.UnableToCancel;
    if (now.state === 'done' && now.resultStatus === ResultStatus.Success) return CancellationResult.Completed;
    return CancellationResult.Failed;
  }
}

/** At start, before any approved request runs (in the only process, or the primary): closes and reports those the last stop interrupted. */
export async function closeInterruptedApprovals(dual: DualControl): Promise<void> {
  const ids = await dual.closeInterrupted();
  if (ids.length > 0) console.log(JSON.stringify({ msg: 'approved requests interrupted by the last stop, closed as failed', approvals: ids }));
}

function requestOperation(a: ApprovalRecord): number {
  const info = Object.hasOwn(Operation, a.operation) ? Operation[a.operation as keyof typeof Operation] : undefined;
  if (info === undefined) throw new KmipError(Reason.GeneralFailure, `approval ${a.id} names no KMIP operation`);
  return info;
}

/** What operators name a held request by: "apr-" and 16 hex digits, unrelated to its correlation value. */
export function newApprovalId(): string {
  return `apr-${secureRandomBytes(8).toString('hex')}`;
}

function parseVersion(text: string): ProtocolVersion {
  const [major, minor] = text.split('.').map(Number);
  return { major: major!, minor: minor! };
}
