/**
 * Sends Notify and Put to the endpoints of the identities that own the changed objects, outside
 * the request/response of the client that made the change: `publish` only queues, so delivery
 * never delays or fails a request.
 *
 * Per endpoint: one queue (bounded; the oldest message is dropped when it is full, and the drops
 * are counted in the audit), one connection, reused, one message at a time in the order of the
 * changes. A failure closes the connection and the message waits at the head of the queue for the
 * next attempt, after a back-off that doubles from 1 s up to `retryMaxMs`; a message the endpoint
 * received but did not answer is tried three times at most. Every outcome is audited.
 *
 * Messages are built just before they are sent, from the object as it is then: a Put's key
 * material is decrypted for the send and zeroed after it, never held in the queue.
 */
import { randomUUID } from 'node:crypto';
import { ttlv } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { Operation } from '../spec/generated/enums';
import { versionString, type ProtocolVersion } from '../spec/versions';
import type { AuditRecord, AuditSink } from '../audit/audit-log';
import type { KeyProtector } from '../keys/key-protector';
import type { ObjectStore } from '../store/object-store';
import type { Clock, OpContext, ServerInfo } from '../objects/context';
import type { NotificationEndpoint, NotificationsConfig } from './events';
import { KmipError, Reason } from '../kmip/errors';
import { bodyForClient } from '../objects/served-object';
import { attributesWithDigest } from '../objects/digest-index';
import type { Notifier, ObjectEvent } from './events';
import { DeliveryError, EndpointConnection, type EndpointTls } from './endpoint-connection';
import { isSuccess, notifyPayload, putPayload, readAnswer, requestBytes, type EndpointAnswer } from './messages';
import { DEFAULT_CRYPTO_POLICY } from '../crypto/policy';
import { COMPAT_PROFILES } from '../compat/profiles';

export interface NotifierDeps {
  readonly store: ObjectStore;
  readonly keys: KeyProtector;
  readonly audit: AuditSink;
  readonly clock: Clock;
  readonly server: ServerInfo;
  readonly maxMessageBytes: number;
  readonly tls: EndpointTls;
}

/** First back-off after a failure; it doubles up to `retryMaxMs`. */
const RETRY_MIN_MS = 1000;
/** Sends of one message whose answer never came (a peer that chokes on it must not block the queue). */
const MAX_ANSWER_FAILURES = 3;
/** An idle connection is closed after this; the next message opens a new one. */
const IDLE_CLOSE_MS = 5 * 60_000;
/** How long closing the server waits for the queues of reachable endpoints to empty. */
const DRAIN_MS = 5000;

export class EndpointNotifier implements Notifier {
  private readonly channels = new Map<string, EndpointChannel>();
  private closed = false;

  constructor(config: NotificationsConfig, deps: NotifierDeps) {
    for (const e of config.endpoints) this.channels.set(e.identity, new EndpointChannel(e, config, deps));
  }

  wants(owner: string): boolean {
    return !this.closed && this.channels.has(owner);
  }

  publish(events: readonly ObjectEvent[]): void {
    if (this.closed) return;
    for (const e of events) this.channels.get(e.owner)?.enqueue(e);
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.channels.values()].map((c) => c.close(DRAIN_MS)));
  }
}

interface Pending {
  readonly event: ObjectEvent;
  /** Times it was sent and no answer came. */
  answerFailures: number;
}

interface Built {
  readonly operation: number;
  readonly bytes: Uint8Array;
}

class EndpointChannel {
  private queue: Pending[] = [];
  private dropped = 0;
  private running = false;
  private stopped = false;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private conn: EndpointConnection | undefined;
  private idleWaiters: Array<() => void> = [];
  /** Aborts a connection attempt in progress when the server stops. */
  private readonly stopping = new AbortController();
  private readonly address: string;
  private readonly version: ProtocolVersion;

  constructor(
    private readonly endpoint: NotificationEndpoint,
    private readonly config: NotificationsConfig,
    private readonly deps: NotifierDeps,
  ) {
    this.address = `${endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host}:${endpoint.port}`;
    this.version = endpoint.protocolVersion;
  }

  enqueue(event: ObjectEvent): void {
    if (this.stopped) return;
    this.queue.push({ event, answerFailures: 0 });
    this.trim();
    if (!this.running && this.retryTimer === undefined) void this.pump();
  }

  /** Waits (up to `drainMs`) for a reachable endpoint's queue to empty, then stops. */
  async close(drainMs: number): Promise<void> {
    const reachable = this.retryTimer === undefined;
    if (reachable && (this.running || this.queue.length > 0)) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((r) => this.idleWaiters.push(r)),
        new Promise<void>((r) => (timer = setTimeout(r, drainMs))),
      ]);
      clearTimeout(timer);
    }
    this.stopped = true;
    this.stopping.abort();
    clearTimeout(this.retryTimer);
    clearTimeout(this.idleTimer);
    this.conn?.destroy();
    this.conn = undefined;
    // The attempt in progress ends at once now; its audit record goes out before the log closes.
    if (this.running) await new Promise<void>((r) => this.idleWaiters.push(r));
    this.dropped += this.queue.length;
    this.queue = [];
    this.reportDropped('the server stopped before they were delivered');
  }

  private trim(): void {
    while (this.queue.length > this.config.queueLimit) {
      this.queue.shift();
      this.dropped++;
    }
  }

  private async pump(): Promise<void> {
    this.running = true;
    clearTimeout(this.idleTimer);
    while (!this.stopped) {
      this.reportDropped('the queue was full');
      const next = this.queue.shift();
      if (next === undefined) break;
      const outcome = await this.deliver(next);
      if (outcome === 'done') continue;
      if (this.stopped) {
        if (outcome === 'again') this.dropped++;
        continue;
      }
      if (outcome === 'again') {
        // Back at the head: it is the oldest, so it is the one a full queue drops.
        this.queue.unshift(next);
        this.trim();
      }
      this.scheduleRetry();
      break;
    }
    this.running = false;
    if (this.retryTimer === undefined && this.conn && !this.stopped) {
      this.idleTimer = setTimeout(() => {
        this.conn?.end();
        this.conn = undefined;
      }, IDLE_CLOSE_MS).unref();
    }
    for (const w of this.idleWaiters.splice(0)) w();
  }

  private scheduleRetry(): void {
    this.failures++;
    const delay = Math.min(this.config.retryMaxMs, RETRY_MIN_MS * 2 ** Math.min(this.failures - 1, 30));
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (!this.running && !this.stopped) void this.pump();
    }, delay);
    this.retryTimer.unref();
  }

  /**
   * One attempt. `done`: answered, or nothing to send; `again`: not delivered, to be sent again
   * after the back-off; `given-up`: sent too often without an answer, dropped (the back-off still
   * applies to the next message).
   */
  private async deliver(p: Pending): Promise<'done' | 'again' | 'given-up'> {
    const started = this.deps.clock.now();
    const ids = p.event.kind === 'replaced' ? [p.event.uid, p.event.replacedUid] : [p.event.uid];
    const base = { operation: p.event.kind === 'replaced' ? 'Put' : 'Notify', uniqueIdentifiers: ids };
    let built: Built | undefined;
    try {
      built = await this.build(p.event);
    } catch (e) {
      // Nothing to send (the object is gone, destroyed, or may not leave the server): said once, not retried.
      const correlationId = randomUUID();
      if (!(e instanceof KmipError)) this.deps.audit.internalError(correlationId, e);
      this.audit({ ...base, correlationId, resultStatus: 'Withheld', reason: e instanceof KmipError ? e.message : 'internal error' });
      return 'done';
    }
    if (built === undefined) return 'done';
    try {
      const conn = await this.connection();
      const answerBytes = await conn.request(built.bytes, this.config.answerTimeoutMs);
      this.failures = 0;
      let answer: EndpointAnswer;
      try {
        answer = readAnswer(answerBytes, built.operation, this.deps.maxMessageBytes);
      } catch (e) {
        // The stream cannot be trusted after a message that is not an answer.
        conn.destroy();
        throw new DeliveryError('answer', `the endpoint's answer is not a Response Message: ${(e as Error).message}`);
      }
      this.audit({
        ...base,
        correlationId: randomUUID(),
        resultStatus: isSuccess(answer) ? 'Success' : 'OperationFailed',
        resultReason: answer.reason === undefined ? undefined : String(answer.reason),
        reason: answer.message,
        durationMs: this.deps.clock.now() - started,
      });
      return 'done';
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      this.conn?.destroy();
      this.conn = undefined;
      this.audit({ ...base, correlationId: randomUUID(), resultStatus: 'NotDelivered', reason: message, durationMs: this.deps.clock.now() - started });
      if (e instanceof DeliveryError && e.phase === 'answer' && ++p.answerFailures >= MAX_ANSWER_FAILURES) {
        this.dropped++;
        this.reportDropped(`sent ${MAX_ANSWER_FAILURES} times without an answer`);
        return 'given-up';
      }
      return 'again';
    } finally {
      built.bytes.fill(0);
    }
  }

  private async connection(): Promise<EndpointConnection> {
    if (this.conn?.usable) return this.conn;
    this.conn?.destroy();
    this.conn = undefined;
    const conn = await EndpointConnection.connect(
      this.endpoint.host,
      this.endpoint.port,
      this.deps.tls,
      this.config.connectTimeoutMs,
      this.deps.maxMessageBytes,
      this.stopping.signal,
    );
    if (this.stopped) {
      conn.destroy();
      throw new DeliveryError('connect', 'the server is stopping');
    }
    this.conn = conn;
    return conn;
  }

  private async build(event: ObjectEvent): Promise<Built | undefined> {
    const now = this.deps.clock.now();
    if (event.kind === 'attributes-changed') {
      const payload = notifyPayload(event.uid, event.before, event.after, this.version);
      return payload && { operation: Operation.Notify, bytes: requestBytes(Operation.Notify, payload, this.version, now) };
    }
    const rec = await this.deps.store.get(event.uid);
    if (rec === undefined) throw new KmipError(Reason.ObjectNotFound, `object ${event.uid} no longer exists`);
    const ctx = this.context(rec.owner);
    try {
      // The object as Get returns it by default: same state, sensitivity and extractability rules.
      const body = await bodyForClient(ctx, rec, ttlv.structure(Tag.RequestPayload, []));
      const payload = putPayload(event.uid, event.replacedUid, body, await attributesWithDigest(ctx, rec), this.version);
      return { operation: Operation.Put, bytes: requestBytes(Operation.Put, payload, this.version, now) };
    } finally {
      for (const s of ctx.secrets) s.fill(0);
    }
  }

  /** What the Get rules need: the owner as the caller, in the endpoint's version. */
  private context(owner: string): OpContext {
    return {
      version: this.version,
      client: { name: owner, isAdmin: false },
      store: this.deps.store,
      keys: this.deps.keys,
      clock: this.deps.clock,
      server: this.deps.server,
      // Put only reads objects: nothing is generated under a policy here.
      crypto: DEFAULT_CRYPTO_POLICY,
      // Profiles shape what new objects get; a Put only reads an object as Get would.
      compat: COMPAT_PROFILES.none,
      idPlaceholder: undefined,
      touched: [],
      auditDetail: {},
      secrets: [],
    };
  }

  private reportDropped(reason: string): void {
    if (this.dropped === 0) return;
    this.audit({ event: 'notification-dropped', correlationId: randomUUID(), count: this.dropped, reason });
    this.dropped = 0;
  }

  private audit(entry: Omit<AuditRecord, 'event'> & { event?: AuditRecord['event'] }): void {
    this.deps.audit.record({
      event: 'notification',
      client: this.endpoint.identity,
      peer: this.address,
      protocolVersion: versionString(this.version),
      ...entry,
    });
  }
}
