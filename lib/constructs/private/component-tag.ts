import { Tags } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * Tag naming the part of deploy-runner a resource plays. `lib/definition.ts` uses it to map the
 * references in the state machine definition to the contract's placeholders, and operators use
 * it to find a handler's function in the console.
 */
export const COMPONENT_TAG = 'deploy-runner:component';

/** The components the state machine definition refers to. */
export type Component =
  | 'validate-request'
  | 'request-approval'
  | 'approval-page'
  | 'notify'
  | 'cleanup'
  | 'verify-approval'
  | 'inspect-plan'
  | 'plan-task'
  | 'apply-task'
  | 'cluster'
  | 'table'
  | 'artifacts'
  | 'workflow';

/** Tags only the resource of `resourceType` under `scope` (not its role, log group, ...). */
export function tagComponent(scope: IConstruct, component: Component, resourceType: string): void {
  Tags.of(scope).add(COMPONENT_TAG, component, { includeResourceTypes: [resourceType] });
}
