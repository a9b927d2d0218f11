#!/usr/bin/env node
'use strict';
// Runs the compiled server (npm run build writes dist/).
const path = require('node:path');
const built = path.join(__dirname, '..', 'dist', 'src', 'cli.js');
let cli;
try {
  cli = require(built);
} catch (e) {
  // Only the build itself missing gets this line; an error inside it keeps its stack.
  if (e && e.code === 'MODULE_NOT_FOUND' && String(e.message).includes(built)) {
    console.error(`kmip-server: ${built} is not built: run npm run build (npm start builds too)`);
    process.exit(1);
  }
  throw e;
}
cli.main(process.argv.slice(2));
