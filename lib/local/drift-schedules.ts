import type { DeployRunnerConfig } from '../config';
import type { LocalEngine } from './engine';
import { DriftScheduler } from './scheduler';

export type { DriftScheduler };

/** The config's drift schedules against this server's state machine, as EventBridge would. */
export function startDriftScheduler(
  options: { config: DeployRunnerConfig; driftSchedules?: boolean },
  engine: LocalEngine,
  echo: (line: string) => void,
): DriftScheduler {
  return new DriftScheduler({
    entries: options.config.drift,
    enabled: options.driftSchedules ?? true,
    echo,
    start: async (input, name) => {
      const out = engine.startExecution({
        stateMachineArn: engine.stateMachineArn,
        name,
        input: JSON.stringify(input),
      });
      echo(`⏱  drift check of ${input.repo} ${input.path} started: ${name}`);
      return (await out).executionArn;
    },
  });
}
