/**
 * The layer order of ../shared/design/ARCHITECTURE.md as data, and a check that every import in
 * ttlv/ and src/ runs downward, or sideways within its layer. A failure names the file and line of
 * each import that runs up, so the shape cannot drift one convenient import at a time.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, sourceFiles } from '../helpers/source-files';

/** Lowest first. A path ending in "/" is a folder; otherwise one file. */
const LAYERS: readonly { readonly name: string; readonly paths: readonly string[] }[] = [
  { name: 'ttlv', paths: ['ttlv/'] },
  { name: 'spec', paths: ['src/spec/'] },
  { name: 'kmip', paths: ['src/kmip/'] },
  // The client library speaks KMIP with the shared vocabulary and nothing of the server.
  { name: 'client', paths: ['src/client/'] },
  {
    name: 'ports',
    paths: ['src/store/', 'src/keys/', 'src/lifecycle/', 'src/audit/', 'src/crypto/', 'src/pki/', 'src/compat/profiles.ts'],
  },
  // The access policy: roles, groups, grants and dual control's rules over the ports, asked by objects and the server.
  { name: 'access', paths: ['src/access/'] },
  { name: 'objects', paths: ['src/objects/'] },
  { name: 'ops', paths: ['src/ops/'] },
  { name: 'server', paths: ['src/server/'] },
  { name: 'services', paths: ['src/notify/', 'src/scheduler/'] },
  // Backup, restore and key custody: run by the command line over the ports and the store file.
  { name: 'custody', paths: ['src/custody/'] },
  {
    name: 'composition root',
    // pykmip-config turns an operator's pykmip-server file into this server's configuration: root work.
    paths: ['src/main.ts', 'src/config-values.ts', 'src/server-store.ts', 'src/server-hsm.ts', 'src/server-kek.ts', 'src/embedded.ts', 'src/workers.ts', 'src/cli.ts', 'src/config.ts', 'src/data-dir.ts', 'src/compat/pykmip-config.ts', 'src/ttlv-dump.ts', 'src/kmip-cli.ts', 'src/kmip-cli-values.ts', 'src/schedule-command.ts', 'src/grant-command.ts', 'src/approve-command.ts', 'src/custody/backup-commands.ts', 'src/custody/kek-commands.ts', 'src/custody/with-custody.ts', 'src/migrate-command.ts'],
  },
];

function layerOf(rel: string): number {
  let best = -1;
  let bestLength = -1;
  LAYERS.forEach((layer, i) => {
    for (const p of layer.paths) {
      const hit = p.endsWith('/') ? rel.startsWith(p) : rel === p;
      // The longest matching path wins, so a file can be placed apart from its folder.
      if (hit && p.length > bestLength) {
        best = i;
        bestLength = p.length;
      }
    }
  });
  return best;
}

/** Relative specifiers of import/export-from/require/dynamic import, with their line numbers. */
export function relativeImports(source: string): { spec: string; line: number }[] {
  const found: { spec: string; line: number }[] = [];
  const pattern = /(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|^\s*import\s+)'(\.{1,2}\/[^']+)'/gm;
  for (const m of source.matchAll(pattern)) {
    found.push({ spec: m[1]!, line: source.slice(0, m.index).split('\n').length });
  }
  return found;
}

function resolve(fromRel: string, spec: string): string {
  const base = path.posix.normalize(path.posix.join(path.posix.dirname(fromRel), spec)).replace(/\.(js|ts)$/, '');
  for (const candidate of [`${base}.ts`, `${base}/index.ts`]) {
    if (fs.existsSync(path.join(ROOT, candidate))) return candidate;
  }
  return `${base}.ts`;
}

const FILES = [...sourceFiles('ttlv'), ...sourceFiles('src')];

describe('layering (imports run downward only)', () => {
  it('places every source file in a layer', () => {
    expect(FILES.filter((f) => layerOf(f) < 0)).toEqual([]);
  });

  it('has no import that runs up a layer', () => {
    const upward: string[] = [];
    for (const file of FILES) {
      const own = layerOf(file);
      for (const { spec, line } of relativeImports(fs.readFileSync(path.join(ROOT, file), 'utf8'))) {
        const target = resolve(file, spec);
        const theirs = layerOf(target);
        if (theirs > own) upward.push(`${file}:${line} imports ${target} (${LAYERS[own]!.name} -> ${LAYERS[theirs]!.name})`);
      }
    }
    expect(upward).toEqual([]);
  });

  it('keeps handler files apart: ops/ imports no other handler (shared logic lives in objects/)', () => {
    const crossed: string[] = [];
    for (const file of FILES.filter((f) => f.startsWith('src/ops/') && f !== 'src/ops/index.ts')) {
      for (const { spec, line } of relativeImports(fs.readFileSync(path.join(ROOT, file), 'utf8'))) {
        const target = resolve(file, spec);
        if (target.startsWith('src/ops/')) crossed.push(`${file}:${line} imports ${target}`);
      }
    }
    expect(crossed).toEqual([]);
  });

  it('finds an upward import when there is one (the check itself can fail)', () => {
    const imports = relativeImports("import { handleMessage } from '../server/handle-message';\n");
    expect(imports).toEqual([{ spec: '../server/handle-message', line: 1 }]);
    const target = resolve('src/kmip/x.ts', imports[0]!.spec);
    expect(layerOf(target)).toBeGreaterThan(layerOf('src/kmip/x.ts'));
  });

  it('keeps every hand-written file under 600 lines (src/spec/generated/ is generated)', () => {
    const MAX_LINES = 600;
    const tooLong: string[] = [];
    for (const file of FILES.filter((f) => !f.startsWith('src/spec/generated/'))) {
      const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
      const lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
      if (lines > MAX_LINES) tooLong.push(`${file}: ${lines} lines`);
    }
    expect(tooLong).toEqual([]);
  });
});
