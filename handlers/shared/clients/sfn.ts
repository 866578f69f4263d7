import type * as ClientSFN from '@aws-sdk/client-sfn';
import { lazyModule } from '../../../lib/lazy-module';
import { once } from './once';

const { SFNClient } = lazyModule<typeof ClientSFN>(() => require('@aws-sdk/client-sfn'));

// Local mode hands the handlers its own client; in AWS the default endpoint is the only one.
export const sfnClient = once(() => new SFNClient({}));
