import {
  ListStateMachinesCommand,
  ListTagsForResourceCommand,
  type SFNClient,
} from '@aws-sdk/client-sfn';
import { RUNNER_LOG_GROUP_TAG } from '../contracts';
import { CliError, ExitCode } from './exit-codes';
import type { ApiPacer } from './pacer';

type Env = Readonly<Record<string, string | undefined>>;

/**
 * The state machine to start: `--state-machine-arn`, else DEPLOY_RUNNER_STATE_MACHINE_ARN, else
 * (local mode only, where the server runs exactly one) the only state machine the endpoint has.
 */
export async function resolveStateMachineArn(options: {
  flag?: string;
  env: Env;
  endpoint?: string;
  sfn: () => SFNClient;
  pacer: ApiPacer;
}): Promise<string> {
  const given = options.flag ?? (options.env.DEPLOY_RUNNER_STATE_MACHINE_ARN || undefined);
  if (given) return given;
  if (options.endpoint) {
    const sfn = options.sfn();
    const { stateMachines = [] } = await options.pacer.call('ListStateMachines', () =>
      sfn.send(new ListStateMachinesCommand({ maxResults: 2 })),
    );
    if (stateMachines.length === 1 && stateMachines[0].stateMachineArn) {
      return stateMachines[0].stateMachineArn;
    }
  }
  throw new CliError(
    'No state machine: pass --state-machine-arn or set DEPLOY_RUNNER_STATE_MACHINE_ARN (the stack output StateMachineArn).',
    ExitCode.Usage,
  );
}

export { RUNNER_LOG_GROUP_TAG };

/** `arn:...:execution:<machine>:<name>` → `arn:...:stateMachine:<machine>`. */
export function stateMachineArnOf(executionArn: string): string | undefined {
  const parts = executionArn.split(':');
  if (parts.length < 8 || parts[5] !== 'execution') return undefined;
  return [...parts.slice(0, 5), 'stateMachine', parts[6]].join(':');
}

/**
 * The runner's log group: `--log-group`, else DEPLOY_RUNNER_LOG_GROUP, else the state machine's
 * RUNNER_LOG_GROUP_TAG (the stack tags it and lets the CI role read tags; local mode answers the
 * same call), so `start --wait` streams the plan with no flag in AWS and locally alike.
 */
export async function resolveLogGroup(options: {
  flag?: string;
  env: Env;
  endpoint?: string;
  stateMachineArn?: string;
  sfn: () => SFNClient;
  pacer: ApiPacer;
}): Promise<string | undefined> {
  const given = options.flag ?? (options.env.DEPLOY_RUNNER_LOG_GROUP || undefined);
  if (given || !options.stateMachineArn) return given;
  const sfn = options.sfn();
  const resourceArn = options.stateMachineArn;
  try {
    const { tags = [] } = await options.pacer.call('ListTagsForResource', () =>
      sfn.send(new ListTagsForResourceCommand({ resourceArn })),
    );
    return tags.find((tag) => tag.key === RUNNER_LOG_GROUP_TAG)?.value || undefined;
  } catch {
    // No permission, no region, an older stack or server: follow the run without its logs.
    return undefined;
  }
}
