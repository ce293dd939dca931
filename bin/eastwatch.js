#!/usr/bin/env node
'use strict';
// The CLI is compiled TypeScript: `npm ci` builds dist/ through the prepare script.
let cli;
try {
  cli = require('../dist/src/cli/main.js');
} catch (e) {
  if (e && e.code === 'MODULE_NOT_FOUND') {
    process.stderr.write('eastwatch: not built yet; run `npm ci` (or `npm run build`) in the eastwatch directory\n');
    process.exit(1);
  }
  throw e;
}
cli.main(process.argv);
