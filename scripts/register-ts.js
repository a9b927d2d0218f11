// Minimal require hook so dev scripts and benchmarks run from TypeScript source without a build step.
// Transpile only (types are checked by `npm run typecheck`).
'use strict';
const fs = require('fs');
const ts = require('typescript');
require.extensions['.ts'] = function (module, filename) {
  const source = fs.readFileSync(filename, 'utf8');
  const out = ts.transpileModule(source, {
    fileName: filename,
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true, sourceMap: false },
  });
  module._compile(out.outputText, filename);
};
