// scripts/register-ts.js with a disk cache of the transpiled files (in $KMIP_TS_CACHE), for tests
// that run the CLI from source many times: transpiling the server's sources and loading TypeScript
// took most of each run's ten seconds on a loaded machine. Same transpile options; an entry is
// used only while its source's size and modification time are unchanged.
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const cacheDir = process.env.KMIP_TS_CACHE;
if (!cacheDir) throw new Error('register-ts-cached: set KMIP_TS_CACHE to a directory');
fs.mkdirSync(cacheDir, { recursive: true });
let ts;

require.extensions['.ts'] = function (module, filename) {
  const stat = fs.statSync(filename);
  const key = crypto.createHash('sha256').update(`${filename}\0${stat.size}\0${stat.mtimeMs}`).digest('hex');
  const cached = path.join(cacheDir, `${key}.js`);
  let code;
  try {
    code = fs.readFileSync(cached, 'utf8');
  } catch {
    ts ??= require('typescript');
    code = ts.transpileModule(fs.readFileSync(filename, 'utf8'), {
      fileName: filename,
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true, sourceMap: false },
    }).outputText;
    // Written aside and renamed, so a concurrent run never reads half a file.
    const tmp = `${cached}.${process.pid}`;
    fs.writeFileSync(tmp, code);
    fs.renameSync(tmp, cached);
  }
  module._compile(code, filename);
};
