import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type * as ClientLogs from '@aws-sdk/client-cloudwatch-logs';
import type { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { SFNClient } from '@aws-sdk/client-sfn';
import { lazyModule } from '../lazy-module';
import { regionOfArn } from './console-url';

// Only commands that read the runner's logs load the Logs client (see createClients).
const { CloudWatchLogsClient: LogsClient } = lazyModule<typeof ClientLogs>(() =>
  require('@aws-sdk/client-cloudwatch-logs'),
);

type Env = Readonly<Record<string, string | undefined>>;

/** Which Step Functions the CLI talks to: AWS in `region`, or local mode at `endpoint`. */
export interface AwsTarget {
  readonly region: string;
  /** Local mode's server (same JSON protocol, on 127.0.0.1). @default - AWS */
  readonly endpoint?: string;
}

/**
 * The region: `--region`, else the one in the ARN being used (calling another region with it
 * would fail anyway), else AWS_REGION / AWS_DEFAULT_REGION, else us-east-1 (local mode's).
 */
export function resolveTarget(
  options: { region?: string; endpoint?: string; arn?: string },
  env: Env,
): AwsTarget {
  const region =
    options.region ??
    regionOfArn(options.arn) ??
    env.AWS_REGION ??
    env.AWS_DEFAULT_REGION ??
    'us-east-1';
  const endpoint = options.endpoint ?? (env.DEPLOY_RUNNER_ENDPOINT || undefined);
  return endpoint ? { region, endpoint } : { region };
}

/** Whether anything the SDK's default credential chain reads is present (without calling it). */
export function credentialsConfigured(env: Env, home = homedir()): boolean {
  const variables = [
    'AWS_ACCESS_KEY_ID',
    'AWS_PROFILE',
    'AWS_WEB_IDENTITY_TOKEN_FILE',
    'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
    'AWS_CONTAINER_CREDENTIALS_FULL_URI',
  ];
  if (variables.some((name) => env[name])) return true;
  const files = [
    env.AWS_SHARED_CREDENTIALS_FILE ?? join(home, '.aws', 'credentials'),
    env.AWS_CONFIG_FILE ?? join(home, '.aws', 'config'),
  ];
  return files.some((file) => existsSync(file));
}

/** The SDK clients every command uses, created once per process (`logs` at its first use). */
export interface Clients {
  readonly sfn: SFNClient;
  readonly logs: CloudWatchLogsClient;
}

/**
 * Creates the clients. The SDK's retries are off: ApiPacer retries, so it can keep the call
 * rate under one per second. Local mode does not check signatures, but the SDK refuses to send
 * unsigned requests, so without configured credentials it signs with a dummy key.
 */
export function createClients(target: AwsTarget, env: Env): Clients {
  const config = {
    region: target.region,
    maxAttempts: 1,
    ...(target.endpoint ? { endpoint: target.endpoint } : {}),
    ...(target.endpoint && !credentialsConfigured(env)
      ? { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }
      : {}),
  };
  // status, list and a start without --wait never read logs: requiring the Logs client package
  // is about a tenth of their CPU, so it is created (and loaded) when first asked for.
  let logs: CloudWatchLogsClient | undefined;
  return {
    sfn: new SFNClient(config),
    get logs() {
      logs ??= new LogsClient(config);
      return logs;
    },
  };
}
