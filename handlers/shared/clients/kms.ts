import type * as ClientKMS from '@aws-sdk/client-kms';
import { lazyModule } from '../../../lib/lazy-module';
import { once } from './once';

const { KMSClient } = lazyModule<typeof ClientKMS>(() => require('@aws-sdk/client-kms'));

export const kmsClient = once(() => new KMSClient({}));
