#!/usr/bin/env node
// Launcher for `npx deploy-runner`: the prebuilt bundle when there is one (see lib/cli/build.ts),
// otherwise the TypeScript source through tsx.
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const bundle = join(__dirname, '..', 'dist', 'cli.js');
let cli;
if (existsSync(bundle)) {
  cli = require(bundle);
} else {
  try {
    require('tsx/cjs');
  } catch {
    process.stderr.write(
      'deploy-runner: dist/cli.js is missing and tsx is not installed: run `npm ci` (or build the CLI bundle).\n',
    );
    process.exit(1);
  }
  cli = require('./deploy-runner.ts');
}
cli.main(process.argv);
