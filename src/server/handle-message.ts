/**
 * The pure entry point: request bytes in, response bytes out. Tests and the conformance runner call
 * it without TLS; the connection calls it once per framed message.
 *
 * It owns the batch rules: ID Placeholder, Batch Error Continuation Option, Maximum Response Size,
 * critical Message Extensions, unsupported versions and operations, and error mapping.
 */
import { randomUUID } from 'node:crypto';
import { decodeTtlv } from '../../ttlv/decode';
import { encodeTtlv } from '../../ttlv/encode';
import { TtlvError } from '../../ttlv/errors';
import type { TtlvItem, TtlvStructure } from '../../ttlv/types';
import { BatchErrorContinuationOption, ResultStatus } from '../spec/generated/enums';
import { Tag } from '../spec/generated/tags';
import { versionString, type ProtocolVersion } from '../spec/versions';
import {
  encodeResponseItem,
  encodeResponseMessage,
  isSupportedVersion,
  nearestSupportedVersion,
  peekVersion,
  readRequestMessage,
  type RequestBatchItem,
  type RequestMessage,
  type ResponseBatchItem,
} from '../kmip/message';
import { findNewerThan, pruneForVersion } from '../kmip/version-filter';
import { requestForVersion } from '../kmip/request-adapter';
import { failurePayloadForVersion, responseForVersion } from '../kmip/response-adapter';
import { asBoolean, child, opt } from '../kmip/tree';
import type { AuditRecord, AuditSink } from '../audit/audit-log';
import { AuditBurst } from '../audit/burst';
import { StoreError, type ObjectStore } from '../store/object-store';
import type { KeyProtector } from '../keys/key-protector';
import type { ClientIdentity, Clock, OpContext, ServerInfo } from '../objects/context';
import { KmipError, Reason, reasonForVersion, type ReasonValue } from '../kmip/errors';
import { mapError } from './errors';
import type { OperationHandler } from '../objects/context';
import type { OperationRegistry } from './registry';
import { deferrable } from './async-policy';
import { AnswerAs, type PendingOperations, type PendingOutcome } from '../objects/pending-operations';
import { UndoJournalStore } from './undo-journal';
import { conflictTurnsFor } from './conflict-turns';
import { operationInfo } from '../spec/registry';
import { nowSeconds } from '../objects/managed-object';
import type { CryptoPolicy } from '../crypto/policy';
import { DEFAULT_CRYPTO_POLICY } from '../crypto/policy-profiles';
import { COMPAT_PROFILES, type CompatProfile } from '../compat/profiles';
import type { CryptoperiodPolicy } from '../objects/cryptoperiod';
import type { CredentialVerifier } from './credentials';
import type { AccessControl } from '../access/access-control';
import type { Caller } from '../access/policy';
import type { DualControl } from './dual-control';
import type { ApprovalRecord } from '../store/approval-store';
import type { AwaitingApproval } from '../objects/pending-operations';
import { handlingRequest } from './loop-demand';

export interface ServerCore {
  readonly registry: OperationRegistry;
  readonly store: ObjectStore;
  readonly keys: KeyProtector;
  readonly audit: AuditSink;
  readonly clock: Clock;
  readonly server: ServerInfo;
  /** maxRsaModulusBits: the RSA key size cap for client keys (default DEFAULT_MAX_RSA_MODULUS_BITS). */
  readonly limits: { readonly maxMessageBytes: number; readonly maxRsaModulusBits?: number };
  /** The cryptographic policy; absent: DEFAULT_CRYPTO_POLICY (SP 800-131A's current guidance). */
  readonly crypto?: CryptoPolicy;
  /**
   * Told when the version filter had to drop something a handler produced (a handler shaped its
   * answer wrongly for the client's version). Tests fail on it; production may log it.
   */
  readonly onVersionPruned?: (paths: readonly string[], v: ProtocolVersion) => void;
  /**
   * Wraps the store a batch (or a deferred item) writes through, so its durable changes can be
   * told once it is over: the composition root passes the notifier's ChangeObserver (src/notify/)
   * here. Absent: no notifications, and no work for them.
   */
  readonly observeWrites?: (store: ObjectStore) => ObservedStore;
  /** Asynchronous operations (Operation Pending, Poll, Cancel). Absent: every item is answered synchronously. */
  readonly pending?: PendingOperations;
  /** The compatibility profile handlers consult (src/compat/profiles.ts); absent: "none". */
  readonly compat?: CompatProfile;
  /** The cryptoperiod policy applied to new objects and shown by Query Defaults Information; absent: none. */
  readonly cryptoperiods?: CryptoperiodPolicy;
  /** Sub-identities chosen by a Request Header credential (src/server/credentials.ts); absent: credentials are ignored. */
  readonly credentials?: CredentialVerifier;
  /** The access policy file's roles, groups and grants (src/access/); absent: owners and `adminIdentities` decide. */
  readonly access?: AccessControl;
  /** Dual control (server/dual-control.ts): requests the access policy's rules hold for a second officer's approval; absent: no policy file. */
  readonly dualControl?: DualControl;
}

/** A store whose writes are watched: `publish` tells what became durable, `discard` forgets it (an undone batch). */
export interface ObservedStore extends ObjectStore {
  publish(): void;
  discard(): void;
}

export interface Session {
  readonly client: ClientIdentity;
}

/** Version used to answer a message whose own version cannot be read. */
const FALLBACK_VERSION: ProtocolVersion = { major: 1, minor: 0 };

export function handleMessage(bytes: Uint8Array, session: Session, core: ServerCore): Promise<Uint8Array> {
  return handlingRequest(() => answerMessage(bytes, session, core));
}

async function answerMessage(bytes: Uint8Array, session: Session, core: ServerCore): Promise<Uint8Array> {
  let root: TtlvItem;
  try {
    root = decodeTtlv(bytes, { maxMessageBytes: core.limits.maxMessageBytes });
  } catch (e) {
    const v = sniffVersion(bytes) ?? FALLBACK_VERSION;
    return failWholeMessage(core, session, v, Reason.InvalidMessage, describeDecodeError(e));
  }
  let request: RequestMessage;
  try {
    request = readRequestMessage(root);
  } catch (e) {
    const v = peekVersion(root) ?? FALLBACK_VERSION;
    const mapped = mapError(e, answerVersion(v));
    return failWholeMessage(core, session, v, mapped.reason, mapped.message);
  }
  const requested = request.header.version;
  if (!isSupportedVersion(requested)) {
    return failWholeMessage(
      core,
      session,
      requested,
      Reason.UnsupportedProtocolVersion,
      `protocol version ${versionString(requested)} is not supported`,
    );
  }
  if (core.credentials) {
    let client: ClientIdentity;
    try {
      client = await core.credentials.resolve(session.client, request.header.authentication);
    } catch (e) {
      const mapped = mapError(e, requested);
      return failWholeMessage(core, session, requested, mapped.reason, mapped.message);
    }
    if (client !== session.client) session = { ...session, client };
  }
  const secrets: Uint8Array[] = [];
  try {
    return encodeResponse(core, session, request, await runBatch(request, session, core, secrets));
  } finally {
    for (const s of secrets) s.fill(0);
  }
}

/**
 * The answer to a message that could not even be read as a tree (a malformed KMIP XML or JSON body
 * on the HTTPS transport): Invalid Message in version 1.0, audited as a refused message.
 */
export function invalidMessageResponse(session: Session, core: ServerCore, message: string): Uint8Array {
  return failWholeMessage(core, session, FALLBACK_VERSION, Reason.InvalidMessage, message);
}

function answerVersion(v: ProtocolVersion): ProtocolVersion {
  return isSupportedVersion(v) ? v : nearestSupportedVersion(v);
}

function describeDecodeError(e: unknown): string {
  return e instanceof TtlvError ? `malformed message: ${e.code} at byte ${e.offset}` : 'malformed message';
}

/**
 * Reads Protocol Version Major/Minor where a well-formed request header puts them, for answering
 * a message that does not decode. Only used on that error path.
 */
function sniffVersion(b: Uint8Array): ProtocolVersion | undefined {
  if (b.length < 56) return undefined;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const tagAt = (o: number) => (b[o]! << 16) | (b[o + 1]! << 8) | b[o + 2]!;
  if (tagAt(24) !== Tag.ProtocolVersionMajor || tagAt(40) !== Tag.ProtocolVersionMinor) return undefined;
  return { major: dv.getInt32(32), minor: dv.getInt32(48) };
}

function failWholeMessage(
  core: ServerCore,
  session: Session,
  requested: ProtocolVersion,
  reason: ReasonValue,
  message: string,
): Uint8Array {
  const v = answerVersion(requested);
  const r = reasonForVersion(reason, v);
  auditRejectedMessage(core, session, requested, r, message);
  const item = encodeResponseItem({ status: ResultStatus.OperationFailed, reason: r, message });
  const msg = encodeResponseMessage({ version: v, timeStamp: nowSeconds(core) }, [item]);
  return encodeTtlv(msg);
}

/** The audit record of a message refused or withheld as a whole (not item by item). */
function auditRejectedMessage(core: ServerCore, session: Session, version: ProtocolVersion, reason: ReasonValue, message: string): void {
  core.audit.record({
    event: 'message-rejected',
    correlationId: randomUUID(),
    client: session.client.name,
    certificateFingerprint: session.client.certificateFingerprint,
    peer: session.client.peer,
    protocolVersion: versionString(version),
    resultStatus: 'OperationFailed',
    resultReason: String(reason),
    reason: message,
  });
}

const YIELD_EVERY_ITEMS = 32;

/** Runs of one item whose write met a concurrent change before it fails with General Failure. */
const CONFLICT_ATTEMPTS = 20;

interface BatchShared {
  idPlaceholder: string | undefined;
  /** The server's store, or an undo journal over it (Batch Error Continuation Option Undo). */
  readonly store: ObjectStore;
  /** Plaintext key bytes the batch decrypted: zeroed after the response is encoded. */
  readonly secrets: Uint8Array[];
  /** The items' audit records, identical failures folded into one (flushed before the answer). */
  readonly audit: AuditBurst;
}

interface ItemOutcome {
  readonly response: ResponseBatchItem;
}

async function runBatch(
  request: RequestMessage,
  session: Session,
  core: ServerCore,
  secrets: Uint8Array[],
): Promise<ItemOutcome[]> {
  const continuation = request.header.batchErrorContinuationOption ?? BatchErrorContinuationOption.Stop;
  const journal = continuation === BatchErrorContinuationOption.Undo ? new UndoJournalStore(core.store) : undefined;
  const observer = core.observeWrites?.(journal ?? core.store);
  const shared: BatchShared = { idPlaceholder: undefined, secrets, store: observer ?? journal ?? core.store, audit: new AuditBurst(core.audit) };
  const outcomes: ItemOutcome[] = [];
  try {
    for (const [i, item] of request.items.entries()) {
      // A long batch yields to the event loop now and then, so other clients keep being served.
      if (i > 0 && i % YIELD_EVERY_ITEMS === 0) await new Promise((r) => setImmediate(r));
      const outcome = await runItem(item, request, session, core, shared);
      outcomes.push(outcome);
      if (outcome.response.status === ResultStatus.Success || continuation === BatchErrorContinuationOption.Continue) continue;
      // Stop (the default): the remaining items are not processed.
      if (journal) {
        // Undo: what the earlier items did is put back, and they answer Operation Undone.
        await journal.rollback();
        // Every object is as it was before the batch: nothing to tell its owner.
        observer?.discard();
        for (let j = 0; j < outcomes.length - 1; j++) {
          const r = outcomes[j]!.response;
          outcomes[j] = { response: { ...r, status: ResultStatus.OperationUndone } };
        }
      }
      break;
    }
  } finally {
    shared.audit.flush();
    // What was written stays written even if a rollback failed: its owners hear of it.
    observer?.publish();
  }
  return outcomes;
}

async function runItem(
  item: RequestBatchItem,
  request: RequestMessage,
  session: Session,
  core: ServerCore,
  shared: BatchShared,
): Promise<ItemOutcome> {
  const v = request.header.version;
  const started = process.hrtime.bigint();
  const ctx = itemContext(core, session, v, shared.store, shared.idPlaceholder, shared.secrets);
  const base = { operation: item.operation, uniqueBatchItemId: item.uniqueBatchItemId };
  let response: ResponseBatchItem;
  let correlationId: string = randomUUID();
  let internalError = false;
  try {
    rejectCriticalExtensions(item);
    const handler = core.registry.lookup(item.operation, v);
    if (!handler) {
      throw new KmipError(
        Reason.OperationNotSupported,
        `operation ${operationInfo(item.operation)?.name ?? item.operation} is not supported in KMIP ${versionString(v)}`,
      );
    }
    if (core.access) ctx.access = await core.access.forItem(callerOf(session.client), item.operation);
    // After the access check: a request the caller may not make at all is refused, not held.
    const approvalCorrelation = await core.dualControl?.gate(item, request, ctx);
    if (approvalCorrelation !== undefined) {
      // A policy rule holds it for a second officer's approval (dual-control.ts); Poll brings its outcome.
      response = { ...base, status: ResultStatus.OperationPending, asyncCorrelationValue: approvalCorrelation };
    } else if (
      request.header.asynchronousIndicator === true &&
      core.pending !== undefined &&
      request.items.length === 1 &&
      (await deferrable(item, v, shared.store, session.client.name)) &&
      core.pending.hasRoom(session.client.name)
    ) {
      // The client allows it and the item is long: answer now, run it after (pending-operations.ts).
      const value = core.pending.start(session.client.name, item.operation, () => runDeferred(item, request, session, core, handler));
      response = { ...base, status: ResultStatus.OperationPending, asyncCorrelationValue: value };
    } else {
      const payload = await runHandler(handler, item, ctx, core);
      shared.idPlaceholder = ctx.idPlaceholder;
      response = { ...base, status: ResultStatus.Success, payload };
    }
  } catch (e) {
    if (e instanceof AnswerAs) {
      // Poll: the pending operation's own result, or Operation Pending while it runs.
      const o = e.outcome;
      response = { ...base, status: o.status, reason: o.reason, message: o.message, payload: o.payload, asyncCorrelationValue: e.asyncCorrelationValue };
    } else {
      const failed = failureOf(e, v, core);
      correlationId = failed.correlationId ?? correlationId;
      internalError = failed.correlationId !== undefined;
      response = { ...base, ...failed.outcome };
    }
  }
  // A failure whose correlation id names an internal-error log entry keeps a record of its own.
  shared.audit.add(auditRecordOf(session, request, item, { ctx, outcome: response, correlationId, started, asynchronous: false }), !internalError);
  return { response };
}

/** What the access policy matches on (src/access/). */
function callerOf(client: ClientIdentity): Caller {
  return { name: client.name, ...(client.certificate ? { certificate: client.certificate } : {}) };
}

/** The context one item runs in. */
function itemContext(core: ServerCore, session: Session, v: ProtocolVersion, store: ObjectStore, idPlaceholder: string | undefined, secrets: Uint8Array[]): OpContext {
  return {
    version: v,
    client: session.client,
    store,
    keys: core.keys,
    clock: core.clock,
    server: core.server,
    pending: core.pending,
    ...(core.dualControl ? { approvals: awaitingApproval(core, core.dualControl) } : {}),
    crypto: core.crypto ?? DEFAULT_CRYPTO_POLICY,
    compat: core.compat ?? COMPAT_PROFILES.none,
    ...(core.cryptoperiods ? { cryptoperiods: core.cryptoperiods } : {}),
    ...(core.limits.maxRsaModulusBits !== undefined ? { keyLimits: { maxRsaModulusBits: core.limits.maxRsaModulusBits } } : {}),
    idPlaceholder,
    touched: [],
    auditDetail: {},
    secrets,
  };
}

/** An item's failure from a thrown value; an unexpected error goes to the log under its correlation id. */
function failureOf(e: unknown, v: ProtocolVersion, core: ServerCore): { outcome: PendingOutcome; correlationId?: string } {
  const mapped = mapError(e, v);
  if (mapped.correlationId) core.audit.internalError(mapped.correlationId, mapped.internal);
  return {
    outcome: { status: ResultStatus.OperationFailed, reason: mapped.reason, message: mapped.message, payload: mapped.payload },
    correlationId: mapped.correlationId,
  };
}

/** The audit record of one item's outcome. */
function auditRecordOf(
  session: Session,
  request: RequestMessage,
  item: RequestBatchItem,
  r: { ctx: OpContext; outcome: PendingOutcome; correlationId: string; started: bigint; asynchronous: boolean },
): AuditRecord {
  const located = r.ctx.auditDetail.located;
  return {
    event: 'operation',
    correlationId: r.correlationId,
    client: session.client.name,
    certificateFingerprint: session.client.certificateFingerprint,
    peer: session.client.peer,
    protocolVersion: versionString(request.header.version),
    credentialPresented: request.header.authentication !== undefined,
    operation: operationInfo(item.operation)?.name ?? String(item.operation),
    uniqueIdentifiers: located ? located.first : r.ctx.touched,
    ...(located ? { locatedReturned: located.returned, locatedMatched: located.matched } : {}),
    ...(r.ctx.auditDetail.clientMessage !== undefined ? { clientMessage: r.ctx.auditDetail.clientMessage } : {}),
    ...(r.ctx.auditDetail.administratorOverride ? { administratorOverride: true, objectOwners: r.ctx.auditDetail.objectOwners ?? [] } : {}),
    ...(r.ctx.auditDetail.granted ? { granted: true, objectOwners: r.ctx.auditDetail.objectOwners ?? [] } : {}),
    resultStatus: STATUS_NAMES[r.outcome.status] ?? String(r.outcome.status),
    resultReason: r.outcome.reason === undefined ? undefined : String(r.outcome.reason),
    durationMs: Number(process.hrtime.bigint() - r.started) / 1e6,
    ...(r.asynchronous ? { asynchronous: true } : {}),
    ...(r.ctx.auditDetail.approvalId !== undefined ? { approvalId: r.ctx.auditDetail.approvalId } : {}),
  };
}

const STATUS_NAMES: Readonly<Record<number, string>> = {
  [ResultStatus.Success]: 'Success',
  [ResultStatus.OperationFailed]: 'OperationFailed',
  [ResultStatus.OperationPending]: 'OperationPending',
  [ResultStatus.OperationUndone]: 'OperationUndone',
};

/**
 * Runs a handler, again on the committed state when its write met a concurrent change (the store
 * refused it whole), in turn with the other items that met a change to that object. An item's
 * earlier writes are recomputed from state, so running it again does not repeat them.
 */
async function runHandler(handler: OperationHandler, item: RequestBatchItem, ctx: OpContext, core: ServerCore): Promise<readonly TtlvItem[]> {
  // The handler reads and answers the canonical form; the adapters speak the client's version.
  const v = ctx.version;
  const payload = requestForVersion(item.operation, item.payload, v);
  const idPlaceholder = ctx.idPlaceholder;
  let conflicted: string | undefined;
  for (let attempt = 1; ; attempt++) {
    try {
      const run = () => handler.handle(payload, ctx);
      const answer = conflicted === undefined ? await run() : await conflictTurnsFor(core.store).run(conflicted, run);
      return responseForVersion(item.operation, answer, v, { digestKeyFormatTypeIn10: ctx.compat.digestKeyFormatTypeIn10 });
    } catch (e) {
      if (!(e instanceof StoreError && e.code === 'CONFLICT') || attempt >= CONFLICT_ATTEMPTS) throw failureForVersion(item.operation, e, v);
      conflicted = e.uid;
      ctx.idPlaceholder = idPlaceholder;
      ctx.touched.length = 0;
    }
  }
}

/** A failure whose Response Payload the client's version does not answer loses it. */
function failureForVersion(operation: number, e: unknown, v: ProtocolVersion): unknown {
  if (!(e instanceof KmipError) || e.payload === undefined) return e;
  const payload = failurePayloadForVersion(operation, e.payload, v);
  return payload === e.payload ? e : new KmipError(e.reason, e.message, payload, e.olderReason);
}

/**
 * An item answered Operation Pending, run later by PendingOperations: with its own context and
 * secrets (zeroed when it ends), its writes told to the notifier, its outcome audited like any
 * item's, and kept for Poll.
 */
async function runDeferred(
  item: RequestBatchItem,
  request: RequestMessage,
  session: Session,
  core: ServerCore,
  handler: OperationHandler,
  approval?: ApprovalRecord,
): Promise<PendingOutcome> {
  const started = process.hrtime.bigint();
  const observer = core.observeWrites?.(core.store);
  const ctx = itemContext(core, session, request.header.version, observer ?? core.store, undefined, []);
  let outcome: PendingOutcome;
  let correlationId: string = randomUUID();
  try {
    // Grants are read again when the item runs: one revoked while it waited no longer applies.
    if (core.access) ctx.access = await core.access.forItem(callerOf(session.client), item.operation);
    outcome = { status: ResultStatus.Success, payload: await runHandler(handler, item, ctx, core) };
  } catch (e) {
    const failed = failureOf(e, request.header.version, core);
    outcome = failed.outcome;
    correlationId = failed.correlationId ?? correlationId;
  } finally {
    observer?.publish();
    for (const s of ctx.secrets) s.fill(0);
  }
  const record = auditRecordOf(session, request, item, { ctx, outcome, correlationId, started, asynchronous: true });
  core.audit.record(approval ? { ...record, approvalId: approval.id, approvedBy: approval.decidedBy ?? '' } : record);
  return outcome;
}

/** Poll and Cancel of requests held for approval: an approved one runs as its requester, as a deferred item does. */
function awaitingApproval(core: ServerCore, dual: DualControl): AwaitingApproval {
  return {
    poll: (client, correlation) =>
      dual.poll(client, correlation, (item, request, runAs, approval) => {
        const handler = core.registry.lookup(item.operation, request.header.version);
        if (!handler) return Promise.resolve({ status: ResultStatus.OperationFailed, reason: Reason.OperationNotSupported, message: 'the approved operation is no longer served' });
        return runDeferred(item, request, { client: runAs }, core, handler, approval);
      }),
    cancel: (owner, correlation) => dual.cancel(owner, correlation),
  };
}

/**
 * A critical Message Extension we do not understand fails the item (spec: Message Extension) with
 * Feature Not Supported, the General Errors table's reason for it (1.0 11.1, "The Criticality
 * Indicator in a Message Extension structure is set to True, but the server does not understand
 * the extension"), in every version: 2.x has no row of its own for it, and clients written
 * against that table expect the same reason from a 2.x server.
 */
function rejectCriticalExtensions(item: RequestBatchItem): void {
  for (const ext of item.messageExtensions) {
    const critical = child(ext, Tag.CriticalityIndicator);
    if (critical && asBoolean(critical)) {
      const vendor = opt.text(ext, Tag.VendorIdentification) ?? '';
      throw new KmipError(Reason.FeatureNotSupported, `critical message extension of vendor "${vendor}" is not supported`);
    }
  }
}

function encodeResponse(core: ServerCore, session: Session, request: RequestMessage, outcomes: readonly ItemOutcome[]): Uint8Array {
  const v = request.header.version;
  const header = {
    version: v,
    timeStamp: nowSeconds(core),
    clientCorrelationValue: request.header.clientCorrelationValue,
    serverCorrelationValue: request.header.serverCorrelationValue,
  };
  const items: TtlvStructure[] = outcomes.map((o) => encodeResponseItem(o.response));
  const tree = encodeResponseMessage(header, items);
  const pruned = pruneForVersion(tree, v);
  if (pruned !== tree) core.onVersionPruned?.(findNewerThan(tree, v), v);
  let bytes = encodeTtlv(pruned);
  // The client's Maximum Response Size, and never more than we accept as a request: a small
  // request must not buy an unbounded answer.
  const clientMax = request.header.maximumResponseSize;
  const max = clientMax === undefined ? core.limits.maxMessageBytes : Math.min(clientMax, core.limits.maxMessageBytes);
  if (bytes.length > max) {
    // The items were audited as they ran; that their answers were withheld is audited here.
    auditRejectedMessage(core, session, v, Reason.ResponseTooLarge, `response of ${bytes.length} bytes (${outcomes.length} batch items) exceeds Maximum Response Size ${max}`);
    // Every item is replaced by Response Too Large: the client learns the answer did not fit.
    const tooLarge = outcomes.map((o) =>
      encodeResponseItem({
        operation: o.response.operation,
        uniqueBatchItemId: o.response.uniqueBatchItemId,
        status: ResultStatus.OperationFailed,
        reason: Reason.ResponseTooLarge,
        message: `response of ${bytes.length} bytes exceeds Maximum Response Size ${max}`,
      }),
    );
    bytes = encodeTtlv(encodeResponseMessage(header, tooLarge));
    if (bytes.length > max) {
      // Even the per-item refusals do not fit: one refusal for the whole message.
      const one = encodeResponseItem({
        status: ResultStatus.OperationFailed,
        reason: Reason.ResponseTooLarge,
        message: `response exceeds Maximum Response Size ${max}`,
      });
      bytes = encodeTtlv(encodeResponseMessage(header, [one]));
    }
  }
  return bytes;
}
