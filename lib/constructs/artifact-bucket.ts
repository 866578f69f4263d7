import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { PLAN_ARTIFACT_NAMES } from '../contracts';
import { tagComponent } from './private/component-tag';

/** The condition key of S3's `If-None-Match` header: present only on a conditional (create-only) put. */
const IF_NONE_MATCH = 's3:if-none-match';

/** What a plan writes under `runs/<runId>/` (artifactKeys in lib/contracts.ts). */
const PLAN_ARTIFACTS = PLAN_ARTIFACT_NAMES;

/** Bucket and object actions the plan role must never have, whatever its other policies say. */
const PLAN_DENIED_BUCKET_ACTIONS = [
  's3:ListBucket',
  's3:ListBucketVersions',
  's3:DeleteObject',
  's3:DeleteObjectVersion',
  's3:RestoreObject',
  's3:PutObjectAcl',
  's3:PutObjectVersionAcl',
  's3:PutBucketPolicy',
  's3:DeleteBucketPolicy',
  's3:PutBucketVersioning',
  's3:PutLifecycleConfiguration',
];

/** Properties of {@link ArtifactBucket}. */
export interface ArtifactBucketProps {
  /** Customer-managed key that encrypts every artifact (SSE-KMS). */
  readonly encryptionKey: kms.IKey;
  /** How long artifacts (current and noncurrent versions) are kept. */
  readonly retention: Duration;
  /** How long server access logs (and VPC flow logs) are kept. */
  readonly accessLogRetention: Duration;
  /**
   * What happens to both buckets when the stack is deleted. `DESTROY` fails on a bucket that
   * still holds objects: empty it first.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * Where runs keep their artifacts (`runs/<runId>/...`): plan files, plan text, plan results and
 * error reports. Versioned, so a reader pins the exact version the runner wrote; encrypted with
 * the customer-managed key; TLS only; never public; expired after the retention period.
 *
 * Access is by purpose, never blanket: the plan role may only create its plan artifacts, once;
 * the apply role may only get (and put its own result); readers get exactly the keys they show.
 */
export class ArtifactBucket extends Construct {
  /** The artifact bucket. */
  readonly bucket: s3.Bucket;
  /** Receives the artifact bucket's server access logs (and the default VPC's flow logs). */
  readonly accessLogBucket: s3.Bucket;
  private readonly encryptionKey: kms.IKey;

  constructor(scope: Construct, id: string, props: ArtifactBucketProps) {
    super(scope, id);
    this.encryptionKey = props.encryptionKey;

    // Access-log delivery only supports SSE-S3 destinations, hence a second, S3-managed bucket.
    this.accessLogBucket = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      // Object ownership left to CDK: it depends on whether log delivery is granted by bucket
      // policy (the cdk.json default) or by ACL (apps without that feature flag).
      lifecycleRules: [{ id: 'ExpireLogs', expiration: props.accessLogRetention }],
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });

    this.bucket = new s3.Bucket(this, 'Bucket', {
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: props.encryptionKey,
      bucketKeyEnabled: true,
      versioned: true,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: this.accessLogBucket,
      serverAccessLogsPrefix: 'artifact-bucket/',
      lifecycleRules: [
        {
          id: 'ExpireRunArtifacts',
          expiration: props.retention,
          noncurrentVersionExpiration: props.retention,
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
      ],
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    tagComponent(this.bucket, 'artifacts', 'AWS::S3::Bucket');
  }

  /** ARN pattern of the objects of every run that match `pattern` (e.g. `plan.txt`). */
  runObjectsArn(pattern: string): string {
    return this.bucket.arnForObjects(`runs/*/${pattern}`);
  }

  /**
   * The plan role: it may create its run's plan artifacts, once, and nothing else. Reads are
   * denied outright, because read-only managed policies (ReadOnlyAccess) include `s3:GetObject`
   * on `*`.
   *
   * Write-once is enforced twice: the role's own allow requires `If-None-Match` (a conditional
   * put can only create a key, never replace one), and the bucket policy denies this role any
   * put without it, so an operator's broader statement (`s3:*`) cannot lift the rule either.
   * Listing, deleting and restoring are denied for the same reason: a plan may not find, hide
   * or replace another run's artifacts.
   */
  grantPlanWriter(role: iam.IRole): void {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'PutRunArtifacts',
        actions: ['s3:PutObject'],
        resources: PLAN_ARTIFACTS.map((name) => this.runObjectsArn(name)),
        conditions: { Null: { [IF_NONE_MATCH]: 'false' } },
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'EncryptRunArtifacts',
        actions: ['kms:GenerateDataKey'],
        resources: [this.encryptionKey.keyArn],
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'NeverReadArtifacts',
        effect: iam.Effect.DENY,
        actions: ['s3:GetObject', 's3:GetObjectVersion', 's3:GetObjectAttributes'],
        resources: [this.bucket.arnForObjects('*')],
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'NeverListOrRemoveArtifacts',
        effect: iam.Effect.DENY,
        actions: PLAN_DENIED_BUCKET_ACTIONS,
        resources: [this.bucket.bucketArn, this.bucket.arnForObjects('*')],
      }),
    );
    this.bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'PlanWritesOnlyOnce',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:PutObject'],
        resources: [this.bucket.arnForObjects('*')],
        conditions: {
          Null: { [IF_NONE_MATCH]: 'true' },
          ArnEquals: { 'aws:PrincipalArn': role.roleArn },
        },
      }),
    );
  }

  /** The apply role: it reads run artifacts and writes its own result or error report. */
  grantApplyReader(role: iam.IRole): void {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ReadRunArtifacts',
        actions: ['s3:GetObject', 's3:GetObjectVersion'],
        resources: [this.runObjectsArn('*')],
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'PutApplyOutcome',
        actions: ['s3:PutObject'],
        resources: [
          this.runObjectsArn('apply-result.json'),
          this.runObjectsArn('apply-error.json'),
        ],
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'UseArtifactKey',
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: [this.encryptionKey.keyArn],
      }),
    );
  }

  /**
   * `Inspect plan`: read any version of run objects, with the checksums S3 recorded, and list the
   * versions under `runs/`; nothing else, and no write of any kind.
   */
  grantInspectPlan(grantee: iam.IGrantable): iam.Grant {
    return this.grantReadRunObjects(grantee, '*').combine(
      iam.Grant.addToPrincipal({
        grantee,
        actions: ['s3:ListBucketVersions'],
        resourceArns: [this.bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': 'runs/*' } },
      }),
    );
  }

  /** Read (any version of) the run objects matching `pattern`, and decrypt them. */
  grantReadRunObjects(grantee: iam.IGrantable, pattern: string): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:GetObject', 's3:GetObjectVersion'],
      resourceArns: [this.runObjectsArn(pattern)],
    }).combine(this.encryptionKey.grantDecrypt(grantee));
  }
}
