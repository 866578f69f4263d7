import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { RUNNER_LOG_GROUP_TAG } from '../../lib/contracts';
import {
  actionsOf,
  allowedActions,
  arnOf,
  type Built,
  buildStack,
  type Draft,
  exampleConfig,
  objectsArn,
  roleStatements,
} from './helpers';

/**
 * the security properties of docs/architecture.md that live in IAM and resource settings. Each test names the
 * property; each fails when the property breaks.
 */

const STATE_MACHINE_ARN = 'arn:aws:states:eu-west-1:111111111111:stateMachine:DeployRunner';
const EXECUTIONS_ARN = 'arn:aws:states:eu-west-1:111111111111:execution:DeployRunner:*';

/** The example without the operator's own statements: what the stack itself grants. */
function withoutConfiguredStatements(): Draft {
  const config = exampleConfig();
  config.iam.plan.statements = [];
  config.iam.apply.statements = [];
  return config;
}

let built: Built;
let ids: {
  bucket: string;
  logBucket: string;
  key: string;
  table: string;
  planRole: string;
  applyRole: string;
  runnerLogs: string;
  stateMachine: string;
  ciPolicy: string;
};

beforeAll(() => {
  built = buildStack(withoutConfiguredStatements());
  const runner = built.stack.runner;
  ids = {
    bucket: built.id(runner.artifacts.bucket),
    logBucket: built.id(runner.artifacts.accessLogBucket),
    key: built.id(runner.encryptionKey),
    table: built.id(runner.table),
    planRole: built.id(runner.tasks.plan.role),
    applyRole: built.id(runner.tasks.apply.role),
    runnerLogs: built.id(runner.tasks.logGroup),
    stateMachine: built.id(runner.stateMachine),
    ciPolicy: built.id(runner.ciAccess.policy),
  };
});

describe('1. CI can start this state machine, read its executions and the runner logs; nothing else', () => {
  it('the CI policy holds exactly these statements', () => {
    const policy = built.template.toJSON().Resources[ids.ciPolicy];
    expect(policy.Type).toBe('AWS::IAM::ManagedPolicy');
    expect(policy.Properties.PolicyDocument.Statement).toEqual([
      {
        Sid: 'StartRuns',
        Effect: 'Allow',
        Action: 'states:StartExecution',
        Resource: STATE_MACHINE_ARN,
      },
      {
        Sid: 'WatchAndStopRuns',
        Effect: 'Allow',
        Action: ['states:DescribeExecution', 'states:GetExecutionHistory', 'states:StopExecution'],
        Resource: EXECUTIONS_ARN,
      },
      {
        Sid: 'DescribeTheWorkflow',
        Effect: 'Allow',
        Action: ['states:DescribeStateMachine', 'states:ListTagsForResource'],
        Resource: STATE_MACHINE_ARN,
      },
      {
        Sid: 'ReadRunnerLogs',
        Effect: 'Allow',
        Action: ['logs:DescribeLogStreams', 'logs:FilterLogEvents', 'logs:GetLogEvents'],
        Resource: arnOf(ids.runnerLogs),
      },
    ]);
  });

  it('the state machine names the runner log group in the tag the CLI reads', () => {
    const machine = Object.values(
      built.template.findResources('AWS::StepFunctions::StateMachine'),
    )[0] as { Properties: { Tags?: { Key: string; Value: unknown }[] } };
    const tag = machine.Properties.Tags?.find((t) => t.Key === RUNNER_LOG_GROUP_TAG);
    expect(tag?.Value).toEqual({ Ref: ids.runnerLogs });
  });

  it('the ARN CI may start is the state machine this stack creates', () => {
    built.template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineName: 'DeployRunner',
    });
    expect(built.stack.resolve(built.stack.runner.stateMachine.stateMachineArn)).toEqual({
      Ref: ids.stateMachine,
    });
  });

  it('the GitHub role trusts only the configured subjects, for sts.amazonaws.com, and holds only the CI policy', () => {
    const roles = built.template.findResources('AWS::IAM::Role', {
      Properties: { ManagedPolicyArns: [{ Ref: ids.ciPolicy }] },
    });
    expect(Object.keys(roles)).toHaveLength(1);
    const [roleId, role] = Object.entries(roles)[0] as [string, Draft];
    expect(role.Properties.AssumeRolePolicyDocument.Statement).toEqual([
      {
        Effect: 'Allow',
        Action: 'sts:AssumeRoleWithWebIdentity',
        Principal: {
          Federated: 'arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com',
        },
        Condition: {
          StringEquals: { 'token.actions.githubusercontent.com:aud': 'sts.amazonaws.com' },
          StringLike: {
            'token.actions.githubusercontent.com:sub': [
              'repo:acme/infra:ref:refs/heads/main',
              'repo:acme/infra:pull_request',
            ],
          },
        },
      },
    ]);
    expect(role.Properties.Policies).toBeUndefined();
    expect(roleStatements(built.template, roleId)).toEqual([]);
    built.template.resourceCountIs('AWS::IAM::OIDCProvider', 0);
    built.template.hasOutput('CiRoleArn', { Value: arnOf(roleId) });
    const created = exampleConfig();
    delete created.ci.github.oidcProviderArn;
    created.ci.github.createOidcProvider = true;
    buildStack(created).template.hasResourceProperties('AWS::IAM::OIDCProvider', {
      Url: 'https://token.actions.githubusercontent.com',
      ClientIdList: ['sts.amazonaws.com'],
    });
  });

  it('uses a given OIDC provider, and creates no role without GitHub subjects', () => {
    const given = exampleConfig();
    given.ci.github.oidcProviderArn =
      'arn:aws:iam::111111111111:oidc-provider/token.actions.githubusercontent.com';
    const withProvider = buildStack(given).template;
    withProvider.resourceCountIs('AWS::IAM::OIDCProvider', 0);
    withProvider.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [
          Match.objectLike({ Principal: { Federated: given.ci.github.oidcProviderArn } }),
        ],
      },
    });

    const noGithub = exampleConfig();
    delete noGithub.ci;
    const withoutRole = buildStack(noGithub).template;
    withoutRole.resourceCountIs('AWS::IAM::OIDCProvider', 0);
    expect(withoutRole.findOutputs('CiRoleArn')).toEqual({});
    withoutRole.hasOutput('CiPolicyArn', {});
  });

  it("the CI role's session covers a GitHub-hosted job (6 h) unless configured, up to IAM's 12 h", () => {
    const sessionOf = (template: ReturnType<typeof buildStack>['template']) =>
      Object.values(
        template.findResources('AWS::IAM::Role', {
          Properties: { Description: Match.stringLikeRegexp('^deploy-runner CI') },
        }),
      ).map(
        (r) => (r as { Properties: { MaxSessionDuration: number } }).Properties.MaxSessionDuration,
      );
    expect(sessionOf(built.template)).toEqual([6 * 3600]);
    const longer = exampleConfig();
    longer.ci.maxSessionDuration = '12h';
    expect(sessionOf(buildStack(longer).template)).toEqual([12 * 3600]);
    for (const bad of ['13h', '30m'])
      expect(() =>
        buildStack({ ...exampleConfig(), ci: { ...exampleConfig().ci, maxSessionDuration: bad } }),
      ).toThrow(/ci\.maxSessionDuration: .*between 1h and 12h/);
  });
});

describe('2. plan runs read-only; only the apply task definition carries the apply role', () => {
  it('the plan role may create its plan artifacts, only with If-None-Match, and is denied reading, listing, removing artifacts and approvals', () => {
    const statements = roleStatements(built.template, ids.planRole);
    expect(statements).toEqual([
      {
        Sid: 'PutRunArtifacts',
        Effect: 'Allow',
        Action: 's3:PutObject',
        Resource: [
          // A drift glob's list of paths (the runner's list mode runs on the plan task definition).
          objectsArn(ids.bucket, 'runs/*/drift-paths.json'),
          objectsArn(ids.bucket, 'runs/*/plan-error.json'),
          objectsArn(ids.bucket, 'runs/*/plan-result.json'),
          objectsArn(ids.bucket, 'runs/*/plan.tfplan'),
          objectsArn(ids.bucket, 'runs/*/plan.txt'),
        ],
        Condition: { Null: { 's3:if-none-match': 'false' } },
      },
      {
        Sid: 'EncryptRunArtifacts',
        Effect: 'Allow',
        Action: 'kms:GenerateDataKey',
        Resource: arnOf(ids.key),
      },
      {
        Sid: 'NeverReadArtifacts',
        Effect: 'Deny',
        Action: ['s3:GetObject', 's3:GetObjectAttributes', 's3:GetObjectVersion'],
        Resource: objectsArn(ids.bucket, '*'),
      },
      {
        Sid: 'NeverListOrRemoveArtifacts',
        Effect: 'Deny',
        Action: [
          's3:DeleteBucketPolicy',
          's3:DeleteObject',
          's3:DeleteObjectVersion',
          's3:ListBucket',
          's3:ListBucketVersions',
          's3:PutBucketPolicy',
          's3:PutBucketVersioning',
          's3:PutLifecycleConfiguration',
          's3:PutObjectAcl',
          's3:PutObjectVersionAcl',
          's3:RestoreObject',
        ],
        Resource: [arnOf(ids.bucket), objectsArn(ids.bucket, '*')],
      },
      {
        Sid: 'NeverReadApprovals',
        Effect: 'Deny',
        Action: 'dynamodb:*',
        Resource: arnOf(ids.table),
      },
    ]);
    const allowed = allowedActions(built.template, ids.planRole);
    expect(allowed.filter((a) => /^s3:Get|^s3:\*|^kms:Decrypt/.test(a))).toEqual([]);
    expect(allowed.filter((a) => /^s3:(Delete|Restore|PutObjectVersion|List)/.test(a))).toEqual([]);
  });

  it('9. the bucket denies the plan role any put without If-None-Match, whatever its own policies allow', () => {
    built.template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: ids.bucket },
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Sid: 'PlanWritesOnlyOnce',
            Effect: 'Deny',
            Principal: { AWS: '*' },
            Action: 's3:PutObject',
            Resource: objectsArn(ids.bucket, '*'),
            Condition: {
              Null: { 's3:if-none-match': 'true' },
              ArnEquals: { 'aws:PrincipalArn': arnOf(ids.planRole) },
            },
          },
        ]),
      },
    });
  });

  it('the plan role gets the read-only managed policies of the config, and nothing writable', () => {
    built.template.hasResourceProperties('AWS::IAM::Role', {
      Description: Match.stringLikeRegexp('plan task role'),
      ManagedPolicyArns: ['arn:aws:iam::aws:policy/ReadOnlyAccess'],
    });
  });

  it("the operator's statements land in their own policy on their role only", () => {
    const withStatements = buildStack(exampleConfig());
    const planRole = withStatements.id(withStatements.stack.runner.tasks.plan.role);
    const configured = withStatements.stack.runner.tasks.plan.configuredStatements;
    expect(configured).toBeDefined();
    withStatements.template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: planRole }],
      PolicyDocument: {
        Statement: [
          {
            Sid: 'TerraformStateLock',
            Effect: 'Allow',
            Action: ['s3:DeleteObject', 's3:PutObject'],
            Resource: 'arn:aws:s3:::acme-terraform-state/envs/*.tflock',
          },
        ],
      },
    });
  });

  it('the apply role reads run artifacts and writes only its own outcome', () => {
    expect(roleStatements(built.template, ids.applyRole)).toEqual([
      {
        Sid: 'ReadRunArtifacts',
        Effect: 'Allow',
        Action: ['s3:GetObject', 's3:GetObjectVersion'],
        Resource: objectsArn(ids.bucket, 'runs/*/*'),
      },
      {
        Sid: 'PutApplyOutcome',
        Effect: 'Allow',
        Action: 's3:PutObject',
        Resource: [
          objectsArn(ids.bucket, 'runs/*/apply-error.json'),
          objectsArn(ids.bucket, 'runs/*/apply-result.json'),
        ],
      },
      {
        Sid: 'UseArtifactKey',
        Effect: 'Allow',
        Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
        Resource: arnOf(ids.key),
      },
    ]);
  });

  it('the plan task definition carries the plan role, the apply task definition the apply role', () => {
    const taskDefs = built.template.findResources('AWS::ECS::TaskDefinition');
    const byRole = Object.values(taskDefs).map((t) => [
      t.Properties.Family,
      t.Properties.TaskRoleArn,
    ]);
    expect(byRole).toEqual([
      ['DeployRunner-plan', arnOf(ids.planRole)],
      ['DeployRunner-apply', arnOf(ids.applyRole)],
    ]);
  });

  it('nothing else refers to the apply role except the state machine passing it to ECS', () => {
    const resources = built.template.toJSON().Resources as Record<string, Draft>;
    const referrers = Object.entries(resources)
      .filter(([id]) => id !== ids.applyRole)
      .filter(([, r]) => JSON.stringify(r).includes(`"${ids.applyRole}"`))
      .map(([, r]) => r.Type as string)
      .sort();
    // Its own policy, its task definition, and the state machine role's iam:PassRole.
    expect(referrers).toEqual(['AWS::ECS::TaskDefinition', 'AWS::IAM::Policy', 'AWS::IAM::Policy']);
    const machineRole = built.id(built.stack.runner.stateMachine.role);
    const passRole = roleStatements(built.template, machineRole).find((s) =>
      actionsOf(s).includes('iam:PassRole'),
    );
    expect(passRole?.Resource).toContainEqual(arnOf(ids.applyRole));
  });

  it('both tasks are ARM64 Fargate tasks with one container, "runner", logging to the runner log group', () => {
    const taskDefs = Object.values(built.template.findResources('AWS::ECS::TaskDefinition'));
    expect(taskDefs).toHaveLength(2);
    for (const t of taskDefs) {
      expect(t.Properties).toMatchObject({
        RequiresCompatibilities: ['FARGATE'],
        NetworkMode: 'awsvpc',
        Cpu: '1024',
        Memory: '2048',
        RuntimePlatform: { CpuArchitecture: 'ARM64', OperatingSystemFamily: 'LINUX' },
      });
      const containers = t.Properties.ContainerDefinitions as Draft[];
      expect(containers).toHaveLength(1);
      expect(containers[0]).toMatchObject({
        Name: 'runner',
        Essential: true,
        LogConfiguration: {
          LogDriver: 'awslogs',
          Options: {
            'awslogs-group': { Ref: ids.runnerLogs },
            'awslogs-stream-prefix': 'runner',
          },
        },
        Secrets: [
          {
            Name: 'GIT_TOKEN',
            ValueFrom:
              'arn:aws:secretsmanager:eu-west-1:111111111111:secret:deploy-runner/git-token',
          },
        ],
      });
      const env = Object.fromEntries(
        (containers[0].Environment as { Name: string; Value: unknown }[]).map((e) => [
          e.Name,
          e.Value,
        ]),
      );
      expect(Object.keys(env).sort()).toEqual([
        'AWS_REGION',
        'DR_ALLOWLIST',
        'DR_ARTIFACT_BUCKET',
        'DR_KMS_KEY_ARN',
        'DR_LOG_GROUP',
        'DR_MODE',
      ]);
      expect(env.DR_MODE).toBe(t.Properties.Family === 'DeployRunner-plan' ? 'plan' : 'apply');
      expect(JSON.parse(env.DR_ALLOWLIST as string)).toEqual({
        infra: {
          url: 'https://github.com/acme/infra.git',
          allowedRefs: ['main', 'release/*'],
          planOnlyRefs: [],
          allowedPaths: ['envs/*'],
          allowCommits: true,
          tool: 'terraform',
          terragrunt: false,
        },
      });
    }
  });

  it('the runner log group is encrypted with the key and expires', () => {
    built.template.hasResourceProperties('AWS::Logs::LogGroup', {
      KmsKeyId: arnOf(ids.key),
      RetentionInDays: 90,
    });
    for (const group of Object.values(built.template.findResources('AWS::Logs::LogGroup'))) {
      expect(group.Properties.KmsKeyId).toEqual(arnOf(ids.key));
      expect(group.Properties.RetentionInDays).toBe(90);
    }
  });
});

describe('3. only the approval page answers the approval, and only for this state machine', () => {
  it("Send* task responses are allowed on this state machine's ARN, built from its name", () => {
    const page = built.id(built.stack.runner.functions.approvalPage.role);
    const statement = roleStatements(built.template, page).find((s) =>
      actionsOf(s).some((a) => a.startsWith('states:')),
    );
    expect(statement).toEqual({
      Sid: 'AnswerThisStateMachine',
      Effect: 'Allow',
      Action: ['states:SendTaskFailure', 'states:SendTaskHeartbeat', 'states:SendTaskSuccess'],
      Resource: STATE_MACHINE_ARN,
    });
  });

  it('is the same ARN without an account and region (env-agnostic stack)', () => {
    const agnostic = buildStack(withoutConfiguredStatements(), { env: undefined });
    const page = agnostic.id(agnostic.stack.runner.functions.approvalPage.role);
    const statement = roleStatements(agnostic.template, page).find((s) =>
      actionsOf(s).includes('states:SendTaskSuccess'),
    );
    expect(statement?.Resource).toEqual({
      'Fn::Join': [
        '',
        [
          'arn:',
          { Ref: 'AWS::Partition' },
          ':states:',
          { Ref: 'AWS::Region' },
          ':',
          { Ref: 'AWS::AccountId' },
          ':stateMachine:DeployRunner',
        ],
      ],
    });
    agnostic.template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineName: 'DeployRunner',
    });
  });

  it('no other role may send task responses', () => {
    const policies = Object.values(built.template.findResources('AWS::IAM::Policy'));
    const granting = policies.filter((p) =>
      (p.Properties.PolicyDocument.Statement as Draft[]).some((s) =>
        [s.Action].flat().some((a: string) => a.startsWith('states:SendTask') || a === 'states:*'),
      ),
    );
    expect(granting).toHaveLength(1);
  });

  it('the approval page has a public Function URL (capability links are the auth), and is the only one', () => {
    const page = built.id(built.stack.runner.functions.approvalPage);
    built.template.resourceCountIs('AWS::Lambda::Url', 1);
    built.template.hasResourceProperties('AWS::Lambda::Url', {
      AuthType: 'NONE',
      TargetFunctionArn: arnOf(page),
    });
  });
});

describe('each function holds only what it uses', () => {
  const xrayAndLogs = [
    'logs:CreateLogStream',
    'logs:PutLogEvents',
    'xray:PutTelemetryRecords',
    'xray:PutTraceSegments',
  ];
  const tableReadWrite = [
    'dynamodb:BatchGetItem',
    'dynamodb:BatchWriteItem',
    'dynamodb:ConditionCheckItem',
    'dynamodb:DeleteItem',
    'dynamodb:DescribeTable',
    'dynamodb:GetItem',
    'dynamodb:GetRecords',
    'dynamodb:GetShardIterator',
    'dynamodb:PutItem',
    'dynamodb:Query',
    'dynamodb:Scan',
    'dynamodb:UpdateItem',
  ];
  const actionsOfFunction = (
    name:
      | 'validateRequest'
      | 'requestApproval'
      | 'approvalPage'
      | 'notify'
      | 'cleanup'
      | 'verifyApproval'
      | 'inspectPlan',
  ) => allowedActions(built.template, built.id(built.stack.runner.functions[name].role));
  const sorted = (...lists: string[][]) => lists.flat().sort();

  it('validate-request: nothing but logs and traces', () => {
    expect(actionsOfFunction('validateRequest')).toEqual(sorted(xrayAndLogs));
  });

  it('request-approval: the table and SES from the configured identity', () => {
    expect(actionsOfFunction('requestApproval')).toEqual(
      sorted(xrayAndLogs, tableReadWrite, ['ses:SendEmail']),
    );
    const role = built.id(built.stack.runner.functions.requestApproval.role);
    const ses = roleStatements(built.template, role).find((s) => s.Action === 'ses:SendEmail');
    expect(ses?.Resource).toEqual([
      'arn:aws:ses:eu-west-1:111111111111:identity/acme.example',
      'arn:aws:ses:eu-west-1:111111111111:identity/deploy-runner@acme.example',
    ]);
  });

  it('approval-page: the table, its secret, plan text, and task responses', () => {
    expect(actionsOfFunction('approvalPage')).toEqual(
      sorted(xrayAndLogs, tableReadWrite, [
        'kms:Decrypt',
        's3:GetObject',
        's3:GetObjectVersion',
        'secretsmanager:DescribeSecret',
        'secretsmanager:GetSecretValue',
        'states:DescribeExecution',
        'states:SendTaskFailure',
        'states:SendTaskHeartbeat',
        'states:SendTaskSuccess',
      ]),
    );
    const role = built.id(built.stack.runner.functions.approvalPage.role);
    const s3 = roleStatements(built.template, role).find((s) =>
      actionsOf(s).includes('s3:GetObject'),
    );
    expect(s3?.Resource).toEqual(objectsArn(ids.bucket, 'runs/*/plan.txt'));
    const status = roleStatements(built.template, role).find((s) =>
      actionsOf(s).includes('states:DescribeExecution'),
    );
    expect(status?.Resource).toBe(EXECUTIONS_ARN);
  });

  it('verify-approval: nothing but logs and traces in IAM (the key policy lets it verify)', () => {
    expect(actionsOfFunction('verifyApproval')).toEqual(sorted(xrayAndLogs));
  });

  it('notify: SES and the runner error reports, no table', () => {
    expect(actionsOfFunction('notify')).toEqual(
      sorted(xrayAndLogs, ['kms:Decrypt', 's3:GetObject', 's3:GetObjectVersion', 'ses:SendEmail']),
    );
    const role = built.id(built.stack.runner.functions.notify.role);
    const s3 = roleStatements(built.template, role).find((s) =>
      actionsOf(s).includes('s3:GetObject'),
    );
    expect(s3?.Resource).toEqual(objectsArn(ids.bucket, 'runs/*/*-error.json'));
  });

  it('cleanup: the table only', () => {
    expect(actionsOfFunction('cleanup')).toEqual(sorted(xrayAndLogs, tableReadWrite));
  });

  it('9. inspect-plan: reads run artifacts and lists versions under runs/, writes nothing', () => {
    expect(actionsOfFunction('inspectPlan')).toEqual(
      sorted(xrayAndLogs, [
        'kms:Decrypt',
        's3:GetObject',
        's3:GetObjectVersion',
        's3:ListBucketVersions',
      ]),
    );
    const role = built.id(built.stack.runner.functions.inspectPlan.role);
    const statements = roleStatements(built.template, role);
    expect(statements.find((s) => actionsOf(s).includes('s3:GetObject'))?.Resource).toEqual(
      objectsArn(ids.bucket, 'runs/*/*'),
    );
    expect(statements.find((s) => actionsOf(s).includes('s3:ListBucketVersions'))).toMatchObject({
      Resource: arnOf(ids.bucket),
      Condition: { StringLike: { 's3:prefix': 'runs/*' } },
    });
  });

  it('9. the state machine itself reads no artifact: Inspect plan is a function', () => {
    const machineRole = built.id(built.stack.runner.stateMachine.role);
    expect(allowedActions(built.template, machineRole).filter((a) => a.startsWith('s3:'))).toEqual(
      [],
    );
  });

  it('the Slack token is readable by request-approval and notify only', () => {
    const config = withoutConfiguredStatements();
    config.notifications.slack = {
      botTokenSecretName: 'deploy-runner/slack',
      channel: 'C0123ABCD',
    };
    const slack = buildStack(config);
    const readers = Object.values(slack.template.findResources('AWS::IAM::Policy'))
      .filter((p) => JSON.stringify(p).includes('secret:deploy-runner/slack-??????'))
      .map((p) => (p.Properties.Roles as { Ref: string }[])[0]?.Ref);
    const fns = slack.stack.runner.functions;
    expect(readers.sort()).toEqual(
      [slack.id(fns.requestApproval.role), slack.id(fns.notify.role)].sort(),
    );
  });

  it('every function: Node.js 22 on ARM64, traced, tagged with its handler', () => {
    const functions = built.template.findResources('AWS::Lambda::Function', {
      Properties: { Tags: Match.arrayWith([Match.objectLike({ Key: 'deploy-runner:component' })]) },
    });
    const handlers = Object.values(functions).map(
      (f) => (f.Properties.Tags as { Key: string; Value: string }[])[0]?.Value,
    );
    expect(handlers.sort()).toEqual([
      'approval-page',
      'cleanup',
      'inspect-plan',
      'notify',
      'request-approval',
      'validate-request',
      'verify-approval',
    ]);
    for (const f of Object.values(functions)) {
      expect(f.Properties).toMatchObject({
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        TracingConfig: { Mode: 'Active' },
        Handler: 'index.handler',
      });
    }
  });
});

describe('8. only the approval page can sign a decision; Verify approval checks it before Apply', () => {
  const decisionKey = () => {
    const fns = built.stack.runner.functions;
    const resource = built.template.toJSON().Resources[built.id(fns.decisionKey)];
    return {
      resource,
      statements: resource.Properties.KeyPolicy.Statement as {
        Sid: string;
        Effect: string;
        Principal: unknown;
        Action: string | string[];
        Condition?: unknown;
      }[],
      pageRole: arnOf(built.id(fns.approvalPage.role)),
      verifyRole: arnOf(built.id(fns.verifyApproval.role)),
    };
  };

  it('is an asymmetric P-256 signing key, kept when the stack is deleted', () => {
    const { resource } = decisionKey();
    expect(resource.Properties).toMatchObject({
      KeySpec: 'ECC_NIST_P256',
      KeyUsage: 'SIGN_VERIFY',
      PendingWindowInDays: 30,
    });
    expect(resource.DeletionPolicy).toBe('Retain');
  });

  it('its policy names the page role alone for Sign, denies Sign to everyone else, and lets verify-approval verify', () => {
    const { statements, pageRole, verifyRole } = decisionKey();
    expect(statements.map((s) => s.Sid)).toEqual([
      'AccountAdministersButNeverUses',
      'OnlyTheApprovalPageSigns',
      'NobodyElseSigns',
      'VerifyApprovalVerifies',
    ]);
    const [admin, sign, deny, verify] = statements;
    expect(sign).toMatchObject({
      Effect: 'Allow',
      Principal: { AWS: pageRole },
      Action: 'kms:Sign',
    });
    expect(deny).toMatchObject({
      Effect: 'Deny',
      Principal: { AWS: '*' },
      Action: 'kms:Sign',
      Condition: { ArnNotEquals: { 'aws:PrincipalArn': pageRole } },
    });
    expect(verify).toMatchObject({
      Effect: 'Allow',
      Principal: { AWS: verifyRole },
      Action: ['kms:GetPublicKey', 'kms:Verify'],
    });
    // The account (and through it IAM) administers the key but can neither use it nor grant it.
    const adminActions = [admin?.Action].flat() as string[];
    expect(admin?.Effect).toBe('Allow');
    for (const forbidden of ['kms:Sign', 'kms:Verify', 'kms:CreateGrant', 'kms:*'])
      expect(adminActions).not.toContain(forbidden);
    expect(adminActions.filter((a) => a.includes('*'))).toEqual([]);
    const usedBy = statements
      .filter((s) => s.Effect === 'Allow' && [s.Action].flat().includes('kms:Sign'))
      .map((s) => s.Principal);
    expect(usedBy).toEqual([{ AWS: pageRole }]);
  });

  it('no IAM policy in the stack grants kms:Sign', () => {
    const policies = Object.values(built.template.toJSON().Resources as Record<string, Draft>)
      .filter((r) => ['AWS::IAM::Policy', 'AWS::IAM::ManagedPolicy'].includes(r.Type))
      .flatMap((r) => r.Properties.PolicyDocument.Statement as { Action: string | string[] }[]);
    const actions = policies.flatMap((s) => [s.Action].flat());
    expect(actions.length).toBeGreaterThan(10);
    expect(actions.filter((a) => a === 'kms:Sign' || a === 'kms:*' || a === 'kms:Sign*')).toEqual(
      [],
    );
  });

  it('the page signs and verify-approval verifies with this key', () => {
    const fns = built.stack.runner.functions;
    const keyArn = arnOf(built.id(fns.decisionKey));
    for (const fn of [fns.approvalPage, fns.verifyApproval]) {
      const props = built.template.toJSON().Resources[built.id(fn)].Properties;
      expect(props.Environment.Variables.DR_DECISION_KEY_ARN).toEqual(keyArn);
    }
  });
});

describe('6. the artifact bucket: SSE-KMS, versioned, TLS only, never public, expiring', () => {
  it('is versioned and encrypted with the customer-managed key', () => {
    const bucket = built.template.toJSON().Resources[ids.bucket];
    expect(bucket.Properties).toMatchObject({
      VersioningConfiguration: { Status: 'Enabled' },
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          {
            ServerSideEncryptionByDefault: {
              SSEAlgorithm: 'aws:kms',
              KMSMasterKeyID: arnOf(ids.key),
            },
          },
        ],
      },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      LoggingConfiguration: { DestinationBucketName: { Ref: ids.logBucket } },
    });
  });

  it('the key rotates', () => {
    built.template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
  });

  it('denies every request without TLS', () => {
    built.template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: ids.bucket },
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Effect: 'Deny',
            Principal: { AWS: '*' },
            Action: 's3:*',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            Resource: [arnOf(ids.bucket), objectsArn(ids.bucket, '*')],
          },
        ]),
      },
    });
  });

  it('expires current and noncurrent versions after artifacts.retentionDays', () => {
    const config = withoutConfiguredStatements();
    config.artifacts.retentionDays = 7;
    const short = buildStack(config);
    const bucket = short.template.toJSON().Resources[short.id(short.stack.runner.artifacts.bucket)];
    expect(bucket.Properties.LifecycleConfiguration.Rules).toEqual([
      {
        Id: 'ExpireRunArtifacts',
        Status: 'Enabled',
        ExpirationInDays: 7,
        NoncurrentVersionExpiration: { NoncurrentDays: 7 },
        AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
      },
    ]);
  });

  it('its access logs go to a bucket that is TLS only, private and expiring too', () => {
    const logs = built.template.toJSON().Resources[ids.logBucket];
    expect(logs.Properties).toMatchObject({
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, RestrictPublicBuckets: true },
      LifecycleConfiguration: { Rules: [{ ExpirationInDays: 90, Status: 'Enabled' }] },
    });
    built.template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: ids.logBucket },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
  });
});

describe('locks and approvals table', () => {
  it('has pk (S), TTL on expiresAt, point-in-time recovery, on-demand billing, encryption', () => {
    built.template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      BillingMode: 'PAY_PER_REQUEST',
      SSESpecification: { SSEEnabled: true },
    });
  });
});

describe('networking', () => {
  it('the default VPC has public subnets only, no NAT gateway, and no inbound rule anywhere', () => {
    const t = built.template;
    t.resourceCountIs('AWS::EC2::NatGateway', 0);
    t.resourceCountIs('AWS::EC2::SecurityGroupIngress', 0);
    for (const sg of Object.values(t.findResources('AWS::EC2::SecurityGroup')))
      expect(sg.Properties.SecurityGroupIngress).toBeUndefined();
    const subnets = Object.values(t.findResources('AWS::EC2::Subnet'));
    expect(subnets).toHaveLength(2);
    for (const subnet of subnets) expect(subnet.Properties.MapPublicIpOnLaunch).toBe(true);
    // The VPC's default security group is emptied too, and traffic is logged.
    t.resourceCountIs('Custom::VpcRestrictDefaultSG', 1);
    t.hasResourceProperties('AWS::EC2::FlowLog', { LogDestinationType: 's3', TrafficType: 'ALL' });
  });

  it('an existing VPC is imported without lookups and no VPC is created', () => {
    const config = withoutConfiguredStatements();
    config.network = {
      vpcId: 'vpc-0a1b2c3d4e5f60718',
      availabilityZones: ['eu-west-1a', 'eu-west-1b'],
      subnetIds: ['subnet-0a1b2c3d4e5f60718', 'subnet-0a1b2c3d4e5f60719'],
    };
    const existing = buildStack(config);
    existing.template.resourceCountIs('AWS::EC2::VPC', 0);
    existing.template.resourceCountIs('AWS::EC2::Subnet', 0);
    existing.template.hasResourceProperties('AWS::EC2::SecurityGroup', {
      VpcId: 'vpc-0a1b2c3d4e5f60718',
    });
    const missing = existing.stack.node.metadata.filter((m) => m.type === 'aws:cdk:missing');
    expect(missing).toEqual([]);
  });
});

describe('outputs', () => {
  it('names everything CI and humans need', () => {
    const outputs = Object.keys(built.template.findOutputs('*')).sort();
    expect(outputs).toEqual([
      'ApprovalBaseUrl',
      'ArtifactBucketName',
      'CiPolicyArn',
      'CiRoleArn',
      'ConsoleUrl',
      'RunnerLogGroupName',
      'StateMachineArn',
    ]);
    built.template.hasOutput('StateMachineArn', { Value: { Ref: ids.stateMachine } });
    built.template.hasOutput('CiPolicyArn', { Value: { Ref: ids.ciPolicy } });
    built.template.hasOutput('RunnerLogGroupName', { Value: { Ref: ids.runnerLogs } });
    built.template.hasOutput('ArtifactBucketName', { Value: { Ref: ids.bucket } });
    built.template.hasOutput('ConsoleUrl', {
      Value: `https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/statemachines/view/${STATE_MACHINE_ARN}`,
    });
  });
});
