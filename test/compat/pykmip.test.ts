/**
 * Client compatibility: Debian's PyKMIP client (python3-pykmip 0.10) runs every flow of
 * pykmip_flows.py (each public ProxyKmipClient method, and the KMIPProxy calls it does not cover,
 * with every object type) in each KMIP version it speaks, against the real server over mutual TLS:
 * once as one long session, where what a flow leaves behind stays for the next and the session ends
 * with PyKMIP's own teardown (Revoke and Destroy whatever Locate returns), and once with each flow
 * on its own connection. The server runs under the "pykmip" compatibility profile, as an operator
 * serving PyKMIP clients would configure it (with the legacy cryptographic policy profile).
 */
import { execFile, execFileSync } from 'node:child_process';
import path from 'node:path';
import { PYTHON, useServerProcess } from '../helpers/pykmip';
import { recordFlow } from '../helpers/compat-results';

const SCRIPT = path.join(__dirname, 'pykmip_flows.py');
const VERSIONS = ['1.0', '1.1', '1.2', '1.3', '1.4', '2.0'];
const MODES = ['session', 'isolated'] as const;

interface FlowLine {
  readonly flow: string;
  readonly ok: boolean;
  readonly applies: boolean;
  readonly error?: string;
}

const FLOWS = JSON.parse(execFileSync(PYTHON, [SCRIPT, '--list'], { encoding: 'utf8' })) as { flow: string; since: string; until: string }[];
// PyKMIP's clients are served under the profile made for them (src/compat/profiles.ts: Operation
// Policy Name "default", what Get Attributes of "all" may hold, HKDF for HMAC derivation), and the
// flows create 3DES keys and derive by AES-ECB, which only the legacy cryptographic policy allows.
const server = useServerProcess({ compat: 'pykmip', cryptoPolicy: { profile: 'legacy' } });

function runFlows(version: string, mode: string): Promise<Map<string, FlowLine>> {
  const s = server();
  const pki = s.pkiDir;
  const args = [SCRIPT, '127.0.0.1', String(s.port), path.join(pki, 'client.pem'), path.join(pki, 'client-key.pem'), path.join(pki, 'ca.pem'), version, mode];
  return new Promise((resolve, reject) => {
    execFile(PYTHON, args, { timeout: 240_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`PyKMIP flows (${version}, ${mode}) failed: ${err.message}\n${stderr}\n${stdout}`));
      const lines = new Map<string, FlowLine>();
      for (const l of stdout.split('\n').filter((x) => x.startsWith('{'))) {
        const f = JSON.parse(l) as FlowLine;
        lines.set(f.flow, f);
      }
      resolve(lines);
    });
  });
}

describe.each(VERSIONS)('PyKMIP client, KMIP %s', (version) => {
  const results = new Map<string, Map<string, FlowLine>>();
  beforeAll(async () => {
    for (const mode of MODES) results.set(mode, await runFlows(version, mode));
  }, 480_000);

  // Versions are "major.minor" with one-digit minors, so they compare as numbers.
  const applicable = FLOWS.filter((f) => Number(version) >= Number(f.since) && Number(version) <= Number(f.until)).map((f) => f.flow);
  const cases = MODES.flatMap((mode) => applicable.filter((f) => mode === 'session' || f !== 'teardown_everything').map((flow) => [flow, mode] as const));

  test.each(cases)('%s (%s)', (flow, mode) => {
    const line = results.get(mode)?.get(flow);
    recordFlow({ client: 'PyKMIP 0.10', version, flow: `${flow} (${mode})`, ok: line?.ok === true, detail: line?.error ?? (line ? undefined : 'not reported') });
    expect(line).toBeDefined();
    expect(line!.applies).toBe(true);
    if (!line!.ok) throw new Error(`${flow} failed in KMIP ${version} (${mode}): ${line!.error}`);
  });
});
