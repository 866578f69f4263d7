import {
  ArtifactChecksumError,
  ArtifactNotFoundError,
  type ArtifactStore,
  type ArtifactVersion,
} from '../lib/artifact-store';
import { S3ArtifactStore } from '../lib/artifacts/s3-store';
import {
  artifactKeys,
  inspectPlanEventSchema,
  type PlanResult,
  planResultSchema,
} from '../lib/contracts';
import { s3Client } from './shared/clients/s3';
import { ArtifactTamperedError } from './shared/errors';
import { createLogger, type HandlerLogger, invocationLogger } from './shared/logger';
import { lambdaEntry, parsePayload } from './shared/scaffold';

/**
 * `Inspect plan`: the step between the plan task and everyone who trusts its output. The plan
 * role writes the artifacts, so nothing it wrote is taken on its word: this function, with a
 * role the plan cannot influence, checks that
 *
 * - `plan-result.json` of this run has exactly one version (no second writer, no delete marker);
 * - the plan file and plan text it names are this run's own keys (`artifactKeys(runId)`);
 * - each of them has exactly one version, and it is the recorded one;
 * - the SHA-256 S3 recorded for that version (HeadObject, checksum mode) is the recorded one.
 *
 * Only then does the plan result enter the state (`$.plan.summary`), and the approval page and
 * apply read exactly those versions and checksums. Anything else fails the run with
 * `DeployRunner.ArtifactTampered` before anyone is asked to approve.
 */

export interface InspectPlanDeps {
  readonly artifacts: Pick<ArtifactStore, 'get' | 'listVersions' | 'head'>;
  /** @default - a Powertools logger for this handler */
  readonly logger?: HandlerLogger;
}

export type InspectPlanHandler = (event: unknown) => Promise<{ summary: PlanResult }>;

export function createInspectPlanHandler(deps: InspectPlanDeps): InspectPlanHandler {
  const { artifacts } = deps;
  const logger = deps.logger ?? createLogger('inspect-plan');

  return async (event) => {
    const { runId, executionArn } = parsePayload(inspectPlanEventSchema, event, 'Inspect plan');
    const log = invocationLogger(logger, executionArn);
    const keys = artifactKeys(runId);
    const tampered = (what: string) => {
      log.error('plan artifacts refused', { runId, reason: what });
      return new ArtifactTamperedError(
        `The plan artifacts of run ${runId} are not as its runner wrote them: ${what}. Nothing was asked or applied: find out who wrote into runs/${runId}/, then start a new run.`,
      );
    };

    const versions = await artifacts.listVersions(`runs/${runId}/`);
    const onlyVersion = (key: string): string => {
      const history = versions.filter((v) => v.key === key);
      if (history.length === 0) throw tampered(`${key} has no version`);
      if (history.some((v) => v.deleteMarker))
        throw tampered(`${key} has a delete marker (it was removed after it was written)`);
      if (history.length > 1)
        throw tampered(`${key} has ${history.length} versions, but is written once`);
      return (history[0] as ArtifactVersion).versionId;
    };

    const resultVersion = onlyVersion(keys.planResult);
    const result = await readResult(keys.planResult, resultVersion, tampered);

    const files = [
      ['plan file', keys.plan, result.planKey, result.planVersionId, result.planSha256],
      [
        'plan text',
        keys.planText,
        result.planTextKey,
        result.planTextVersionId,
        result.planTextSha256,
      ],
    ] as const;
    for (const [what, ownKey, key, versionId, sha256] of files) {
      if (key !== ownKey)
        throw tampered(
          `the plan result names ${JSON.stringify(key.slice(0, 200))} as the ${what}, not this run's ${ownKey}`,
        );
      const stored = onlyVersion(key);
      if (stored !== versionId)
        throw tampered(
          `the ${what} ${key} is version ${stored}, not the recorded ${versionId.slice(0, 100)}`,
        );
      let head: Awaited<ReturnType<typeof artifacts.head>>;
      try {
        head = await artifacts.head(key, versionId);
      } catch (error) {
        if (error instanceof ArtifactNotFoundError)
          throw tampered(`the ${what} ${key} version ${versionId} is gone`);
        throw error;
      }
      if (head.sha256 === undefined)
        throw tampered(`the ${what} ${key} has no full-object SHA-256 recorded by the store`);
      if (head.sha256 !== sha256)
        throw tampered(
          `the ${what} ${key} has SHA-256 ${head.sha256}, but the plan result records ${sha256}`,
        );
    }

    log.info('plan artifacts verified', {
      runId,
      commit: result.commit,
      planVersionId: result.planVersionId,
      planSha256: result.planSha256,
      hasChanges: result.hasChanges,
    });
    return { summary: result };
  };

  async function readResult(
    key: string,
    versionId: string,
    tampered: (what: string) => Error,
  ): Promise<PlanResult> {
    let text: string;
    try {
      text = (await artifacts.get(key, versionId)).body.toString('utf8');
    } catch (error) {
      if (error instanceof ArtifactNotFoundError)
        throw tampered(`${key} version ${versionId} is gone`);
      if (error instanceof ArtifactChecksumError)
        throw tampered(`${key} does not match its stored SHA-256`);
      throw error;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw tampered(`${key} is not JSON`);
    }
    const parsed = planResultSchema.safeParse(json);
    if (!parsed.success) throw tampered(`${key} is not a valid plan result`);
    return parsed.data;
  }
}

/** Lambda entry point (`Inspect plan`). */
export const handler = lambdaEntry('inspect-plan', (settings, logger) =>
  createInspectPlanHandler({
    artifacts: new S3ArtifactStore({ bucket: settings.artifactBucket, client: s3Client() }),
    logger,
  }),
);
