import { ListStateMachinesCommand, type SFNClient } from '@aws-sdk/client-sfn';
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
