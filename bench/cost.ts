import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { createCleanupHandler } from '../handlers/cleanup';
import { createInspectPlanHandler } from '../handlers/inspect-plan';
import { createNotifyHandler } from '../handlers/notify';
import { createRequestApprovalHandler } from '../handlers/request-approval';
import type { Settings } from '../handlers/shared/settings';
import { createValidateRequestHandler } from '../handlers/validate-request';
import { createVerifyApprovalHandler } from '../handlers/verify-approval';
import type { DeployRunnerConfig } from '../lib/config';
import { allowlistOf } from '../lib/contracts';
import { type CfnTemplate, cdkJsonContext, NO_ASSETS_CONTEXT } from '../lib/definition';
import { DeployRunnerStack } from '../lib/deploy-runner-stack';
import { LocalDecisionKey } from '../lib/local/decision-key';
import type { HistoryEvent } from '../lib/local/engine';
import { MemoryApprovalStore } from '../lib/local/memory-store';
import { OutboxNotifier } from '../lib/local/outbox-notifier';
import type { BenchServer, Decision } from './local-mode';
import { stateName } from './overhead';
import { PRICES } from './prices';
import { median, now, round, roundSignificant } from './stats';

/**
 * What a run costs in AWS, from the execution histories of the synthesized definition run in
 * local mode: state transitions, Lambda invocations and their durations, runner tasks, emails
 * and artifact writes, priced at the list prices in prices.ts. The idle cost comes from the
 * synthesized CloudFormation template: what in it is billed while nothing runs.
 */

export type HandlerName =
  | 'validate-request'
  | 'request-approval'
  | 'approval-page'
  | 'notify'
  | 'cleanup'
  | 'verify-approval'
  | 'inspect-plan';

/** One execution as the cost model reads it. */
export interface ScenarioRun {
  readonly name: 'happyPath' | 'noChanges' | 'rejected';
  readonly executionArn: string;
  readonly status: string;
  readonly events: readonly HistoryEvent[];
  /** Approval page requests (GET + POST per decision). */
  readonly pageRequests: number;
  /** Emails written to the outbox for this run (SES messages in AWS). */
  readonly emails: number;
  /** Object versions written under runs/<runId>/ (S3 PUTs in AWS). */
  readonly artifactPuts: number;
}

/** Runs the no-changes and rejected paths; the happy path comes from the overhead runs. */
export async function runCostScenarios(
  bench: BenchServer,
  happyPath: { executionArn: string; events: HistoryEvent[] },
  appliedPath: string,
  rejectPath: string,
): Promise<ScenarioRun[]> {
  const happy = scenario(bench, 'happyPath', happyPath.executionArn, 2);

  const unchangedArn = await bench.start(appliedPath);
  const unchanged = await bench.settled(unchangedArn);
  if (unchanged.status !== 'SUCCEEDED')
    throw new Error(`no-changes run ended ${unchanged.status}: ${unchanged.cause}`);

  const rejectedArn = await bench.start(rejectPath);
  const [link] = await bench.approvalLinks(rejectedArn);
  await bench.decide(link as string, 'reject', 'bench: not now');
  const rejected = await bench.settled(rejectedArn);
  if (rejected.error !== 'DeployRunner.Rejected')
    throw new Error(`rejected run ended ${rejected.status} ${rejected.error}`);

  return [
    happy,
    scenario(bench, 'noChanges', unchangedArn, 0),
    scenario(bench, 'rejected', rejectedArn, 2),
  ];
}

function scenario(
  bench: BenchServer,
  name: ScenarioRun['name'],
  executionArn: string,
  pageRequests: number,
): ScenarioRun {
  const record = bench.server.engine.get(executionArn);
  if (!record) throw new Error(`no execution ${executionArn}`);
  return {
    name,
    executionArn,
    status: record.status,
    events: [...record.events],
    pageRequests,
    emails: countEmails(bench.server.outboxDir, record.name),
    artifactPuts: countVersions(join(bench.server.artifactDir, 'runs', record.name)),
  };
}

function countEmails(outboxDir: string, executionName: string): number {
  return readdirSync(outboxDir)
    .filter((f) => f.endsWith('.json') && f.includes('-email-'))
    .filter((f) => readFileSync(join(outboxDir, f), 'utf8').includes(executionName)).length;
}

function countVersions(dir: string): number {
  let count = 0;
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const entry of entries) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) count += countVersions(path);
    else if (!entry.startsWith('.') && !entry.endsWith('.tmp')) count += 1;
  }
  return count;
}

/** Which handler each Lambda invocation of a run is, counted from its history. */
export function lambdaInvocations(run: ScenarioRun): Record<HandlerName, number> {
  const counts: Record<HandlerName, number> = {
    'validate-request': 0,
    'request-approval': 0,
    'approval-page': run.pageRequests,
    notify: 0,
    cleanup: 0,
    'verify-approval': 0,
    'inspect-plan': 0,
  };
  for (const event of run.events) {
    const details = (event.lambdaFunctionScheduledEventDetails ??
      event.taskScheduledEventDetails) as
      | { resource?: string; resourceType?: string; parameters?: string }
      | undefined;
    if (!details) continue;
    let functionName: string | undefined;
    if (event.type === 'LambdaFunctionScheduled') functionName = details.resource;
    else if (details.resourceType === 'lambda')
      functionName = (JSON.parse(details.parameters ?? '{}') as { FunctionName?: string })
        .FunctionName;
    const handler = functionName?.replace(/^.*function:deploy-runner-/, '') as HandlerName;
    if (handler && handler in counts) counts[handler] += 1;
  }
  // The EventBridge rule invokes cleanup for runs that end FAILED, ABORTED or TIMED_OUT.
  if (run.status !== 'SUCCEEDED') counts.cleanup += 1;
  return counts;
}

/** Each entered state is a transition (the `*StateEntered` events). */
export const stateTransitions = (run: ScenarioRun) =>
  run.events.filter((e) => e.type.endsWith('StateEntered')).length;

/** Runner tasks (Fargate in AWS) a run started. */
export const runnerTasks = (run: ScenarioRun) =>
  run.events.filter(
    (e) =>
      e.type === 'TaskSubmitted' &&
      (e.taskSubmittedEventDetails as { resourceType?: string }).resourceType === 'ecs',
  ).length;

/**
 * Warm durations of the in-workflow handlers, each invoked the way local mode invokes it (a
 * handler built per call over the local stand-ins) with the payloads from the real histories.
 * Median of `iterations`, after a few discarded calls.
 */
export async function measureHandlerDurations(
  bench: BenchServer,
  runs: readonly ScenarioRun[],
  decisions: readonly Decision[],
  iterations: number,
): Promise<Record<HandlerName, number>> {
  const scratch = mkdtempSync(join(tmpdir(), 'dr-bench-lambda-'));
  const settings: Settings = {
    tableName: 'deploy-runner-table',
    allowlist: allowlistOf(bench.config),
    lockTtlSeconds: 4 * 3600,
    approvalBaseUrl: bench.server.url,
    fromEmail: bench.config.notifications.fromEmail,
    pageSecret: 'bench-page-secret',
    consoleUrlTemplate: `${bench.server.url}/executions/{executionArn}`,
    approvers: bench.config.approvals.approvers,
  };
  const notifier = new OutboxNotifier({ dir: scratch });
  const artifacts = bench.server.artifacts;
  const happy = runs.find((r) => r.name === 'happyPath') as ScenarioRun;
  const rejected = runs.find((r) => r.name === 'rejected') as ScenarioRun;
  const payloadOf = (run: ScenarioRun, state: string) => {
    const index = run.events.findIndex(
      (e) => e.type.endsWith('StateEntered') && stateName(e) === state,
    );
    const scheduled = run.events
      .slice(index)
      .find((e) => e.type === 'LambdaFunctionScheduled' || e.type === 'TaskScheduled');
    if (!scheduled) throw new Error(`no invocation in ${state}`);
    if (scheduled.type === 'LambdaFunctionScheduled')
      return JSON.parse((scheduled.lambdaFunctionScheduledEventDetails as { input: string }).input);
    return JSON.parse((scheduled.taskScheduledEventDetails as { parameters: string }).parameters)
      .Payload;
  };
  const rejectedRecord = bench.server.engine.get(rejected.executionArn);
  const cleanupEvent = {
    'detail-type': 'Step Functions Execution Status Change',
    source: 'aws.states',
    detail: {
      executionArn: rejected.executionArn,
      status: rejected.status,
      input: rejectedRecord?.input ?? null,
    },
  };

  const invocations: Record<Exclude<HandlerName, 'approval-page'>, () => Promise<unknown>> = {
    'validate-request': () =>
      createValidateRequestHandler({ settings })(payloadOf(happy, 'Validate request')),
    'request-approval': () =>
      createRequestApprovalHandler({ settings, store: new MemoryApprovalStore(), notifier })(
        payloadOf(happy, 'Request approval'),
      ),
    // Notify result on the happy path; Notify failure (reads the error reports) when rejected.
    notify: async () => {
      await createNotifyHandler({ settings, notifier, artifacts })(
        payloadOf(happy, 'Notify result'),
      );
    },
    cleanup: () => createCleanupHandler({ store: new MemoryApprovalStore() })(cleanupEvent),
    // The happy path's signed decision, checked under the bench server's own local key.
    'verify-approval': () =>
      createVerifyApprovalHandler({
        settings: { ...settings, approvalsRequired: bench.config.approvals.approvalsRequired },
        verifier: LocalDecisionKey.inDataDir(join(bench.root, 'data')).verifier(),
      })(payloadOf(happy, 'Verify approval')),
    'inspect-plan': () => createInspectPlanHandler({ artifacts })(payloadOf(happy, 'Inspect plan')),
  };
  const durations = {} as Record<HandlerName, number>;
  try {
    for (const [name, invoke] of Object.entries(invocations)) {
      const samples: number[] = [];
      for (let i = 0; i < iterations + 3; i++) {
        const t0 = now();
        await invoke();
        if (i >= 3) samples.push(now() - t0);
      }
      durations[name as HandlerName] = round(median(samples), 2);
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  // GET and POST are separate invocations of the same function: the mean of their medians.
  const get = median(decisions.map((d) => d.getMs));
  const post = median(decisions.map((d) => d.postMs));
  durations['approval-page'] = round((get + post) / 2, 2);
  return durations;
}

/** What the synthesized template says about sizes and standing costs. */
export interface TemplateFacts {
  readonly lambdaMemoryMiB: number;
  readonly lambdaArchitecture: string;
  readonly runnerCpuUnits: number;
  readonly runnerMemoryMiB: number;
  readonly runnerArchitecture: string;
  readonly resourceCounts: Record<string, number>;
  /** Resource types billed by the hour whatever the load; [] is the goal. */
  readonly alwaysOnCompute: string[];
  readonly synthMs: number;
}

/** Types billed while idle by the hour (compute or network appliances). */
const ALWAYS_ON_TYPES = [
  'AWS::EC2::Instance',
  'AWS::EC2::NatGateway',
  'AWS::EC2::VPCEndpoint',
  'AWS::ECS::Service',
  'AWS::ElasticLoadBalancingV2::LoadBalancer',
  'AWS::ElasticLoadBalancing::LoadBalancer',
  'AWS::RDS::DBInstance',
  'AWS::RDS::DBCluster',
  'AWS::ElastiCache::CacheCluster',
  'AWS::AutoScaling::AutoScalingGroup',
  'AWS::Lambda::EventInvokeConfig',
  'AWS::EKS::Cluster',
];

/** Synthesizes the stack for `config` in memory (no asset bundling) and reads the facts. */
export function templateFacts(config: DeployRunnerConfig): TemplateFacts {
  const outdir = mkdtempSync(join(tmpdir(), 'dr-bench-synth-'));
  try {
    const t0 = now();
    const app = new App({
      outdir,
      analyticsReporting: false,
      context: { ...cdkJsonContext(), ...NO_ASSETS_CONTEXT },
    });
    const stack = new DeployRunnerStack(app, 'DeployRunner', {
      config,
      env: { account: '123456789012', region: 'us-east-1' },
    });
    const template = app.synth().getStackArtifact(stack.artifactId).template as CfnTemplate;
    const synthMs = now() - t0;
    const resources = Object.values(template.Resources);
    const resourceCounts: Record<string, number> = {};
    for (const r of resources) resourceCounts[r.Type] = (resourceCounts[r.Type] ?? 0) + 1;
    const props = (type: string) =>
      resources.filter((r) => r.Type === type).map((r) => r.Properties ?? {});
    // The workflow's functions; CDK's own custom-resource providers run at deploy time only.
    const functions = props('AWS::Lambda::Function').filter((p) =>
      JSON.stringify(p.Tags ?? []).includes('deploy-runner:component'),
    );
    const fn = functions[0] ?? props('AWS::Lambda::Function')[0] ?? {};
    const task = props('AWS::ECS::TaskDefinition')[0] ?? {};
    const alwaysOnCompute = ALWAYS_ON_TYPES.filter((t) => resourceCounts[t]);
    const provisioned = props('AWS::DynamoDB::Table').filter(
      (p) => p.BillingMode !== 'PAY_PER_REQUEST',
    );
    if (provisioned.length > 0) alwaysOnCompute.push('AWS::DynamoDB::Table (provisioned)');
    return {
      lambdaMemoryMiB: Number(fn.MemorySize ?? 128),
      lambdaArchitecture: String((fn.Architectures as string[] | undefined)?.[0] ?? 'x86_64'),
      runnerCpuUnits: Number(task.Cpu),
      runnerMemoryMiB: Number(task.Memory),
      runnerArchitecture: String(
        (task.RuntimePlatform as { CpuArchitecture?: string } | undefined)?.CpuArchitecture ??
          'X86_64',
      ),
      resourceCounts,
      alwaysOnCompute,
      synthMs: round(synthMs),
    };
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

/** A plan/apply duration to price the runner tasks at (tool time; Fargate bills from image pull). */
export interface FargateExample {
  readonly label: string;
  readonly planSeconds: number;
  readonly applySeconds: number;
}

export const FARGATE_EXAMPLES: readonly FargateExample[] = [
  { label: '1 min plan + 1 min apply', planSeconds: 60, applySeconds: 60 },
  { label: '5 min plan + 10 min apply', planSeconds: 300, applySeconds: 600 },
];

/** Image pull and container start, billed before the tool runs (an assumption, not measured). */
export const FARGATE_STARTUP_SECONDS = 30;

export interface CostResult {
  readonly prices: typeof PRICES;
  readonly assumptions: string[];
  readonly template: TemplateFacts;
  readonly scenarios: Record<
    ScenarioRun['name'],
    {
      readonly status: string;
      readonly stateTransitions: number;
      readonly lambdaInvocations: Record<HandlerName, number>;
      readonly lambdaGbSeconds: number;
      readonly runnerTasks: number;
      readonly emails: number;
      readonly artifactPuts: number;
      readonly usd: {
        readonly stepFunctions: number;
        readonly stepFunctionsCountingStart: number;
        readonly lambda: number;
        readonly lambdaAllColdStarts: number;
        readonly ses: number;
        readonly s3Puts: number;
        /** Everything above but Fargate (which depends on the tool's time). */
        readonly totalWithoutFargate: number;
      };
    }
  >;
  readonly handlerDurationsMs: Record<HandlerName, number>;
  readonly fargate: {
    readonly vcpu: number;
    readonly memoryGiB: number;
    readonly architecture: string;
    readonly startupSecondsAssumed: number;
    readonly perTaskMinuteUsd: number;
    readonly examples: Array<
      FargateExample & { vcpuSeconds: number; gbSeconds: number; usd: number; happyPathUsd: number }
    >;
  };
  readonly idle: {
    readonly alwaysOnComputePerMonth: number | null;
    readonly standingItems: Array<{ item: string; perMonth: number | string }>;
    readonly fixedPerMonth: number;
    readonly atlantisBaseline: { readonly description: string; readonly perMonth: number };
    readonly ratioToAtlantis: number;
  };
  /** Monthly totals (happy path, first Fargate example) against the always-on baseline. */
  readonly monthly: Array<{ runsPerMonth: number; deployRunner: number; atlantis: number }>;
}

export function computeCost(
  runs: readonly ScenarioRun[],
  durations: Record<HandlerName, number>,
  coldImportMs: Partial<Record<HandlerName, number>>,
  template: TemplateFacts,
): CostResult {
  const gb = template.lambdaMemoryMiB / 1024;
  const usd = (n: number) => roundSignificant(n, 3);
  const scenarios = {} as CostResult['scenarios'];
  for (const run of runs) {
    const invocations = lambdaInvocations(run);
    let gbSeconds = 0;
    let coldGbSeconds = 0;
    let requests = 0;
    for (const [handler, count] of Object.entries(invocations) as [HandlerName, number][]) {
      // Lambda bills duration rounded up to the millisecond.
      const billed = Math.ceil(durations[handler]);
      const cold = Math.ceil(durations[handler] + (coldImportMs[handler] ?? 0));
      gbSeconds += (count * billed * gb) / 1000;
      coldGbSeconds += (count * cold * gb) / 1000;
      requests += count;
    }
    const transitions = stateTransitions(run);
    const costs = {
      stepFunctions: transitions * PRICES.stepFunctionsStandardPerTransition,
      stepFunctionsCountingStart: (transitions + 1) * PRICES.stepFunctionsStandardPerTransition,
      lambda: gbSeconds * PRICES.lambdaArmPerGbSecond + requests * PRICES.lambdaPerRequest,
      lambdaAllColdStarts:
        coldGbSeconds * PRICES.lambdaArmPerGbSecond + requests * PRICES.lambdaPerRequest,
      ses: run.emails * PRICES.sesPerEmail,
      s3Puts: run.artifactPuts * PRICES.s3PutPerRequest,
    };
    scenarios[run.name] = {
      status: run.status,
      stateTransitions: transitions,
      lambdaInvocations: invocations,
      lambdaGbSeconds: roundSignificant(gbSeconds, 3),
      runnerTasks: runnerTasks(run),
      emails: run.emails,
      artifactPuts: run.artifactPuts,
      usd: {
        stepFunctions: usd(costs.stepFunctions),
        stepFunctionsCountingStart: usd(costs.stepFunctionsCountingStart),
        lambda: usd(costs.lambda),
        lambdaAllColdStarts: usd(costs.lambdaAllColdStarts),
        ses: usd(costs.ses),
        s3Puts: usd(costs.s3Puts),
        totalWithoutFargate: usd(costs.stepFunctions + costs.lambda + costs.ses + costs.s3Puts),
      },
    };
  }

  const vcpu = template.runnerCpuUnits / 1024;
  const memoryGiB = template.runnerMemoryMiB / 1024;
  const perSecond =
    (vcpu * PRICES.fargateArmPerVcpuHour + memoryGiB * PRICES.fargateArmPerGbHour) / 3600;
  const billedSeconds = (toolSeconds: number) =>
    Math.max(60, FARGATE_STARTUP_SECONDS + toolSeconds);
  const examples = FARGATE_EXAMPLES.map((example) => {
    const seconds = billedSeconds(example.planSeconds) + billedSeconds(example.applySeconds);
    const fargateUsd = seconds * perSecond;
    return {
      ...example,
      vcpuSeconds: seconds * vcpu,
      gbSeconds: seconds * memoryGiB,
      usd: usd(fargateUsd),
      happyPathUsd: usd(fargateUsd + scenarios.happyPath.usd.totalWithoutFargate),
    };
  });

  const counts = template.resourceCounts;
  const kmsKeys = counts['AWS::KMS::Key'] ?? 0;
  const secrets = counts['AWS::SecretsManager::Secret'] ?? 0;
  const fixedPerMonth = kmsKeys * PRICES.kmsKeyPerMonth + secrets * PRICES.secretPerMonth;
  const atlantis = PRICES.ec2T3SmallPerHour * PRICES.hoursPerMonth + 20 * PRICES.ebsGp3PerGbMonth;
  const happyRun = examples[0]?.happyPathUsd ?? 0;

  return {
    prices: PRICES,
    assumptions: [
      'A state transition is counted for every entered state (*StateEntered events); AWS may also count the execution start (stepFunctionsCountingStart).',
      `Lambda: ${template.lambdaMemoryMiB} MiB ${template.lambdaArchitecture} from the synthesized template; durations are warm local-mode handler times, rounded up to 1 ms. In AWS the handlers call DynamoDB, SES and S3 over the network, so real durations are longer; lambdaAllColdStarts adds the measured cold import time to every invocation (the INIT phase is billed).`,
      'approval-page: two invocations per decision (GET shows the page, POST decides); cleanup: one invocation per run that ends FAILED, ABORTED or TIMED_OUT (EventBridge rule).',
      `Fargate: ${template.runnerCpuUnits} CPU units / ${template.runnerMemoryMiB} MiB ${template.runnerArchitecture} from the template; billed per second from image pull (assumed ${FARGATE_STARTUP_SECONDS} s) to task stop, minimum 1 minute.`,
      'Not priced (each well under $0.0001 per run): DynamoDB on-demand requests, KMS requests, S3 GETs, CloudWatch Logs ingestion of the runner output, VPC flow logs of the task ENI.',
    ],
    template,
    scenarios,
    handlerDurationsMs: durations,
    fargate: {
      vcpu,
      memoryGiB,
      architecture: template.runnerArchitecture,
      startupSecondsAssumed: FARGATE_STARTUP_SECONDS,
      perTaskMinuteUsd: usd(perSecond * 60),
      examples,
    },
    idle: {
      // Anything always-on in the template has no price here: null says so rather than $0.
      alwaysOnComputePerMonth: template.alwaysOnCompute.length === 0 ? 0 : null,
      standingItems: [
        {
          item: `KMS customer-managed key x${kmsKeys} (artifacts and logs; approval decision signing)`,
          perMonth: kmsKeys * PRICES.kmsKeyPerMonth,
        },
        {
          item: `Secrets Manager secret x${secrets} (approval page nonce key)`,
          perMonth: round(secrets * PRICES.secretPerMonth, 2),
        },
        {
          item: `CloudWatch log storage (${counts['AWS::Logs::LogGroup'] ?? 0} log groups)`,
          perMonth: `$${PRICES.logsStoragePerGbMonth}/GB-month stored`,
        },
        {
          item: `S3 storage (${counts['AWS::S3::Bucket'] ?? 0} buckets; artifacts expire)`,
          perMonth: `$${PRICES.s3StandardPerGbMonth}/GB-month stored`,
        },
        {
          item: 'DynamoDB on-demand table',
          perMonth: `$0 idle; $${PRICES.dynamoDbStoragePerGbMonth}/GB-month stored`,
        },
        {
          item: 'Runner image in the CDK assets ECR repository',
          perMonth: `$${PRICES.ecrStoragePerGbMonth}/GB-month stored`,
        },
      ],
      fixedPerMonth: round(fixedPerMonth, 2),
      atlantisBaseline: {
        description: `one t3.small always on (${PRICES.hoursPerMonth} h x $${PRICES.ec2T3SmallPerHour}/h) + 20 GB gp3 ($${PRICES.ebsGp3PerGbMonth}/GB-month); no load balancer`,
        perMonth: round(atlantis, 2),
      },
      ratioToAtlantis: round(fixedPerMonth / atlantis, 3),
    },
    monthly: [10, 100, 1000].map((runsPerMonth) => ({
      runsPerMonth,
      deployRunner: round(fixedPerMonth + runsPerMonth * happyRun, 2),
      atlantis: round(atlantis, 2),
    })),
  };
}
