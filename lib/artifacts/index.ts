import type { ArtifactStore } from '../artifact-store';
import { FolderArtifactStore } from './folder-store';
import type { ArtifactLocation } from './location';
import { S3ArtifactStore } from './s3-store';

export { ArtifactChecksumError } from '../artifact-store';
export { FolderArtifactStore, folderKeyProblem, InvalidArtifactKeyError } from './folder-store';
export { type ArtifactLocation, artifactLocationFromEnv } from './location';
export {
  BucketNotVersionedError,
  S3ArtifactStore,
  type S3ArtifactStoreProps,
} from './s3-store';

/** Creates the store for a location (see {@link artifactLocationFromEnv}). */
export function createArtifactStore(location: ArtifactLocation): ArtifactStore {
  return location.kind === 's3'
    ? new S3ArtifactStore({
        bucket: location.bucket,
        kmsKeyArn: location.kmsKeyArn,
        region: location.region,
      })
    : new FolderArtifactStore(location.dir);
}
