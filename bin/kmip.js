#!/usr/bin/env node
'use strict';
// Runs the compiled KMIP client command (npm run build writes dist/).
require('../dist/src/kmip-cli.js').main(process.argv.slice(2));
