/**
 * Which items run asynchronously when the client allows it (Asynchronous Indicator true): the
 * long ones. Generating an RSA key of 3072 bits or more takes from a fraction of a second to
 * several seconds on one core, long enough that a client which allows it is better answered at
 * once. Everything else is answered synchronously even when the client allows asynchrony: an
 * indexed Locate over a million objects takes tens of microseconds (README, Speed), so deferring
 * it would only add a round trip.
 */
import { ItemType } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { CryptographicAlgorithm, Operation } from '../spec/generated/enums';
import { readRequestAttributes, type KmipAttribute } from '../kmip/attributes';
import { opt } from '../kmip/tree';
import { requestForVersion } from '../kmip/request-adapter';
import type { RequestBatchItem } from '../kmip/message';
import type { ProtocolVersion } from '../spec/versions';
import type { ObjectStore, StoredAttribute } from '../store/object-store';

/** RSA moduli from this size on are generated asynchronously. */
const ASYNC_RSA_BITS = 3072;

function numberOf(attrs: readonly (KmipAttribute | StoredAttribute)[], name: string): number | undefined {
  const v = attrs.find((a) => a.name === name)?.value;
  return v && (v.type === ItemType.Integer || v.type === ItemType.Enumeration) ? v.value : undefined;
}

function isLongRsa(attrs: readonly (KmipAttribute | StoredAttribute)[]): boolean {
  return numberOf(attrs, 'Cryptographic Algorithm') === CryptographicAlgorithm.RSA && (numberOf(attrs, 'Cryptographic Length') ?? 0) >= ASYNC_RSA_BITS;
}

/** Whether this item is long enough to answer Operation Pending for. `owner`'s objects only. */
export async function deferrable(item: RequestBatchItem, v: ProtocolVersion, store: ObjectStore, owner: string): Promise<boolean> {
  if (item.operation === Operation.CreateKeyPair) {
    let payload;
    try {
      payload = requestForVersion(item.operation, item.payload, v);
    } catch {
      return false; // refused: the handler's run reports it
    }
    const common = readRequestAttributes(payload, Tag.CommonAttributes);
    const priv = readRequestAttributes(payload, Tag.PrivateKeyAttributes);
    return isLongRsa([...priv, ...common.filter((c) => !priv.some((p) => p.name === c.name))]);
  }
  if (item.operation === Operation.ReKeyKeyPair) {
    const uid = opt.text(item.payload, Tag.PrivateKeyUniqueIdentifier);
    const rec = uid === undefined ? undefined : await store.get(uid);
    return rec !== undefined && rec.owner === owner && isLongRsa(rec.attributes);
  }
  return false;
}
