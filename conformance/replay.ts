/**
 * A stand-in server for testing the runner itself (`--self-test`): it answers each request with
 * the case's own expected response, placeholders filled with fresh values, after checking the
 * request the runner built against the case (identifiers substituted, times near $NOW±n, every
 * literal unchanged). Every readable case must pass against it; one that does not points at the
 * runner, not at a server.
 */
import { randomBytes, randomUUID } from 'crypto';
import { decodeTtlv } from '../ttlv/decode';
import { encodeTtlv } from '../ttlv/encode';
import { ItemType, ttlv } from '../ttlv/types';
import type { TtlvItem } from '../ttlv/types';
import { tagLabel } from '../ttlv/text-values';
import { kmipDictionary } from '../src/spec/dictionary';
import { answerInRequestVersion, isIdentityPlaceholder, nowOffset, showValue, valueKey } from './compare';
import { Tag } from '../src/spec/generated/tags';
import { expectedFromElement } from './expected';
import type { ExpectedNode } from './expected';
import type { Step } from './cases';
import type { PreparedCase } from './runner';
import type { Target } from './targets';

/** How far a $NOW±n the runner sent may be from the oracle's own clock. */
const CLOCK_TOLERANCE_SECONDS = 5;

function fresh(item: TtlvItem, nowSeconds: bigint, offset: number | undefined): TtlvItem {
  const tag = item.tag;
  if (offset !== undefined) {
    if (item.type === ItemType.DateTime) return ttlv.dateTime(tag, nowSeconds + BigInt(offset));
    if (item.type === ItemType.DateTimeExtended) return ttlv.dateTimeExtended(tag, (nowSeconds + BigInt(offset)) * 1_000_000n);
  }
  switch (item.type) {
    case ItemType.TextString:
      return ttlv.textString(tag, `replay-${randomUUID()}`);
    case ItemType.ByteString:
      return ttlv.byteString(tag, new Uint8Array(randomBytes(16)));
    default:
      return item;
  }
}

function same(a: TtlvItem, b: TtlvItem): boolean {
  return a.type === b.type && valueKey(a) === valueKey(b);
}

export function replayTarget(group: readonly PreparedCase[]): Target {
  const queue: Array<{ readonly caseIndex: number; readonly step: Step }> = [];
  group.forEach((p, caseIndex) => {
    for (const step of p.loaded?.steps ?? []) queue.push({ caseIndex, step });
  });
  let currentCase = -1;
  let bindings = new Map<string, TtlvItem>();

  const checkRequest = (exp: ExpectedNode, act: TtlvItem, path: string, nowSeconds: bigint): string | undefined => {
    const here = `${path}/${tagLabel(exp.item.tag, kmipDictionary)}`;
    if (exp.item.tag !== act.tag || exp.item.type !== act.type) return `${here}: tag or type differs`;
    if (exp.item.type === ItemType.Structure && act.type === ItemType.Structure) {
      if (exp.children.length !== act.value.length) return `${here}: ${act.value.length} children, expected ${exp.children.length}`;
      for (let i = 0; i < exp.children.length; i++) {
        const m = checkRequest(exp.children[i] as ExpectedNode, act.value[i] as TtlvItem, here, nowSeconds);
        if (m) return m;
      }
      return undefined;
    }
    const raw = exp.placeholder;
    if (raw === undefined) return same(exp.item, act) ? undefined : `${here}: ${showValue(act)} instead of the literal ${showValue(exp.item)}`;
    const offset = nowOffset(raw);
    if (offset !== undefined) {
      const want = nowSeconds + BigInt(offset);
      const got = act.type === ItemType.DateTime ? act.value : act.type === ItemType.DateTimeExtended ? act.value / 1_000_000n : want;
      const diff = got > want ? got - want : want - got;
      return diff <= BigInt(CLOCK_TOLERANCE_SECONDS) ? undefined : `${here}: ${raw} sent as ${showValue(act)}`;
    }
    const bound = bindings.get(raw);
    if (bound !== undefined && !same(bound, act)) return `${here}: ${raw} sent as ${showValue(act)}, not ${showValue(bound)}`;
    return undefined;
  };

  const fill = (exp: ExpectedNode, nowSeconds: bigint): TtlvItem => {
    if (exp.item.type === ItemType.Structure) return ttlv.structure(exp.item.tag, exp.children.map((c) => fill(c, nowSeconds)));
    const raw = exp.placeholder;
    if (raw === undefined) return exp.item;
    const offset = nowOffset(raw);
    if (offset !== undefined) return fresh(exp.item, nowSeconds, offset);
    const bound = bindings.get(raw);
    if (bound !== undefined && isIdentityPlaceholder(raw)) return { ...bound, tag: exp.item.tag } as TtlvItem;
    const value = fresh(exp.item, nowSeconds, undefined);
    bindings.set(raw, value);
    return value;
  };

  return {
    handle: async (bytes) => {
      const next = queue.shift();
      if (next === undefined) throw new Error('replay: more requests than the cases have');
      if (next.caseIndex !== currentCase) {
        currentCase = next.caseIndex;
        bindings = new Map();
      }
      const nowSeconds = BigInt(Math.floor(Date.now() / 1000));
      const request = decodeTtlv(bytes);
      const problem = checkRequest(expectedFromElement(next.step.request), request, '', nowSeconds);
      if (problem !== undefined) throw new Error(`replay: the request differs from the case at ${problem}`);
      // Like any server, answer in the request's protocol version (the case may say otherwise).
      const response = next.step.response;
      const answered: ExpectedNode = {
        ...response,
        children: response.children.map((c) => (c.item.tag === Tag.ResponseHeader ? answerInRequestVersion(c, request) : c)),
      };
      return encodeTtlv(fill(answered, nowSeconds));
    },
    close: async () => undefined,
  };
}
