import { Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import type { DeployRunnerConfig } from '../../config';
import { PLAN_ARTIFACT_NAMES } from '../../contracts';
import type { DeployRunner } from '../deploy-runner';

/**
 * Every cdk-nag AwsSolutions finding deploy-runner accepts, in one place, each with the reason a
 * reviewer needs. Findings are acknowledged one by one (`Rule[Finding]`) on the narrowest
 * construct, so a new wildcard anywhere else still fails the nag test.
 */
export function acknowledgeNagFindings(runner: DeployRunner, config: DeployRunnerConfig): void {
  const { artifacts, functions, tasks, workflow, ciAccess, cleanupDeadLetterQueue } = runner;

  // The cleanup rule's dead-letter queue is itself the end of the line.
  acknowledge(cleanupDeadLetterQueue, 'AwsSolutions-SQS3', REASONS.deadLetterQueue);

  // Lambda: X-Ray and the runtime.
  for (const fn of functions.all) {
    acknowledge(fn.role as IConstruct, 'AwsSolutions-IAM5', REASONS.xray, { resource: '*' });
    acknowledge(fn, 'AwsSolutions-L1', REASONS.nodeRuntime);
  }
  acknowledge(functions.pageSecret, 'AwsSolutions-SMG4', REASONS.pageSecretRotation);

  // Per-run artifact keys: runs/<runId>/... is only known at run time.
  const runObjects = (pattern: string) => ({ resource: artifacts.runObjectsArn(pattern) });
  for (const artifact of PLAN_ARTIFACT_NAMES)
    acknowledge(tasks.plan.role, 'AwsSolutions-IAM5', REASONS.planPuts, runObjects(artifact));
  acknowledge(tasks.apply.role, 'AwsSolutions-IAM5', REASONS.applyReads, runObjects('*'));
  for (const outcome of ['apply-result.json', 'apply-error.json'])
    acknowledge(tasks.apply.role, 'AwsSolutions-IAM5', REASONS.applyOutcome, runObjects(outcome));
  acknowledge(
    functions.approvalPage.role as IConstruct,
    'AwsSolutions-IAM5',
    REASONS.planText,
    runObjects('plan.txt'),
  );
  acknowledge(
    functions.notify.role as IConstruct,
    'AwsSolutions-IAM5',
    REASONS.errorReports,
    runObjects('*-error.json'),
  );
  if (config.drift.some((entry) => entry.path.includes('*')))
    acknowledge(
      functions.notify.role as IConstruct,
      'AwsSolutions-IAM5',
      REASONS.driftPaths,
      runObjects('drift-paths.json'),
    );
  acknowledge(functions.approvalPage.role as IConstruct, 'AwsSolutions-IAM5', REASONS.pageStatus, {
    resource: functions.executionsArn,
  });
  acknowledge(
    functions.inspectPlan.role as IConstruct,
    'AwsSolutions-IAM5',
    REASONS.planResult,
    runObjects('*'),
  );
  const machineRole = workflow.stateMachine.role;

  // The state machine's own role.
  acknowledge(machineRole, 'AwsSolutions-IAM5', REASONS.stateMachineWildcards, { resource: '*' });
  for (const fn of [
    functions.validateRequest,
    functions.requestApproval,
    functions.notify,
    functions.verifyApproval,
    functions.inspectPlan,
  ]) {
    acknowledge(machineRole, 'AwsSolutions-IAM5', REASONS.lambdaVersions, {
      resource: `${fn.functionArn}:*`,
    });
  }

  // The runner tasks.
  for (const task of [tasks.plan, tasks.apply]) {
    acknowledge(task.taskDefinition, 'AwsSolutions-ECS2', REASONS.taskEnvironment);
    acknowledge(task.taskDefinition.obtainExecutionRole(), 'AwsSolutions-IAM5', REASONS.ecrToken, {
      resource: '*',
    });
  }

  // CI may watch and stop the executions of this state machine, whose names are per run.
  acknowledge(ciAccess.policy, 'AwsSolutions-IAM5', REASONS.ciExecutions, {
    resource: ciAccess.executionsArn,
  });

  // What the operator chose in deploy-runner.config.json.
  for (const [mode, task] of [
    ['plan', tasks.plan],
    ['apply', tasks.apply],
  ] as const) {
    const roleConfig = config.iam[mode];
    for (const arn of roleConfig.managedPolicyArns) {
      acknowledge(task.role, `AwsSolutions-IAM4[Policy::${arn}]`, REASONS.configuredPolicy(mode));
    }
    const configured = task.configuredStatements;
    if (configured === undefined) continue;
    for (const statement of roleConfig.statements) {
      if (statement.Effect !== 'Allow') continue;
      for (const action of [statement.Action].flat().filter((a) => a.includes('*')))
        acknowledge(
          configured,
          `AwsSolutions-IAM5[Action::${action}]`,
          REASONS.configuredStatement(mode),
        );
      for (const resource of [statement.Resource].flat().filter((r) => r.includes('*')))
        acknowledge(
          configured,
          `AwsSolutions-IAM5[Resource::${resource}]`,
          REASONS.configuredStatement(mode),
        );
    }
  }
}

const REASONS = {
  deadLetterQueue:
    "This queue is the dead-letter queue of the cleanup rule's Lambda target (EventBridge sets it as the target's DeadLetterConfig, which cdk-nag does not see); a dead-letter queue has none of its own.",
  xray: 'X-Ray PutTraceSegments and PutTelemetryRecords do not support resource-level permissions; tracing is required on every function.',
  nodeRuntime:
    'Pinned to Node.js 22 (LTS, supported by Lambda until 2027-04), the version the handlers are built and tested for; moving to the next LTS is a deliberate change, not an automatic one.',
  pageSecretRotation:
    'The page secret only keys the HMAC of short-lived approval-page nonces and never leaves the approval page function; rotating it would void pages an approver has open. Replace it by redeploying if it is ever exposed.',
  planPuts:
    'The plan task creates its plan artifacts (and, listing a drift glob, its list of paths) under runs/<runId>/, once (If-None-Match required here and by the bucket policy), and the run id is only known at run time; the role may put nothing else and is explicitly denied every object read, listing and delete.',
  applyReads:
    'The apply task reads the approved plan of its run, runs/<runId>/plan.tfplan at a pinned version, and verifies its SHA-256 against the approval; the run id is only known at run time.',
  applyOutcome:
    'The apply task writes only its own result or error report, runs/<runId>/apply-(result|error).json; the run id is only known at run time.',
  planText:
    'The approval page shows the plan text of the run whose link was opened, runs/<runId>/plan.txt, and nothing else of the bucket; the run id is only known at run time.',
  errorReports:
    'Notify reads only the runner error report of the failed run, runs/<runId>/<plan|apply>-error.json; the run id is only known at run time.',
  driftPaths:
    "Notify's drift fan-out reads only the list of paths the runner wrote for the drift glob's own run, runs/<runId>/drift-paths.json; the run id is only known at run time.",
  planResult:
    'Inspect plan reads the artifacts of its run, runs/<runId>/*, at the versions it lists, to check that each was written once with the recorded SHA-256; the run id is only known at run time, and the function writes nothing.',
  pageStatus:
    'The approval page reads the status of the run whose link was opened (states:DescribeExecution), so it never offers a decision on, or misstates the outcome of, a run that stopped waiting; executions of this one state machine are named per run, so only a wildcard under its name matches them.',
  stateMachineWildcards:
    'Granted by the Step Functions integrations themselves: ecs:DescribeTasks/StopTask name task ARNs created at run time; the CloudWatch Logs delivery APIs and X-Ray do not support resource-level permissions.',
  lambdaVersions:
    'The LambdaInvoke integration grants the function and its versions and aliases (<arn>:*); it is limited to the four functions the workflow invokes.',
  taskEnvironment:
    'The environment holds no secrets: run mode, the repo allowlist, bucket name, key ARN, log group and region. Git credentials reach the container only as ECS secrets from Secrets Manager.',
  ecrToken:
    'ecr:GetAuthorizationToken does not support resource-level permissions; image pulls themselves are limited to the CDK assets repository.',
  ciExecutions:
    'CI watches and stops executions of this one state machine; execution names are chosen per run (<repo>-<path>-<sha7>-<ci run id>), so they can only be matched by a wildcard under its name.',
  configuredPolicy: (mode: 'plan' | 'apply') =>
    `Attached because deploy-runner.config.json lists it in iam.${mode}.managedPolicyArns: ${mode === 'plan' ? 'terraform plan must read every resource the root module manages' : 'it bounds what the approved Terraform may change, and only the apply task definition carries this role'}.`,
  configuredStatement: (mode: 'plan' | 'apply') =>
    `Granted by the operator in deploy-runner.config.json iam.${mode}.statements, reviewed with the config; ${mode === 'plan' ? 'the plan role' : 'the apply role, used only after an approval bound to the plan checksum,'} is what Terraform runs with.`,
};

/**
 * Acknowledges `rule` on `scope`; with `finding`, only the finding for that action or resource,
 * spelled the way cdk-nag flattens CloudFormation references (`<LogicalId.Arn>/runs/*`).
 */
function acknowledge(
  scope: IConstruct,
  rule: string,
  reason: string,
  finding?: { resource: string },
): void {
  const id =
    finding === undefined
      ? rule
      : `${rule}[Resource::${flatten(Stack.of(scope).resolve(finding.resource))}]`;
  Validations.of(scope).acknowledge({ id, reason });
}

function flatten(value: unknown): string {
  if (typeof value === 'string') return value.replace(/\$\{/g, '<').replace(/\}/g, '>');
  if (Array.isArray(value)) return value.map(flatten).join('');
  const node = value as Record<string, unknown>;
  if ('Fn::Join' in node) {
    const [separator, parts] = node['Fn::Join'] as [string, unknown[]];
    return parts.map(flatten).join(separator);
  }
  if ('Fn::Sub' in node) return flatten(node['Fn::Sub']);
  if ('Fn::GetAtt' in node) {
    const [id, attribute] = node['Fn::GetAtt'] as [string, string];
    return `<${id}.${attribute}>`;
  }
  if ('Ref' in node) return `<${node.Ref as string}>`;
  return JSON.stringify(value);
}
