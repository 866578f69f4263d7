import type { IncomingMessage, ServerResponse } from 'node:http';
import { RUNNER_LOG_GROUP_TAG } from '../contracts';
import { AwsApiError, apiErrors } from './aws-errors';
import type { LocalEngine } from './engine';
import { LOCAL_LOG_GROUP, type LocalLogService } from './log-service';

/**
 * The AWS JSON 1.0/1.1 protocol in front of the local engine and log service: `X-Amz-Target:
 * AWSStepFunctions.<Operation>` or `Logs_20140328.<Operation>`, a JSON body, `{ __type, message }`
 * errors. Requests are not signature-checked: the server listens on 127.0.0.1 only.
 */

const MAX_BODY_BYTES = 1024 * 1024;

type Operation = (body: Record<string, unknown>) => unknown;

export function awsOperations(engine: LocalEngine, logs: LocalLogService) {
  const stateMachine = () => ({
    stateMachineArn: engine.stateMachineArn,
    name: engine.stateMachineArn.split(':').at(-1),
    type: 'STANDARD',
    creationDate: engine.createdAt,
  });
  const sfn: Record<string, Operation> = {
    ListStateMachines: () => ({ stateMachines: [stateMachine()] }),
    DescribeStateMachine: (b) => {
      if (b.stateMachineArn !== engine.stateMachineArn)
        throw apiErrors.stateMachineDoesNotExist(String(b.stateMachineArn));
      return {
        ...stateMachine(),
        status: 'ACTIVE',
        definition: JSON.stringify(engine.definition),
        roleArn: engine.roleArn,
        loggingConfiguration: { level: 'ALL', includeExecutionData: true },
        tracingConfiguration: { enabled: false },
      };
    },
    // The CLI finds the runner's log group here when none is given (see lib/cli/state-machine.ts).
    ListTagsForResource: (b) => {
      if (b.resourceArn !== engine.stateMachineArn)
        throw apiErrors.stateMachineDoesNotExist(String(b.resourceArn));
      return { tags: [{ key: RUNNER_LOG_GROUP_TAG, value: LOCAL_LOG_GROUP }] };
    },
    StartExecution: (b) => engine.startExecution(b),
    DescribeExecution: (b) => engine.describeExecution(b),
    ListExecutions: (b) => engine.listExecutions(b),
    GetExecutionHistory: (b) => engine.getExecutionHistory(b),
    StopExecution: (b) => engine.stopExecution(b),
    SendTaskSuccess: (b) => engine.sendTaskSuccess(b),
    SendTaskFailure: (b) => engine.sendTaskFailure(b),
    SendTaskHeartbeat: (b) => engine.sendTaskHeartbeat(b),
  };
  const cloudWatchLogs: Record<string, Operation> = {
    GetLogEvents: (b) => logs.getLogEvents(b),
    FilterLogEvents: (b) => logs.filterLogEvents(b),
    DescribeLogStreams: (b) => logs.describeLogStreams(b),
  };
  return { AWSStepFunctions: sfn, Logs_20140328: cloudWatchLogs } as Record<
    string,
    Record<string, Operation>
  >;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw apiErrors.validation('request body is larger than 1 MiB');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Serves one AWS JSON protocol request. */
export async function serveAwsJson(
  operations: Record<string, Record<string, Operation>>,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const target = String(req.headers['x-amz-target'] ?? '');
  const [service = '', operation = ''] = target.split('.');
  const contentType = target.startsWith('Logs_')
    ? 'application/x-amz-json-1.1'
    : 'application/x-amz-json-1.0';
  try {
    const text = await readBody(req);
    const handler = operations[service]?.[operation];
    if (!handler) throw apiErrors.unknownOperation(target || '(no X-Amz-Target)');
    let body: Record<string, unknown>;
    try {
      body = text.trim() === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
    } catch {
      throw apiErrors.serialization('request body is not valid JSON');
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body))
      throw apiErrors.serialization('request body must be a JSON object');
    const result = await handler(body);
    res.writeHead(200, { 'content-type': contentType });
    res.end(JSON.stringify(result ?? {}));
  } catch (error) {
    const apiError =
      error instanceof AwsApiError
        ? error
        : new AwsApiError('InternalFailure', 'The local server failed to process the request', 500);
    if (!(error instanceof AwsApiError)) process.emitWarning(`local API error: ${String(error)}`);
    res.writeHead(apiError.statusCode, {
      'content-type': contentType,
      'x-amzn-errortype': apiError.type,
    });
    res.end(JSON.stringify({ __type: apiError.type, message: apiError.message }));
  }
}
