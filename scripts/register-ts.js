// Minimal require hook so dev scripts and benchmarks run from TypeScript source without a build step.
// Transpile only (types are checked by `npm run typecheck`).
//
// Every server process and command the tests and benches start goes through this hook, and loading
// the compiler and transpiling the whole server took seconds of CPU per process. The output is kept
// in node_modules/.cache/kmip-register-ts (the project's own tree: a shared temp dir would let
// another user plant code), named by a hash of the compiler version, this hook's own text (its
// options), the file's path and its source: a changed file is transpiled again, an unchanged one read back.
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const cacheDir = path.join(root, 'node_modules', '.cache', 'kmip-register-ts');

let ts;
let salt;
function cacheSalt() {
  if (salt === undefined) {
    let version = 'unknown';
    try {
      version = JSON.parse(fs.readFileSync(require.resolve('typescript/package.json'), 'utf8')).version;
    } catch {
      // No version: the hook's text still keys the cache.
    }
    salt = `${version}\n${fs.readFileSync(__filename, 'utf8')}\n`;
  }
  return salt;
}

function transpile(source, filename) {
  ts ??= require('typescript');
  return ts.transpileModule(source, {
    fileName: filename,
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true, sourceMap: false },
  }).outputText;
}

function cached(source, filename) {
  const key = crypto.createHash('sha256').update(cacheSalt()).update(filename).update('\n').update(source).digest('hex');
  const file = path.join(cacheDir, `${key}.js`);
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    // Not cached yet (or unreadable): transpile, and keep it for the next process.
  }
  const out = transpile(source, filename);
  try {
    fs.mkdirSync(cacheDir, { recursive: true, mode: 0o700 });
    // Written whole under a temporary name, then renamed: a concurrent reader never sees half a file.
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, out, { mode: 0o600 });
    fs.renameSync(tmp, file);
  } catch {
    // A cache that cannot be written costs speed only.
  }
  return out;
}

require.extensions['.ts'] = function (module, filename) {
  module._compile(cached(fs.readFileSync(filename, 'utf8'), filename), filename);
};
