import type * as ClientDynamoDB from '@aws-sdk/client-dynamodb';
import type * as LibDynamoDB from '@aws-sdk/lib-dynamodb';
import { lazyModule } from '../../../lib/lazy-module';
import { once } from './once';

const { DynamoDBClient } = lazyModule<typeof ClientDynamoDB>(() =>
  require('@aws-sdk/client-dynamodb'),
);
const { DynamoDBDocumentClient } = lazyModule<typeof LibDynamoDB>(() =>
  require('@aws-sdk/lib-dynamodb'),
);

export const documentClient = once(() =>
  DynamoDBDocumentClient.from(new DynamoDBClient({}), {
    marshallOptions: { removeUndefinedValues: true },
  }),
);
