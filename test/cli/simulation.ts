import { CloudWatchLogsClient, GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  SFNClient,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { logStreamName } from '../../lib/cli/logs';
import type { CliIo } from '../../lib/cli/program';
import { EXECUTION_ARN, FakeStream, type VirtualClock } from './fixtures';

export const sfnMock = mockClient(SFNClient);
export const logsMock = mockClient(CloudWatchLogsClient);

/**
 * The CLI's io as a test gives it to `run`: captured output, the given env and virtual clock,
 * and real SDK clients, which the mocks above answer.
 */
export function testIo(env: Record<string, string>, clock: VirtualClock) {
  const stdout = new FakeStream();
  const stderr = new FakeStream();
  const io: CliIo = {
    stdout,
    stderr,
    env,
    clock,
    clients: () => ({
      sfn: new SFNClient({ region: 'eu-west-1' }),
      logs: new CloudWatchLogsClient({ region: 'eu-west-1' }),
    }),
    startEnvironment: { localUser: () => 'me' },
  };
  return { io, stdout, stderr };
}

export interface ApiCall {
  readonly operation: string;
  readonly at: number;
}

/**
 * Serves one execution through mocked SFN and CloudWatch Logs clients as it unfolds in virtual
 * time: only history events and log lines whose timestamp has passed are visible. Records the
 * virtual time of every call, and can fail chosen calls with injected errors.
 */
export function simulate(options: {
  clock: VirtualClock;
  events: HistoryEvent[];
  endsAt: number;
  final: { status: string; output?: unknown; error?: string; cause?: string };
  /** Log lines per task ARN, each with the virtual time it is written. */
  logs?: Record<string, Array<{ at: number; message: string }>>;
  /** Errors thrown by the n-th call (1-based, all operations counted together). */
  failures?: Record<number, Error>;
}) {
  const { clock } = options;
  const calls: ApiCall[] = [];
  const record = (operation: string) => {
    calls.push({ operation, at: clock.now() });
    const failure = options.failures?.[calls.length];
    if (failure) throw failure;
  };
  sfnMock.reset();
  logsMock.reset();
  sfnMock.on(DescribeExecutionCommand).callsFake(() => {
    record('DescribeExecution');
    const base = {
      executionArn: EXECUTION_ARN,
      name: 'infra-envs-prod-abc1234-42',
      startDate: new Date(options.events[0]?.timestamp ?? 0),
    };
    if (clock.now() < options.endsAt) return { ...base, status: 'RUNNING' };
    const { output, ...rest } = options.final;
    return { ...base, ...rest, output: output === undefined ? undefined : JSON.stringify(output) };
  });
  sfnMock.on(GetExecutionHistoryCommand).callsFake((input) => {
    record('GetExecutionHistory');
    const visible = options.events.filter((e) => (e.timestamp?.getTime() ?? 0) <= clock.now());
    const ordered = input.reverseOrder ? [...visible].reverse() : visible;
    const size = input.maxResults ?? 100;
    const from = Number(input.nextToken ?? 0);
    return {
      events: ordered.slice(from, from + size),
      nextToken: from + size < ordered.length ? String(from + size) : undefined,
    };
  });
  logsMock.on(GetLogEventsCommand).callsFake((input) => {
    record('GetLogEvents');
    const entry = Object.entries(options.logs ?? {}).find(
      ([taskArn]) => logStreamName(taskArn) === input.logStreamName,
    );
    const lines = (entry?.[1] ?? []).filter((l) => l.at <= clock.now());
    if (lines.length === 0 && !input.nextToken) {
      throw Object.assign(new Error('The specified log stream does not exist.'), {
        name: 'ResourceNotFoundException',
        $metadata: { httpStatusCode: 400 },
      });
    }
    const from = input.nextToken ? Number(input.nextToken.slice(2)) : 0;
    const page = lines.slice(from, from + 2);
    return {
      events: page.map((l) => ({ timestamp: l.at, message: l.message })),
      nextForwardToken: page.length > 0 ? `f/${from + page.length}` : input.nextToken,
    };
  });
  return { calls };
}
