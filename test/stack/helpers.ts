import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { App, type CfnElement, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { parseConfig } from '../../lib/config';
import { cdkJsonContext, NO_ASSETS_CONTEXT } from '../../lib/definition';
import { DeployRunnerStack } from '../../lib/deploy-runner-stack';

export const ROOT = path.resolve(__dirname, '..', '..');

/** Test account and region: ARNs in the template become plain strings. */
export const ENV = { account: '111111111111', region: 'eu-west-1' } as const;

// biome-ignore lint/suspicious/noExplicitAny: tests edit the example config freely.
export type Draft = Record<string, any>;

/** A fresh copy of examples/deploy-runner.config.json. */
export function exampleConfig(): Draft {
  return JSON.parse(
    readFileSync(path.join(ROOT, 'examples', 'deploy-runner.config.json'), 'utf8'),
  ) as Draft;
}

export interface Built {
  readonly app: App;
  readonly stack: DeployRunnerStack;
  readonly template: Template;
  /** The logical ID of a construct's CloudFormation resource. */
  readonly id: (construct: IConstruct | undefined) => string;
}

/**
 * Builds the stack with the feature flags of cdk.json, without bundling or staging assets and
 * without the built-in CloudFormation validation (slow; `npx cdk synth` runs it).
 */
export function buildStack(
  config: Draft = exampleConfig(),
  options: { env?: { account: string; region: string }; app?: App } = {},
): Built {
  const app =
    options.app ??
    new App({
      context: { ...cdkJsonContext(), ...NO_ASSETS_CONTEXT },
      builtinCloudFormationValidation: false,
    });
  const stack = new DeployRunnerStack(app, 'DeployRunner', {
    config: parseConfig(config),
    env: 'env' in options ? options.env : ENV,
  });
  const template = Template.fromStack(stack);
  const id = (construct: IConstruct | undefined) => {
    if (construct === undefined) throw new Error('no such construct');
    const element = (construct.node.defaultChild ?? construct) as CfnElement;
    return Stack.of(construct).resolve(element.logicalId) as string;
  };
  return { app, stack, template, id };
}

export interface Statement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action: string | string[];
  Resource: unknown;
  Condition?: unknown;
}

/** Every statement of every IAM policy (inline or AWS::IAM::Policy) attached to a role. */
export function roleStatements(template: Template, roleId: string): Statement[] {
  const statements: Statement[] = [];
  const resources = template.toJSON().Resources as Record<
    string,
    { Type: string; Properties: Draft }
  >;
  for (const resource of Object.values(resources)) {
    if (resource.Type === 'AWS::IAM::Policy') {
      const roles = (resource.Properties.Roles ?? []) as unknown[];
      if (roles.some((r) => JSON.stringify(r) === JSON.stringify({ Ref: roleId })))
        statements.push(...resource.Properties.PolicyDocument.Statement);
    }
  }
  const role = resources[roleId];
  for (const policy of (role?.Properties.Policies ?? []) as Draft[])
    statements.push(...policy.PolicyDocument.Statement);
  return statements;
}

/** The actions of a statement, as an array. */
export const actionsOf = (s: Statement) => [s.Action].flat();

/** All Allow actions of a role. */
export function allowedActions(template: Template, roleId: string): string[] {
  return roleStatements(template, roleId)
    .filter((s) => s.Effect === 'Allow')
    .flatMap(actionsOf)
    .sort();
}

/** `Fn::GetAtt` of a resource's ARN. */
export const arnOf = (logicalId: string) => ({ 'Fn::GetAtt': [logicalId, 'Arn'] });

/** `<bucket ARN>/<suffix>` as CDK renders it. */
export const objectsArn = (bucketId: string, suffix: string) => ({
  'Fn::Join': ['', [arnOf(bucketId), `/${suffix}`]],
});
