/** Where artifacts live, as the runner's and the handlers' environment says. */
export type ArtifactLocation =
  | {
      readonly kind: 's3';
      readonly bucket: string;
      readonly kmsKeyArn?: string;
      readonly region?: string;
    }
  | { readonly kind: 'folder'; readonly dir: string };

/** The variables of the artifact location. */
export const ARTIFACT_ENV = {
  bucket: 'DR_ARTIFACT_BUCKET',
  kmsKeyArn: 'DR_KMS_KEY_ARN',
  region: 'AWS_REGION',
  dir: 'DR_ARTIFACT_DIR',
} as const;

/**
 * Reads the artifact location from the environment: `DR_ARTIFACT_BUCKET` (with `DR_KMS_KEY_ARN`
 * and `AWS_REGION`) in AWS, `DR_ARTIFACT_DIR` in local mode. Returns undefined when neither is set.
 */
export function artifactLocationFromEnv(env: NodeJS.ProcessEnv): ArtifactLocation | undefined {
  const bucket = env[ARTIFACT_ENV.bucket];
  if (bucket)
    return {
      kind: 's3',
      bucket,
      kmsKeyArn: env[ARTIFACT_ENV.kmsKeyArn] || undefined,
      region: env[ARTIFACT_ENV.region] || undefined,
    };
  const dir = env[ARTIFACT_ENV.dir];
  if (dir) return { kind: 'folder', dir };
  return undefined;
}

/** Writes the artifact location as `artifactLocationFromEnv` reads it. */
export function artifactLocationToEnv(location: ArtifactLocation): Record<string, string> {
  if (location.kind === 'folder') return { [ARTIFACT_ENV.dir]: location.dir };
  return {
    [ARTIFACT_ENV.bucket]: location.bucket,
    ...(location.kmsKeyArn ? { [ARTIFACT_ENV.kmsKeyArn]: location.kmsKeyArn } : {}),
    ...(location.region ? { [ARTIFACT_ENV.region]: location.region } : {}),
  };
}
