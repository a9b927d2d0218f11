#!/usr/bin/env node
'use strict';
// Runs the compiled server (npm run build writes dist/).
require('../dist/src/cli.js').main(process.argv.slice(2));
