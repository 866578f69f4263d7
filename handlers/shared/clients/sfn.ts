import { SFNClient } from '@aws-sdk/client-sfn';
import { once } from './once';

export const sfnClient = once(
  () => new SFNClient(process.env.DR_SFN_ENDPOINT ? { endpoint: process.env.DR_SFN_ENDPOINT } : {}),
);
