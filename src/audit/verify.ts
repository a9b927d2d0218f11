/**
 * `kmip-server audit verify`: checks an audit trail (one file or several rotated ones, in order)
 * line by line: every line parses, `seq` goes up by one, `prev` is the SHA-256 of the line before,
 * every checkpoint's MAC verifies with the HSM's audit key, and the trail reaches the last line the
 * server remembers having synced (the data dir's head file). The first failure is named with its
 * file, line number and seq.
 *
 * What it cannot see: records after the last checkpoint and past the head file's seq, cut together
 * with the head file put back to an older copy (see README "Audit trail"); the SIEM copy covers that.
 */
import fs from 'node:fs';
import { GENESIS_PREV, TORN_LINE_MESSAGE, checkpointMacInput, lineHash, type ChainHead } from './chain';

export interface VerifyOptions {
  /** The trail's files, oldest first. */
  readonly files: readonly string[];
  /**
   * The last durable line the server remembered, read BEFORE the files (a running server only moves
   * it forward); checked only when the files end with the live audit file.
   */
  readonly head?: ChainHead | null;
  /** The HSM audit key's check (KeyProtector.verifyAuditMac). */
  readonly verifyMac: (data: Uint8Array, mac: Uint8Array) => Promise<boolean>;
}

export type VerifyResult =
  | { readonly ok: true; readonly summary: string; readonly warnings: readonly string[]; readonly records: number; readonly checkpoints: number; readonly lastSeq: number | null }
  | {
      readonly ok: false;
      /** FILE:LINE (seq N): what is wrong. */
      readonly problem: string;
      /** The trail ends in the middle of a line (a server writing right now, or a cut). */
      readonly endsMidLine: boolean;
      readonly warnings: readonly string[];
    };

interface Line {
  readonly bytes: Buffer;
  readonly file: string;
  readonly number: number;
  /** Ended by a newline. */
  readonly complete: boolean;
}

/** The lines of a file, read in 1 MiB chunks (audit files can be large). */
function* readLines(file: string): Generator<Line> {
  const fd = fs.openSync(file, 'r');
  try {
    const chunk = Buffer.alloc(1 << 20);
    let carry = Buffer.alloc(0);
    let number = 0;
    for (;;) {
      const got = fs.readSync(fd, chunk, 0, chunk.length, null);
      if (got === 0) break;
      const data = Buffer.concat([carry, chunk.subarray(0, got)]);
      let start = 0;
      for (let nl = data.indexOf(0x0a, start); nl !== -1; nl = data.indexOf(0x0a, start)) {
        yield { bytes: data.subarray(start, nl), file, number: ++number, complete: true };
        start = nl + 1;
      }
      carry = Buffer.from(data.subarray(start));
    }
    if (carry.length > 0) yield { bytes: carry, file, number: ++number, complete: false };
  } finally {
    fs.closeSync(fd);
  }
}

function where(line: Line, seq?: number): string {
  return `${line.file}:${line.number}${seq !== undefined ? ` (seq ${seq})` : ''}`;
}

const HEX64 = /^[0-9a-f]{64}$/;

export async function verifyAuditTrail(opts: VerifyOptions): Promise<VerifyResult> {
  const warnings: string[] = [];
  const fail = (problem: string, endsMidLine = false): VerifyResult => ({ ok: false, problem, endsMidLine, warnings });
  /** The last line of the chain (or, before it, of lines without seq from an earlier version). */
  let last: { line: Line; seq: number | null; hash: string } | null = null;
  let firstSeq: number | null = null;
  let records = 0;
  let checkpoints = 0;
  let legacy = 0;
  let lastCheckpoint: number | null = null;
  let headHash: string | undefined;
  /** An unparsable line the chain skipped: only the writer's note right after it makes it harmless. */
  let torn: Line | null = null;

  for (const file of opts.files) {
    for (const line of readLines(file)) {
      let record: Record<string, unknown> | null = null;
      try {
        const parsed = JSON.parse(line.bytes.toString('utf8')) as unknown;
        if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) record = parsed as Record<string, unknown>;
      } catch {
        record = null;
      }
      if (record === null || !line.complete) {
        if (torn !== null) return fail(`${where(torn)}: not a whole JSON record (edited, or cut short)`);
        torn = line;
        continue;
      }
      const hash = lineHash(line.bytes);
      const seq = record['seq'];
      if (seq === undefined && (last === null || last.seq === null) && torn === null) {
        // Written before the trail was chained: the first chained line links to the last of them.
        legacy++;
        last = { line, seq: null, hash };
        continue;
      }
      if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) return fail(`${where(line)}: has no valid seq`);
      const prev = record['prev'];
      if (typeof prev !== 'string' || !HEX64.test(prev)) return fail(`${where(line, seq)}: has no valid prev`);
      if (torn !== null) {
        if (record['message'] !== TORN_LINE_MESSAGE || record['tornBytes'] !== torn.bytes.length) {
          return fail(`${where(torn)}: not a whole JSON record (edited, or cut short)`);
        }
        warnings.push(`${where(torn)}: an incomplete line (${torn.bytes.length} bytes) left by a write a crash cut short; the server noted it at restart and the chain continues after it`);
        torn = null;
      }
      if (last !== null && last.seq !== null && seq !== last.seq + 1) {
        const expected = last.seq + 1;
        return fail(
          seq > expected
            ? `${where(line, seq)}: seq ${expected} was expected here: record${seq - expected > 1 ? `s ${expected} to ${seq - 1} are` : ` ${expected} is`} missing (deleted, or moved)`
            : `${where(line, seq)}: seq ${expected} was expected here: records are out of order (moved or repeated)`,
        );
      }
      if (firstSeq === null) firstSeq = seq;
      if (last === null) {
        if (seq === 1 && prev !== GENESIS_PREV) return fail(`${where(line, seq)}: the first record of the trail does not begin the chain (prev is not 64 zeros): records before it were removed`);
        if (seq > 1) warnings.push(`the files given begin at seq ${seq} (${where(line)}): give the rotated files before it to check the trail from its start`);
      } else {
        if (prev !== last.hash) {
          return fail(
            last.seq === null
              ? `${where(last.line)}: does not match the hash the next record (seq ${seq}) chains to it: edited`
              : `${where(last.line, last.seq)}: does not match the hash the next record (seq ${seq}) chains to it: edited, or records after it removed`,
          );
        }
      }
      if (record['event'] === 'checkpoint') {
        const mac = record['mac'];
        const valid = typeof mac === 'string' && HEX64.test(mac) && (await opts.verifyMac(checkpointMacInput(seq, prev), Buffer.from(mac, 'hex')));
        if (!valid) {
          const since = lastCheckpoint === null ? 'the start of the files given' : `the checkpoint at seq ${lastCheckpoint}`;
          return fail(`${where(line, seq)}: checkpoint MAC does not verify with the HSM's audit key: forged, or the records between ${since} and it were rewritten`);
        }
        checkpoints++;
        lastCheckpoint = seq;
      } else {
        records++;
      }
      if (opts.head && seq === opts.head.seq) headHash = hash;
      last = { line, seq, hash };
    }
  }
  if (torn !== null) {
    return fail(`${where(torn)}: the trail ends in the middle of a record: cut short (truncated, or a crash interrupted the write; the server notes such a line at its next start)`, !torn.complete);
  }
  const lastSeq = last?.seq ?? null;
  if (opts.head && opts.head.seq > 0) {
    const end = last === null ? 'holds no record' : `ends at ${lastSeq === null ? `${where(last.line)} (no seq)` : `seq ${lastSeq}`}`;
    if (lastSeq === null || lastSeq < opts.head.seq) {
      return fail(`${opts.files[opts.files.length - 1]}: the trail ${end}, but the server wrote and synced records up to seq ${opts.head.seq}: records after it were cut off`);
    }
    if (headHash !== undefined && headHash !== opts.head.hash) {
      return fail(`seq ${opts.head.seq}: the record differs from the one the server wrote (its hash, remembered in the data dir, does not match): edited`);
    }
  }
  if (legacy > 0) warnings.push(`${legacy} line(s) written before the trail was chained (no seq), linked by the first chained record`);
  if (lastSeq !== null && lastSeq !== lastCheckpoint) {
    warnings.push(
      `${lastSeq - (lastCheckpoint ?? (firstSeq ?? 1) - 1)} record(s) after ${lastCheckpoint === null ? 'the start' : `the last checkpoint (seq ${lastCheckpoint})`} are chained but not yet MAC'd (the server's next checkpoint covers them)`,
    );
  }
  const span = lastSeq === null ? 'no chained record' : `seq ${firstSeq}..${lastSeq}`;
  return {
    ok: true,
    summary: `audit trail intact: ${records} records, ${checkpoints} checkpoints, last seq ${lastSeq ?? 'none'} (${span}, ${opts.files.length} file(s))`,
    warnings,
    records,
    checkpoints,
    lastSeq,
  };
}
