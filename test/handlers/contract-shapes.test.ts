import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config';
import {
  driftResultSchema,
  driftSkippedSchema,
  requestApprovalPayloadSchema,
  StateNames,
} from '../../lib/contracts';
import { type AslDefinition, synthesizeDefinition } from '../../lib/definition';
import { exampleConfig } from '../stack/helpers';
import { EXECUTION_ARN, planResult, request, TASK_TOKEN } from './support/fixtures';

/**
 * The shapes the state machine builds are the ones their readers parse: the synthesized
 * definition's payloads, with their JSONPath fields filled as Step Functions fills them, go
 * through the schemas of lib/contracts.ts.
 */

let asl: AslDefinition;
beforeAll(() => {
  ({ definition: asl } = synthesizeDefinition(parseConfig(exampleConfig())));
});

/** Step Functions' view of the state at `Request approval`, by JSONPath. */
const PATHS: Record<string, unknown> = {
  '$$.Task.Token': TASK_TOKEN,
  '$$.Execution.Id': EXECUTION_ARN,
  '$.request': request,
  '$.plan.summary': planResult(),
};

/** Fills `key.$` fields the way Step Functions does; unknown paths stay unresolved. */
function resolve(template: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(template).map(([key, value]) =>
      key.endsWith('.$') && typeof value === 'string'
        ? [key.slice(0, -2), PATHS[value] ?? `unresolved ${value}`]
        : [key, value],
    ),
  );
}

function payloadOf(stateName: string): Record<string, unknown> {
  const parameters = asl.States[stateName]?.Parameters;
  if (typeof parameters !== 'object' || parameters === null || !('Payload' in parameters))
    throw new Error(`${stateName} has no Payload`);
  const payload = parameters.Payload;
  if (typeof payload !== 'object' || payload === null) throw new Error('Payload is not an object');
  return resolve(Object.fromEntries(Object.entries(payload)));
}

describe('Request approval: the definition builds what the handler parses', () => {
  it('the synthesized payload, filled, parses with requestApprovalPayloadSchema', () => {
    const payload = payloadOf(StateNames.RequestApproval);
    expect(Object.keys(payload).sort()).toEqual(
      Object.keys(requestApprovalPayloadSchema.shape).sort(),
    );
    const parsed = requestApprovalPayloadSchema.safeParse(payload);
    expect(parsed.success ? [] : parsed.error.issues).toEqual([]);
    expect(parsed.data?.taskToken).toBe(TASK_TOKEN);
  });

  it('a field the definition would send under another name is refused', () => {
    const { plan, ...rest } = payloadOf(StateNames.RequestApproval);
    expect(requestApprovalPayloadSchema.safeParse({ ...rest, planSummary: plan }).success).toBe(
      false,
    );
  });
});

describe('Drift: record skipped writes what the CLI reads', () => {
  it('its $.drift parses as a skipped drift result', () => {
    const state = asl.States['Drift: record skipped'];
    expect(state?.ResultPath).toBe('$.drift');
    const parameters = state?.Parameters;
    if (typeof parameters !== 'object' || parameters === null) throw new Error('no Parameters');
    const filled = Object.fromEntries(
      Object.entries(parameters).map(([key, value]) =>
        key.endsWith('.$')
          ? [key.slice(0, -2), 'Drift check skipped: a formatted line']
          : [key, value],
      ),
    );
    expect(driftSkippedSchema.parse(filled)).toEqual(filled);
    expect(driftResultSchema.parse(filled)).toHaveProperty('skipped', true);
  });
});
