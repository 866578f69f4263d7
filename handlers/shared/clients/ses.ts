import type * as ClientSESv2 from '@aws-sdk/client-sesv2';
import { lazyModule } from '../../../lib/lazy-module';
import { once } from './once';

const { SESv2Client } = lazyModule<typeof ClientSESv2>(() => require('@aws-sdk/client-sesv2'));

export const sesClient = once(() => new SESv2Client({}));
