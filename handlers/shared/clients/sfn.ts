import type * as ClientSFN from '@aws-sdk/client-sfn';
import { lazyModule } from '../../../lib/lazy-module';
import { once } from './once';

const { SFNClient } = lazyModule<typeof ClientSFN>(() => require('@aws-sdk/client-sfn'));

export const sfnClient = once(
  () => new SFNClient(process.env.DR_SFN_ENDPOINT ? { endpoint: process.env.DR_SFN_ENDPOINT } : {}),
);
