import type { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import type { FunctionName } from '../../../handlers/shared/settings';
import { type Component, tagComponent } from './component-tag';
import { handlerEntry, LOCK_FILE, PACKAGE_ROOT } from './paths';

/**
 * The Lambda handlers of docs/workflow-contract.md, by file name: those with settings
 * (handlers/shared/settings.ts), each also a component.
 */
export type HandlerName = Extract<Component, FunctionName>;

export interface HandlerFunctionProps {
  readonly handler: HandlerName;
  readonly description: string;
  readonly timeout: Duration;
  readonly environment: Record<string, string>;
  readonly encryptionKey: kms.IKey;
  readonly logRetention: logs.RetentionDays;
  readonly removalPolicy: RemovalPolicy;
}

/**
 * A handler from `handlers/<name>.ts`, bundled locally by esbuild. Each function has its own
 * role that starts with nothing but writing to its own log group (no AWS managed policy), so
 * every permission it holds is one the stack grants on purpose.
 */
export function handlerFunction(
  scope: Construct,
  id: string,
  props: HandlerFunctionProps,
): nodejs.NodejsFunction {
  const logGroup = new logs.LogGroup(scope, `${id}Logs`, {
    encryptionKey: props.encryptionKey,
    retention: props.logRetention,
    removalPolicy: props.removalPolicy,
  });
  const role = new iam.Role(scope, `${id}Role`, {
    assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    description: `deploy-runner ${props.handler} function`,
  });
  logGroup.grantWrite(role);
  const fn = new nodejs.NodejsFunction(scope, id, {
    entry: handlerEntry(props.handler),
    handler: 'handler',
    projectRoot: PACKAGE_ROOT,
    depsLockFilePath: LOCK_FILE,
    description: props.description,
    runtime: lambda.Runtime.NODEJS_22_X,
    architecture: lambda.Architecture.ARM_64,
    memorySize: 256,
    timeout: props.timeout,
    tracing: lambda.Tracing.ACTIVE,
    role,
    logGroup,
    environment: { NODE_OPTIONS: '--enable-source-maps', ...props.environment },
    bundling: {
      minify: true,
      sourceMap: true,
      target: 'node22',
      forceDockerBundling: false,
    },
  });
  tagComponent(fn, props.handler, 'AWS::Lambda::Function');
  return fn;
}
