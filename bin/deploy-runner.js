#!/usr/bin/env node
// Launcher for `npx deploy-runner`: the prebuilt bundle dist/cli.js when there is one (see
// lib/cli/build.ts), otherwise the TypeScript source through tsx. `local` prefers the source:
// local mode builds the runner from containers/ and copies examples/, next to the source.
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const bundle = join(__dirname, '..', 'dist', 'cli.js');

function loadSource() {
  if (!existsSync(join(__dirname, 'deploy-runner.ts'))) return undefined;
  try {
    require('tsx/cjs');
  } catch {
    return undefined;
  }
  return require('./deploy-runner.ts');
}

const preferSource = process.argv[2] === 'local' || !existsSync(bundle);
const cli = (preferSource && loadSource()) || (existsSync(bundle) && require(bundle));
if (!cli) {
  process.stderr.write(
    'deploy-runner: dist/cli.js is missing and tsx is not installed: run `npm ci` (or build the CLI bundle).\n',
  );
  process.exit(1);
}
cli.main(process.argv);
