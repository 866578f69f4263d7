/** Where artifacts live, as the runner's and the handlers' environment says. */
export type ArtifactLocation =
  | {
      readonly kind: 's3';
      readonly bucket: string;
      readonly kmsKeyArn?: string;
      readonly region?: string;
    }
  | { readonly kind: 'folder'; readonly dir: string };

/**
 * Reads the artifact location from the environment: `DR_ARTIFACT_BUCKET` (with `DR_KMS_KEY_ARN`
 * and `AWS_REGION`) in AWS, `DR_ARTIFACT_DIR` in local mode. Returns undefined when neither is set.
 */
export function artifactLocationFromEnv(env: NodeJS.ProcessEnv): ArtifactLocation | undefined {
  if (env.DR_ARTIFACT_BUCKET)
    return {
      kind: 's3',
      bucket: env.DR_ARTIFACT_BUCKET,
      kmsKeyArn: env.DR_KMS_KEY_ARN || undefined,
      region: env.AWS_REGION || undefined,
    };
  if (env.DR_ARTIFACT_DIR) return { kind: 'folder', dir: env.DR_ARTIFACT_DIR };
  return undefined;
}
