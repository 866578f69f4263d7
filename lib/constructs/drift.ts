import { Stack } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { settingsToEnv } from '../../handlers/shared/settings';
import type { DriftGlob } from '../contracts';
import type { DriftEntry } from '../drift-config';
import { DRIFT_KEY_PREFIX, driftExecutionPrefix, driftInput } from '../drift-input';
import type { WorkflowFunctions } from './workflow-functions';

/** A drift check's request carries `drift` (what to do on drift); every other run does not. */
export const isDriftCheck = sfn.Condition.isPresent('$.request.drift');

/** A drift check of a configured glob (`Validate request` sets `expandGlob`): list, then fan out. */
export const isDriftGlob = sfn.Condition.isPresent('$.request.expandGlob');

/** The drift entries whose path is a glob, as `Validate request` gets them (`DR_DRIFT_GLOBS`). */
export function driftGlobsOf(entries: readonly DriftEntry[]): DriftGlob[] {
  return entries
    .filter((e) => e.path.includes('*'))
    .map(({ repo, ref, path }) => ({ repo, ref, path }));
}

/** Why a drift check planned nothing: the path is locked by a run. */
export const DRIFT_SKIPPED_CAUSE =
  'Drift check skipped: another run holds the lock of this repo and path; nothing was planned. The next scheduled check runs as usual.';

/**
 * The states a drift check adds to the workflow. `checkLock` reads the path's lock (a drift check
 * never takes it: it would refuse a deploy started meanwhile); `busy` skips the check when a run
 * holds it; `report` hands the plan, or its absence, to the notify function's drift phase.
 * A glob's check lists its paths first (`listPaths`, the runner's list mode in the read-only plan
 * task), then `fanOut` (notify's `drift-fan-out` phase) starts one ordinary drift check per path
 * and the run ends as `fannedOut`.
 */
export function driftStates(
  scope: Construct,
  props: {
    request: (field: string) => string;
    table: dynamodb.ITable;
    functions: WorkflowFunctions;
    notify: (
      id: string,
      stateName: string,
      functions: WorkflowFunctions,
      phase: 'drift' | 'drift-fan-out',
      options: { resultPath: string },
    ) => tasks.LambdaInvoke;
  },
) {
  const checkLock = new tasks.DynamoGetItem(scope, 'DriftCheckLock', {
    stateName: 'Drift: is the path locked?',
    table: props.table,
    key: { pk: tasks.DynamoAttributeValue.fromString(props.request('lockKey')) },
    consistentRead: true,
    resultPath: '$.pathLock',
  });
  const skipped = new sfn.Pass(scope, 'DriftSkipped', {
    stateName: 'Drift: record skipped',
    parameters: {
      skipped: true,
      summary: sfn.JsonPath.format(
        `${DRIFT_SKIPPED_CAUSE} Holder: {}`,
        sfn.JsonPath.stringAt('$.pathLock.Item.holder.S'),
      ),
    },
    resultPath: '$.drift',
  });
  const skippedDone = new sfn.Succeed(scope, 'DriftSkippedDone', {
    stateName: 'Drift check skipped',
  });
  const busy = new sfn.Choice(scope, 'DriftBusy', { stateName: 'Drift: path busy?' }).when(
    sfn.Condition.isPresent('$.pathLock.Item.holder.S'),
    skipped.next(skippedDone),
  );
  const report = props.notify('DriftReport', 'Drift: report', props.functions, 'drift', {
    resultPath: '$.drift',
  });
  const fanOut = props.notify(
    'DriftFanOut',
    'Drift: start a check per path',
    props.functions,
    'drift-fan-out',
    {
      resultPath: '$.drift',
    },
  );
  const fannedOut = new sfn.Succeed(scope, 'DriftFannedOut', {
    stateName: 'Drift checks started',
  });
  return { checkLock, busy, report, fanOut, fannedOut };
}

/** Properties of {@link DriftSchedules}. */
export interface DriftSchedulesProps {
  /** The config's `drift` entries. */
  readonly entries: readonly DriftEntry[];
  /** The state machine the schedules start; known by name before it exists. */
  readonly stateMachineArn: string;
  /** Prefix of the schedule names (the state machine's name). */
  readonly namePrefix: string;
}

/**
 * EventBridge Scheduler schedules, one per drift entry: no compute runs between checks. Their
 * role may only start this state machine, and each schedule's input is fixed at synth.
 */
export class DriftSchedules extends Construct {
  readonly role?: iam.Role;
  readonly schedules: scheduler.CfnSchedule[] = [];

  constructor(scope: Construct, id: string, props: DriftSchedulesProps) {
    super(scope, id);
    if (props.entries.length === 0) return;
    const stack = Stack.of(this);
    this.role = new iam.Role(this, 'Role', {
      description: 'EventBridge Scheduler: starts drift checks of the deploy-runner state machine',
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
    });
    this.role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['states:StartExecution'],
        resources: [props.stateMachineArn],
      }),
    );
    // A glob's schedule starts one run with the glob as its path; that run lists the paths at the
    // ref and starts a check per path (`driftStates`), so AWS and local mode expand it alike.
    props.entries.forEach((entry, i) => {
      this.schedules.push(
        new scheduler.CfnSchedule(this, `Schedule${i}`, {
          name: `${props.namePrefix}-drift-${i}`.slice(0, 64),
          description: `Drift check of ${entry.repo} ${entry.path} at ${entry.ref}`.slice(0, 512),
          scheduleExpression: entry.schedule,
          scheduleExpressionTimezone: entry.timezone,
          flexibleTimeWindow: { mode: 'OFF' },
          state: 'ENABLED',
          // The universal target, so the run's name says it is a drift check (`list` shows it
          // apart): Scheduler fills in its own invocation ID, the rest of the call is fixed.
          target: {
            arn: 'arn:aws:scheduler:::aws-sdk:sfn:startExecution',
            roleArn: this.role?.roleArn as string,
            input: stack.toJsonString({
              StateMachineArn: props.stateMachineArn,
              Name: `${driftExecutionPrefix(entry.path)}<aws.scheduler.execution-id>`,
              Input: JSON.stringify(driftInput(entry, entry.path)),
            }),
            // A missed tick is not worth a late one: the next check comes on schedule.
            retryPolicy: { maximumRetryAttempts: 2, maximumEventAgeInSeconds: 3600 },
          },
        }),
      );
    });
  }
}

/**
 * What the notify function's drift phase needs: the table (last result per path, read-only plan
 * links), the page's base URL, and starting a run of this state machine (`request-approval`).
 */
export function grantDriftReporting(
  fn: lambda.Function,
  table: dynamodb.ITable,
  stateMachineArn: string,
  approvalBaseUrl: string,
): void {
  for (const [name, value] of Object.entries(
    settingsToEnv({ tableName: table.tableName, approvalBaseUrl }),
  ))
    fn.addEnvironment(name, value);
  // Only the drift items: the approval runs, links and locks stay out of notify's reach.
  fn.addToRolePolicy(
    new iam.PolicyStatement({
      sid: 'DriftRecordsOnly',
      actions: ['dynamodb:GetItem', 'dynamodb:PutItem'],
      resources: [table.tableArn],
      conditions: {
        'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [`${DRIFT_KEY_PREFIX}*`] },
      },
    }),
  );
  fn.addToRolePolicy(
    new iam.PolicyStatement({
      sid: 'StartApprovalRunOnDrift',
      actions: ['states:StartExecution'],
      resources: [stateMachineArn],
    }),
  );
}
