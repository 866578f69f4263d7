#!/usr/bin/env node
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { ConfigError, loadConfig } from '../lib/config';
import { DeployRunnerStack } from '../lib/deploy-runner-stack';

/**
 * The CDK app: `npx cdk synth` / `npx cdk deploy`. The config comes from context `config`
 * (`-c config=path`), env `DEPLOY_RUNNER_CONFIG`, or `deploy-runner.config.json` in the cwd.
 */

function fail(message: string): never {
  console.error(message);
  process.exit(1);
}

const app = new App();
const configFile =
  (app.node.tryGetContext('config') as string | undefined) ||
  process.env.DEPLOY_RUNNER_CONFIG ||
  'deploy-runner.config.json';
if (!existsSync(configFile)) {
  fail(
    `deploy-runner: no config file at ${path.resolve(configFile)}: copy examples/deploy-runner.config.json there and edit it, or pass -c config=<file>`,
  );
}

try {
  new DeployRunnerStack(
    app,
    (app.node.tryGetContext('stackName') as string | undefined) ?? 'DeployRunner',
    {
      config: loadConfig(configFile),
      configSource: configFile,
      env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
    },
  );
} catch (error) {
  // Config problems are the operator's to fix: show the message, not a stack trace.
  if (error instanceof ConfigError) fail(error.message);
  throw error;
}
