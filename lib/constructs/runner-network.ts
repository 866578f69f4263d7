import { Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import type { DeployRunnerConfig } from '../config';

/** Properties of {@link RunnerNetwork}. */
export interface RunnerNetworkProps {
  /**
   * An existing VPC and the subnets the runner tasks use (imported without lookups).
   * @default - a new VPC with public subnets only and no NAT gateway
   */
  readonly network?: DeployRunnerConfig['network'];
  /**
   * A VPC of the caller's; takes precedence over `network`.
   * @default - see `network`
   */
  readonly vpc?: ec2.IVpc;
  /**
   * The subnets of `vpc` the tasks use. Tasks get a public IP only in public subnets.
   * @default - the private subnets with egress of `vpc`
   */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /** Bucket that receives the flow logs of the VPC this construct creates. */
  readonly flowLogBucket: s3.IBucket;
}

/**
 * Where the runner tasks run. Either the VPC the config names, or a new one with public subnets
 * only: no NAT gateway to pay for, tasks reach git and registries through a public IP. Either
 * way the tasks' security group admits nothing inbound.
 */
export class RunnerNetwork extends Construct {
  /** The VPC of the runner tasks. */
  readonly vpc: ec2.IVpc;
  /** The subnets the tasks are placed in. */
  readonly subnets: ec2.SubnetSelection;
  /** The tasks' security group: no inbound rules, outbound open (git, registries, AWS APIs). */
  readonly securityGroup: ec2.SecurityGroup;
  /** Whether tasks get a public IP (required in subnets without NAT). */
  readonly assignPublicIp: boolean;

  constructor(scope: Construct, id: string, props: RunnerNetworkProps) {
    super(scope, id);
    const network = props.network;
    if (props.vpc) {
      this.vpc = props.vpc;
      this.subnets = props.vpcSubnets ?? { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS };
      this.assignPublicIp = this.subnets.subnetType === ec2.SubnetType.PUBLIC;
    } else if (network) {
      // Only the VPC ID is needed (the security group's VPC); tasks go to the listed subnets.
      this.vpc = ec2.Vpc.fromVpcAttributes(this, 'Vpc', {
        vpcId: network.vpcId,
        availabilityZones: network.availabilityZones,
      });
      this.subnets = {
        subnets: network.subnetIds.map((subnetId, i) =>
          ec2.Subnet.fromSubnetId(this, `Subnet${i}`, subnetId),
        ),
      };
      this.assignPublicIp = network.assignPublicIp;
      Validations.of(this).acknowledge({
        id: 'Annotation::@aws-cdk/aws-ec2:noSubnetRouteTableId',
        reason: 'Runner tasks are only placed in these subnets; nothing reads their route tables.',
      });
    } else {
      const vpc = new ec2.Vpc(this, 'Vpc', {
        maxAzs: 2,
        natGateways: 0,
        subnetConfiguration: [{ name: 'Public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 }],
        restrictDefaultSecurityGroup: true,
      });
      vpc.addFlowLog('FlowLogs', {
        destination: ec2.FlowLogDestination.toS3(props.flowLogBucket, 'vpc-flow-logs/'),
        trafficType: ec2.FlowLogTrafficType.ALL,
      });
      this.vpc = vpc;
      this.subnets = { subnetType: ec2.SubnetType.PUBLIC };
      this.assignPublicIp = true;
    }
    this.securityGroup = new ec2.SecurityGroup(this, 'TaskSecurityGroup', {
      vpc: this.vpc,
      description: 'deploy-runner tasks: no inbound; outbound to git, registries and AWS APIs',
      allowAllOutbound: true,
    });
  }
}
