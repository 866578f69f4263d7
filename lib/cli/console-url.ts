/**
 * Where a person opens a run: the Step Functions console in AWS, or the local server's page for
 * the execution in local mode (it serves `/executions/<url-encoded arn>`).
 */
export function consoleUrl(executionArn: string, target: { region: string; endpoint?: string }) {
  if (target.endpoint) {
    return `${target.endpoint.replace(/\/+$/, '')}/executions/${encodeURIComponent(executionArn)}`;
  }
  const { region } = target;
  return `https://${region}.console.aws.amazon.com/states/home?region=${region}#/v2/executions/details/${executionArn}`;
}

/** The region part of an ARN (`arn:aws:states:<region>:...`), if it is one. */
export function regionOfArn(arn: string | undefined): string | undefined {
  const region = arn?.split(':')[3];
  return region && /^[a-z]{2}(-[a-z]+)+-\d+$/.test(region) ? region : undefined;
}

/**
 * The ARN an execution named `name` of `stateMachineArn` has: Step Functions derives it, so
 * the CLI can look up the run a retried job already started.
 */
export function executionArnFor(stateMachineArn: string, name: string): string {
  const parts = stateMachineArn.split(':');
  if (parts.length < 7 || parts[5] !== 'stateMachine') {
    throw new Error(`not a state machine ARN: ${stateMachineArn}`);
  }
  return [...parts.slice(0, 5), 'execution', parts[6], name].join(':');
}
