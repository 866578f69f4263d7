import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config';
import { cdkJsonContext, NO_ASSETS_CONTEXT } from '../../lib/definition';
import { DeployRunnerStack } from '../../lib/deploy-runner-stack';
import { type Draft, ENV, exampleConfig, ROOT } from './helpers';

/**
 * docs/architecture.md, property 7: cdk-nag AwsSolutions passes, and every acknowledged finding says why.
 * cdk-nag 3 is a policy-validation plugin: synthesis fails on error findings, and the report
 * (validation-report.json) lists warnings too, CDK's own annotations included; all must be empty.
 */

interface Report {
  pluginReports: {
    pluginName: string;
    violations: {
      ruleName: string;
      violatingResources?: { constructPath?: string }[];
      violatingConstructs?: { constructPath?: string }[];
    }[];
  }[];
}

function synthWithNag(
  config: Draft,
  change?: (stack: DeployRunnerStack) => void,
): { findings: string[]; app: App } {
  const app = new App({
    context: { ...cdkJsonContext(), ...NO_ASSETS_CONTEXT },
    builtinCloudFormationValidation: false,
  });
  const stack = new DeployRunnerStack(app, 'DeployRunner', {
    config: parseConfig(config),
    env: ENV,
  });
  change?.(stack);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const assembly = app.synth();
  const report = JSON.parse(
    readFileSync(path.join(assembly.directory, 'validation-report.json'), 'utf8'),
  ) as Report;
  const findings = report.pluginReports.flatMap((plugin) =>
    plugin.violations.flatMap((v) =>
      [...(v.violatingResources ?? []), ...(v.violatingConstructs ?? [])].map(
        (r) => `${v.ruleName} at ${r.constructPath}`,
      ),
    ),
  );
  // cdk-nag reports every annotation as a finding; deploy-runner's own synth warnings (such as an
  // N-of-M that self-approval can make unreachable) are advice about the config, tested in
  // test/stack/construct.test.ts, not unacknowledged security findings.
  return { findings: findings.filter((f) => !f.startsWith('Annotation::deploy-runner:')), app };
}

function acknowledgements(root: IConstruct): { path: string; id: string; reason: string }[] {
  return root.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((m) =>
        Object.entries(m.data as Record<string, string>).map(([id, reason]) => ({
          path: construct.node.path,
          id,
          reason,
        })),
      ),
  );
}

describe('cdk-nag AwsSolutions', () => {
  it('finds nothing unacknowledged in the example stack', () => {
    const { findings, app } = synthWithNag(exampleConfig());
    expect(findings).toEqual([]);
    expect(acknowledgements(app).length).toBeGreaterThan(10);
  });

  it.each(readdirSync(path.join(ROOT, 'examples', 'configs')).filter((f) => f.endsWith('.json')))(
    'finds nothing unacknowledged with examples/configs/%s',
    (file) => {
      const config = JSON.parse(readFileSync(path.join(ROOT, 'examples', 'configs', file), 'utf8'));
      expect(synthWithNag(config).findings).toEqual([]);
    },
  );

  it('finds nothing unacknowledged with the alarms, their encrypted topic and an email on', () => {
    const config = exampleConfig();
    config.monitoring = { alarm: { emails: ['oncall@acme.example'] } };
    const { findings, app } = synthWithNag(config);
    expect(findings).toEqual([]);
    const types = JSON.stringify(app.synth().getStackByName('DeployRunner').template);
    expect(types).toContain('AWS::SNS::Topic');
    expect(types).toContain('AWS::CloudWatch::Alarm');
  });

  it('finds nothing unacknowledged with drift entries, a glob among them', () => {
    const config = exampleConfig();
    config.drift = [
      { repo: 'infra', path: 'envs/prod', schedule: 'rate(1 hour)' },
      { repo: 'infra', path: 'envs/*', schedule: 'rate(1 day)' },
    ];
    const { findings, app } = synthWithNag(config);
    expect(findings).toEqual([]);
    expect(JSON.stringify(app.synth().getStackByName('DeployRunner').template)).toContain(
      'runs/*/drift-paths.json',
    );
  });

  it('fails the synthesis when a new wildcard appears', () => {
    expect(() =>
      synthWithNag(exampleConfig(), (stack) => {
        stack.runner.tasks.plan.role.addToPrincipalPolicy(
          new iam.PolicyStatement({ actions: ['s3:*'], resources: ['*'] }),
        );
      }),
    ).toThrow(/AwsSolutions-IAM5\[Action::s3:\*\][\s\S]*PlanRole/);
  });

  it('acknowledges each finding with a reason a reviewer can check', () => {
    const { app } = synthWithNag(exampleConfig());
    // The stack's own CloudFormation-Validate acknowledgements are CDK's, not ours.
    const acks = acknowledgements(app).filter((a) => a.id.includes('AwsSolutions-'));
    for (const ack of acks) {
      expect(ack.id, ack.path).toMatch(/^([Aa]nnotation::)?AwsSolutions-[A-Z]+\d+(\[.+\])?$/);
      expect(ack.reason.length, `${ack.id} at ${ack.path}`).toBeGreaterThanOrEqual(80);
    }
    // Never a blanket acknowledgement on the whole stack or app.
    expect(acks.filter((a) => !a.path.includes('/'))).toEqual([]);
  });
});
