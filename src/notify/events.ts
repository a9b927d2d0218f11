/**
 * What the request path tells the notifier: durable changes to objects, by owner. The port the
 * request path sees is `Notifier`; `notifier.ts` implements it over mutual TLS.
 */
import type { StoredAttribute } from '../store/object-store';

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
