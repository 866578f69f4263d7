import type * as ClientS3 from '@aws-sdk/client-s3';
import { lazyModule } from '../../../lib/lazy-module';
import { once } from './once';

const { S3Client } = lazyModule<typeof ClientS3>(() => require('@aws-sdk/client-s3'));

export const s3Client = once(() => new S3Client({}));
