/**
 * What the request path tells the notifier: durable changes to objects, by owner. The port the
 * request path sees is `Notifier`; `notifier.ts` implements it over mutual TLS.
 */
import type { StoredAttribute } from '../store/object-store';
import type { ProtocolVersion } from '../spec/versions';

export type ObjectEvent =
  /** An object's attributes were written (Notify): the sets before and after the write. */
  | {
      readonly kind: 'attributes-changed';
      readonly uid: string;
      readonly owner: string;
      readonly before: readonly StoredAttribute[];
      readonly after: readonly StoredAttribute[];
    }
  /** A replacement object was created for `replacedUid` (Put, Put Function Replace). */
  | { readonly kind: 'replaced'; readonly uid: string; readonly owner: string; readonly replacedUid: string };

export interface Notifier {
  /** True when `owner` has an endpoint: changes to other owners' objects are not even recorded. */
  wants(owner: string): boolean;
  /** Queues the events for delivery and returns at once; never throws. */
  publish(events: readonly ObjectEvent[]): void;
  /** Delivers what is queued (within a deadline), then closes every connection. */
  close(): Promise<void>;
}

/** Where the server sends Notify and Put for the objects of one client identity. */
export interface NotificationEndpoint {
  /** The identity that owns the objects, as the listener derives it from a client certificate. */
  readonly identity: string;
  readonly host: string;
  readonly port: number;
  /** The version the endpoint is spoken to in (its messages carry nothing newer). */
  readonly protocolVersion: ProtocolVersion;
}
export interface NotificationsConfig {
  readonly endpoints: readonly NotificationEndpoint[];
  /** Messages waiting per endpoint; beyond this the oldest are dropped (and counted in the audit). */
  readonly queueLimit: number;
  readonly connectTimeoutMs: number;
  /** How long an endpoint may take to answer one message. */
  readonly answerTimeoutMs: number;
  /** Reconnection backs off from 1 s, doubling, up to this. */
  readonly retryMaxMs: number;
}
