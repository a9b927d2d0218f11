/**
 * The OASIS profile test cases on disk: which files there are, what each one is (version, profile
 * group, mandatory or optional), and how a file reads into request/expected-response steps.
 */
import * as fs from 'fs';
import * as path from 'path';
import { readXml } from '../ttlv/xml';
import type { XmlElement } from '../ttlv/xml';
import { expectedFromElement, requestFromElement, dummyPlaceholder } from './expected';
import type { ExpectedNode } from './expected';

/** Every version folder the corpus has, oldest first. 3.0 is a draft and not run unless asked. */
export const ALL_VERSIONS = ['1.0', '1.1', '1.2', '1.3', '1.4', '2.0', '2.1', '3.0'] as const;
export const DEFAULT_VERSIONS: readonly string[] = ['1.0', '1.1', '1.2', '1.3', '1.4', '2.0', '2.1'];

/** Profile groups in the order the summary table lists them. */
export const GROUPS = ['BL', 'SKLC', 'SKFF', 'AKLC', 'CS-BC', 'CS-AC', 'CS-RNG', 'OMOS', 'SASED', 'TL', 'QS', 'AX', 'MSGENC', 'PKCS11', 'SUITEB'] as const;

export type CaseKind = 'mandatory' | 'optional';

export interface CaseInfo {
  /** "v1.4/SKLC-M-1-14": unique over the corpus, used in the skip list and expected results. */
  readonly id: string;
  /** "1.4" */
  readonly version: string;
  /** "SKLC-M-1-14" */
  readonly name: string;
  /** "SKLC-M-1": the name without its version suffix, the same in every version. */
  readonly base: string;
  readonly group: string;
  readonly kind: CaseKind;
  readonly file: string;
}

export interface Step {
  readonly request: XmlElement;
  readonly response: ExpectedNode;
}

export interface LoadedCase {
  readonly steps: readonly Step[];
}

/**
 * The profile group from a file name: the part before "-M-" or "-O-", with the variants folded
 * together (MSGENC-HTTPS/JSON/XML are one group, SUITEB_128/_192 another).
 */
export function groupOf(name: string): string {
  const m = /^(.+?)-[MO]-/.exec(name);
  const prefix = m?.[1] ?? name;
  if (prefix.startsWith('MSGENC')) return 'MSGENC';
  if (prefix.startsWith('SUITEB')) return 'SUITEB';
  return prefix;
}

/** Lists the cases of the given versions under `root` (v<version>/{mandatory,optional}/*.xml), sorted. */
export function discoverCases(root: string, versions: readonly string[]): CaseInfo[] {
  const out: CaseInfo[] = [];
  for (const version of versions) {
    for (const kind of ['mandatory', 'optional'] as const) {
      const dir = path.join(root, `v${version}`, kind);
      if (!fs.existsSync(dir)) continue;
      for (const file of fs.readdirSync(dir)) {
        if (!file.endsWith('.xml')) continue;
        const name = file.slice(0, -'.xml'.length);
        out.push({
          id: `v${version}/${name}`,
          version,
          name,
          base: name.replace(/-\d{2}$/, ''),
          group: groupOf(name),
          kind,
          file: path.join(dir, file),
        });
      }
    }
  }
  return out.sort(compareCases);
}

/** Version, then group, then the case numbers in numeric order (SKFF-M-2 before SKFF-M-10). */
export function compareCases(a: CaseInfo, b: CaseInfo): number {
  const va = ALL_VERSIONS.indexOf(a.version as (typeof ALL_VERSIONS)[number]);
  const vb = ALL_VERSIONS.indexOf(b.version as (typeof ALL_VERSIONS)[number]);
  if (va !== vb) return va - vb;
  return a.name.localeCompare(b.name, 'en', { numeric: true });
}

/**
 * Reads a test-case file into steps. Throws (TtlvError or Error) on a file that is not a
 * well-formed sequence of request/response pairs, or that the dictionary cannot read: the runner
 * reports such a file instead of stopping.
 */
export function loadCase(file: string): LoadedCase {
  const root = readXml(fs.readFileSync(file, 'utf8'));
  let messages: XmlElement[];
  if (root.name === 'RequestMessage' || root.name === 'ResponseMessage') {
    messages = [root];
  } else if (root.name === 'KMIP') {
    messages = [];
    for (const node of root.content) {
      if (node.kind === 'element') {
        if (node.name !== 'RequestMessage' && node.name !== 'ResponseMessage') throw new Error(`<KMIP> holds <${node.name}>`);
        messages.push(node);
      } else if (node.kind === 'text' && !node.value.trim().startsWith('#')) {
        // "# TIME n" notes of the v1.0-1.2 transcriptions are text; anything else is not ours to guess.
        throw new Error(`text inside <KMIP> at offset ${node.offset} that is not a "#" note`);
      }
    }
  } else {
    throw new Error(`root element <${root.name}> is not <KMIP>`);
  }
  const steps: Step[] = [];
  for (let i = 0; i < messages.length; i += 2) {
    const request = messages[i] as XmlElement;
    const response = messages[i + 1];
    if (request.name !== 'RequestMessage') throw new Error(`message ${i + 1} is a <${request.name}>, expected a request`);
    if (response?.name !== 'ResponseMessage') throw new Error(`request ${i / 2 + 1} has no response after it`);
    // Read the request once now, so a file the dictionary cannot read fails before anything is sent.
    requestFromElement(request, dummyPlaceholder);
    steps.push({ request, response: expectedFromElement(response) });
  }
  if (steps.length === 0) throw new Error('no request/response pairs');
  return { steps };
}
