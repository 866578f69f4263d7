import { SESv2Client } from '@aws-sdk/client-sesv2';
import { once } from './once';

export const sesClient = once(() => new SESv2Client({}));
