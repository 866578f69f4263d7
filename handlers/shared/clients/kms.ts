import { KMSClient } from '@aws-sdk/client-kms';
import { once } from './once';

export const kmsClient = once(() => new KMSClient({}));
