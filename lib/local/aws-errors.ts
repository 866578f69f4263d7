/**
 * Errors the local server returns the way AWS's JSON protocol does (`__type` + message, HTTP 400),
 * so `@aws-sdk/client-sfn` and the AWS CLI raise the same exception classes as against AWS.
 */
export class AwsApiError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly statusCode = 400,
  ) {
    super(message);
    this.name = type;
  }
}

export const apiErrors = {
  executionDoesNotExist: (arn: string) =>
    new AwsApiError('ExecutionDoesNotExist', `Execution Does Not Exist: '${arn}'`),
  stateMachineDoesNotExist: (arn: string) =>
    new AwsApiError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${arn}'`),
  invalidArn: (arn: unknown) => new AwsApiError('InvalidArn', `Invalid Arn: '${String(arn)}'`),
  invalidName: (name: string) => new AwsApiError('InvalidName', `Invalid Name: '${name}'`),
  invalidExecutionInput: (reason: string) =>
    new AwsApiError('InvalidExecutionInput', `Invalid State Machine Execution Input: '${reason}'`),
  executionAlreadyExists: (arn: string) =>
    new AwsApiError('ExecutionAlreadyExists', `Execution Already Exists: '${arn}'`),
  taskDoesNotExist: () => new AwsApiError('TaskDoesNotExist', 'Task Does Not Exist'),
  taskTimedOut: () => new AwsApiError('TaskTimedOut', 'Task Timed Out'),
  invalidToken: () => new AwsApiError('InvalidToken', 'Invalid Token'),
  invalidOutput: (reason: string) =>
    new AwsApiError('InvalidOutput', `Invalid Output: '${reason}'`),
  validation: (message: string) => new AwsApiError('ValidationException', message),
  unknownOperation: (target: string) =>
    new AwsApiError('UnknownOperationException', `Unknown operation ${target}`),
  resourceNotFound: (message: string) => new AwsApiError('ResourceNotFoundException', message),
  serialization: (message: string) => new AwsApiError('SerializationException', message),
} as const;
