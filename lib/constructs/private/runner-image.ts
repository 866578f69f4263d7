import { IgnoreMode } from 'aws-cdk-lib';
import { type DockerImageAssetOptions, Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { PACKAGE_ROOT, RUNNER_BUILD_CONTEXT_EXCLUDE, RUNNER_DOCKERFILE } from './paths';

/**
 * How the runner image asset is built. Its hash is a fingerprint of the build context, so the
 * context is only what the Dockerfile copies: the image changes when the runner does, not when
 * the handlers, the docs or the terraform simulator (tools/terraform-sim) change.
 */
export const RUNNER_IMAGE_ASSET_OPTIONS: DockerImageAssetOptions = {
  file: RUNNER_DOCKERFILE,
  platform: Platform.LINUX_ARM64,
  ignoreMode: IgnoreMode.DOCKER,
  exclude: RUNNER_BUILD_CONTEXT_EXCLUDE,
};

/** The runner image built from `containers/runner/Dockerfile` with `root` as build context. */
export function defaultRunnerImage(root: string = PACKAGE_ROOT): ecs.ContainerImage {
  return ecs.ContainerImage.fromAsset(root, RUNNER_IMAGE_ASSET_OPTIONS);
}
