import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  TransactionCanceledException,
} from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  type DeleteCommandInput,
  DynamoDBDocumentClient,
  GetCommand,
  type GetCommandInput,
  PutCommand,
  type PutCommandInput,
  TransactWriteCommand,
  type TransactWriteCommandInput,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import type { AwsClientStub } from 'aws-sdk-client-mock';

/**
 * A small DynamoDB stand-in behind aws-sdk-client-mock: it evaluates the condition and update
 * expressions the store sends (the subset it uses: AND, comparisons, attribute_(not_)exists,
 * SET and REMOVE on nested paths), refuses unused expression names/values as DynamoDB does,
 * and cancels transactions with per-item reasons. It lets one behaviour suite run against
 * both store implementations.
 */

type Item = Record<string, unknown>;
type Names = Record<string, string> | undefined;
type Values = Record<string, unknown> | undefined;

const clone = <T>(v: T): T => (v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T));

class ValidationException extends Error {
  override readonly name = 'ValidationException';
}

function pathOf(expr: string, names: Names, used: Set<string>): string[] {
  return expr
    .trim()
    .split('.')
    .map((segment) => {
      if (segment.startsWith('#')) {
        used.add(segment);
        const name = names?.[segment];
        if (name === undefined) throw new ValidationException(`undefined name ${segment}`);
        return name;
      }
      return segment;
    });
}

function getPath(item: Item | undefined, path: string[]): unknown {
  let current: unknown = item;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Item)[key];
  }
  return current;
}

function operand(expr: string, names: Names, values: Values, used: Set<string>, item?: Item) {
  const e = expr.trim();
  if (e.startsWith(':')) {
    used.add(e);
    if (!values || !(e in values)) throw new ValidationException(`undefined value ${e}`);
    return values[e];
  }
  return getPath(item, pathOf(e, names, used));
}

function evaluate(
  condition: string,
  item: Item | undefined,
  names: Names,
  values: Values,
  used: Set<string>,
): boolean {
  // Every term is evaluated (no short circuit) so unused names/values are detected as DynamoDB does.
  const results = condition.split(/\s+AND\s+/i).map((term) => {
    const t = term.trim();
    const fn = /^attribute_(not_)?exists\((.+)\)$/.exec(t);
    if (fn) {
      const exists = getPath(item, pathOf(fn[2] as string, names, used)) !== undefined;
      return fn[1] ? !exists : exists;
    }
    const cmp = /^(.+?)\s*(=|<>|<=|>=|<|>)\s*(.+)$/.exec(t);
    if (!cmp) throw new ValidationException(`unsupported condition term: ${t}`);
    const left = operand(cmp[1] as string, names, values, used, item);
    const right = operand(cmp[3] as string, names, values, used, item);
    if (left === undefined || right === undefined) return false;
    switch (cmp[2]) {
      case '=':
        return JSON.stringify(left) === JSON.stringify(right);
      case '<>':
        return JSON.stringify(left) !== JSON.stringify(right);
      case '<':
        return (left as number) < (right as number);
      case '>':
        return (left as number) > (right as number);
      case '<=':
        return (left as number) <= (right as number);
      default:
        return (left as number) >= (right as number);
    }
  });
  return results.every(Boolean);
}

function applyUpdate(item: Item, update: string, names: Names, values: Values, used: Set<string>) {
  const parts = update
    .split(/\b(SET|REMOVE)\b/)
    .map((p) => p.trim())
    .filter(Boolean);
  for (let i = 0; i < parts.length; i += 2) {
    const keyword = parts[i];
    const body = parts[i + 1] ?? '';
    for (const clause of body.split(',')) {
      if (keyword === 'SET') {
        const [target, value] = clause.split('=') as [string, string];
        const path = pathOf(target, names, used);
        const parent = path.length > 1 ? getPath(item, path.slice(0, -1)) : item;
        if (parent === null || typeof parent !== 'object')
          throw new ValidationException(
            'The document path provided in the update expression is invalid for update',
          );
        (parent as Item)[path.at(-1) as string] = clone(operand(value, names, values, used));
      } else if (keyword === 'REMOVE') {
        const path = pathOf(clause, names, used);
        const parent = path.length > 1 ? getPath(item, path.slice(0, -1)) : item;
        if (parent && typeof parent === 'object') delete (parent as Item)[path.at(-1) as string];
      } else {
        throw new ValidationException(`unsupported update keyword ${keyword}`);
      }
    }
  }
}

function checkAllUsed(names: Names, values: Values, used: Set<string>) {
  for (const key of [...Object.keys(names ?? {}), ...Object.keys(values ?? {})])
    if (!used.has(key)) throw new ValidationException(`unused expression attribute ${key}`);
}

interface Op {
  key: string;
  check(): boolean;
  apply(): void;
}

export class FakeTable {
  readonly items = new Map<string, Item>();

  constructor(readonly tableName: string) {}

  snapshot(): string {
    return JSON.stringify([...this.items.entries()].sort(([a], [b]) => a.localeCompare(b)));
  }

  private table(name: string | undefined) {
    if (name !== this.tableName) throw new ValidationException(`unknown table ${name}`);
  }

  put(input: {
    TableName?: string;
    Item?: Item;
    ConditionExpression?: string;
    ExpressionAttributeNames?: Names;
    ExpressionAttributeValues?: Values;
  }): Op {
    this.table(input.TableName);
    const item = clone(input.Item) as Item;
    const key = item.pk as string;
    if (typeof key !== 'string') throw new ValidationException('missing key pk');
    const used = new Set<string>();
    return {
      key,
      check: () => {
        const ok = input.ConditionExpression
          ? evaluate(
              input.ConditionExpression,
              this.items.get(key),
              input.ExpressionAttributeNames,
              input.ExpressionAttributeValues,
              used,
            )
          : true;
        checkAllUsed(input.ExpressionAttributeNames, input.ExpressionAttributeValues, used);
        return ok;
      },
      apply: () => this.items.set(key, item),
    };
  }

  update(input: {
    TableName?: string;
    Key?: Item;
    UpdateExpression?: string;
    ConditionExpression?: string;
    ExpressionAttributeNames?: Names;
    ExpressionAttributeValues?: Values;
  }): Op {
    this.table(input.TableName);
    const key = input.Key?.pk as string;
    const used = new Set<string>();
    let next: Item | undefined;
    return {
      key,
      check: () => {
        const current = this.items.get(key);
        const ok = input.ConditionExpression
          ? evaluate(
              input.ConditionExpression,
              current,
              input.ExpressionAttributeNames,
              input.ExpressionAttributeValues,
              used,
            )
          : true;
        next = clone(current) ?? { pk: key };
        applyUpdate(
          next,
          input.UpdateExpression ?? '',
          input.ExpressionAttributeNames,
          input.ExpressionAttributeValues,
          used,
        );
        checkAllUsed(input.ExpressionAttributeNames, input.ExpressionAttributeValues, used);
        return ok;
      },
      apply: () => this.items.set(key, next as Item),
    };
  }

  delete(input: {
    TableName?: string;
    Key?: Item;
    ConditionExpression?: string;
    ExpressionAttributeNames?: Names;
    ExpressionAttributeValues?: Values;
  }): Op {
    this.table(input.TableName);
    const key = input.Key?.pk as string;
    const used = new Set<string>();
    return {
      key,
      check: () => {
        const ok = input.ConditionExpression
          ? evaluate(
              input.ConditionExpression,
              this.items.get(key),
              input.ExpressionAttributeNames,
              input.ExpressionAttributeValues,
              used,
            )
          : true;
        checkAllUsed(input.ExpressionAttributeNames, input.ExpressionAttributeValues, used);
        return ok;
      },
      apply: () => this.items.delete(key),
    };
  }
}

const failed = () =>
  new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} });

/** Wires the fake table behind a mocked DocumentClient. */
export function fakeDynamo(
  mock: AwsClientStub<DynamoDBDocumentClient>,
  tableName = 'deploy-runner-table',
): FakeTable {
  const table = new FakeTable(tableName);
  const single = (op: Op) => {
    if (!op.check()) throw failed();
    op.apply();
    return {};
  };
  mock.on(GetCommand).callsFake((input: GetCommandInput) => {
    if (input.TableName !== tableName) throw new ValidationException('unknown table');
    return { Item: clone(table.items.get(input.Key?.pk as string)) };
  });
  mock.on(PutCommand).callsFake((input: PutCommandInput) => single(table.put(input)));
  mock.on(UpdateCommand).callsFake((input: UpdateCommandInput) => single(table.update(input)));
  mock.on(DeleteCommand).callsFake((input: DeleteCommandInput) => single(table.delete(input)));
  mock.on(TransactWriteCommand).callsFake((input: TransactWriteCommandInput) => {
    const ops = (input.TransactItems ?? []).map((t) => {
      if (t.Put) return table.put(t.Put);
      if (t.Update) return table.update(t.Update);
      if (t.Delete) return table.delete(t.Delete);
      throw new ValidationException('unsupported transaction item');
    });
    if (new Set(ops.map((o) => o.key)).size !== ops.length)
      throw new ValidationException(
        'Transaction request cannot include multiple operations on one item',
      );
    const results = ops.map((op) => op.check());
    if (results.some((ok) => !ok))
      throw new TransactionCanceledException({
        message: 'Transaction cancelled',
        $metadata: {},
        CancellationReasons: results.map((ok) => ({
          Code: ok ? 'None' : 'ConditionalCheckFailed',
        })),
      });
    for (const op of ops) op.apply();
    return {};
  });
  return table;
}

/** A DocumentClient that never reaches AWS (mockClient intercepts its sends). */
export function testDocumentClient(): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(
    new DynamoDBClient({
      region: 'us-east-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    }),
  );
}
