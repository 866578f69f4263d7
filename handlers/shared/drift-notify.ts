import type * as ClientSFN from '@aws-sdk/client-sfn';
import type { SFNClient } from '@aws-sdk/client-sfn';
import type { DriftOutcome, ExecutionInput, PlanResult, RunRequest } from '../../lib/contracts';
import { lazyModule } from '../../lib/lazy-module';
import type { RandomBytes } from './capability';
import { documentClient } from './clients/dynamodb';
import { sfnClient } from './clients/sfn';
import { type DriftReportDeps, reportDrift, reportDriftFailure } from './drift-report';
import { type DriftStore, DynamoDriftStore } from './drift-store';
import { InvalidPayloadError } from './errors';
import type { Notifier } from './notifier';
import { DynamoPlanViewStore, issuePlanView, type PlanViewStore } from './plan-view';
import { consoleUrl, type Settings } from './settings';

// Loaded when a drift check starts an approval run, not at import: see lib/lazy-module.ts.
const { StartExecutionCommand } = lazyModule<typeof ClientSFN>(() =>
  require('@aws-sdk/client-sfn'),
);

/** What the notify function needs for drift checks beyond its own dependencies. */
export interface DriftNotifyDeps {
  readonly store: DriftStore;
  /** Starts an execution of this state machine (`onDrift: request-approval`). */
  readonly startRun?: (
    stateMachineArn: string,
    input: ExecutionInput,
    name: string,
  ) => Promise<string>;
  readonly now?: () => Date;
  /**
   * Where read-only plan views are stored; with the page's base URL, drift messages link one.
   * @default - the messages link the run page
   */
  readonly views?: PlanViewStore;
  /** @default crypto.randomBytes */
  readonly randomBytes?: RandomBytes;
}

const EMAIL = /^[^\s@<>()[\]\\,;:"]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/;

/** `arn:aws:states:<region>:<account>:execution:<machine>:<name>` → the machine's ARN. */
export function stateMachineArnOf(executionArn: string): string {
  const parts = executionArn.split(':');
  if (parts.length < 8 || parts[5] !== 'execution')
    throw new InvalidPayloadError(`not an execution ARN: ${executionArn.slice(0, 200)}`);
  return [...parts.slice(0, 5), 'stateMachine', parts[6]].join(':');
}

/** The drift phase of notify: the report of a finished check, or a failed one's single message. */
export async function driftPhase(args: {
  executionArn: string;
  state: { request: RunRequest; plan?: { summary: PlanResult } | undefined };
  settings: Partial<Settings> & Pick<Settings, 'consoleUrlTemplate'>;
  notifier: Notifier;
  drift: DriftNotifyDeps | undefined;
  readable?: { Error: string; Cause: string };
}): Promise<DriftOutcome> {
  const { executionArn, state, settings, notifier, drift } = args;
  if (!drift)
    throw new InvalidPayloadError(
      'Notify received a drift check but has no drift store (DR_TABLE_NAME is not set)',
    );
  const emails = [
    ...new Map(
      (settings.approvers ?? [])
        .flatMap((a) => (a.email && EMAIL.test(a.email) ? [a.email] : []))
        .map((e) => [e.toLowerCase(), e]),
    ).values(),
  ];
  const slackChannels = settings.slackChannel ? [settings.slackChannel] : [];
  const startRun = drift.startRun;
  const { views, randomBytes } = drift;
  const baseUrl = settings.approvalBaseUrl;
  const deps: DriftReportDeps = {
    notifier,
    store: drift.store,
    emails,
    slackChannels,
    consoleUrl: consoleUrl(settings, executionArn),
    ...(startRun && {
      startRun: (input, name) => startRun(stateMachineArnOf(executionArn), input, name),
    }),
    ...(drift.now && { now: drift.now }),
    ...(views &&
      baseUrl && {
        viewLink: (plan: PlanResult) =>
          issuePlanView(
            {
              store: views,
              baseUrl,
              now: (drift.now ?? (() => new Date()))(),
              ...(randomBytes && { randomBytes }),
            },
            { executionArn, request: state.request, plan },
          ),
      }),
  };
  if (args.readable) {
    const { notified, repeated } = await reportDriftFailure(
      state.request,
      args.readable,
      executionArn,
      deps,
    );
    return {
      drifted: false,
      summary: `Drift check failed${repeated ? ' again (already reported)' : ''}: ${args.readable.Error}`,
      notified,
    };
  }
  const plan = state.plan?.summary;
  if (!plan) throw new InvalidPayloadError('Notify received a drift report without a plan');
  return reportDrift(state.request, plan, executionArn, deps);
}

/** Starts a run with an SFN client (AWS, or local mode's endpoint). */
export function startRunWith(
  client: Pick<SFNClient, 'send'>,
): NonNullable<DriftNotifyDeps['startRun']> {
  return async (stateMachineArn, input, name) => {
    const out = await client.send(
      new StartExecutionCommand({ stateMachineArn, name, input: JSON.stringify(input) }),
    );
    return out.executionArn ?? name;
  };
}

/** The drift dependencies of the notify Lambda: the deploy-runner table and Step Functions. */
export function awsDriftDeps(tableName: string): DriftNotifyDeps {
  return {
    store: new DynamoDriftStore(documentClient(), tableName),
    views: new DynamoPlanViewStore(documentClient(), tableName),
    startRun: startRunWith(sfnClient()),
  };
}
