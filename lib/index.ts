// The public entry point: what a CDK app builds with. Local mode's helpers (lib/local,
// lib/definition) stay out, so an app never loads them.
export * from './config';
export * from './constructs/artifact-bucket';
export * from './constructs/ci-access';
export * from './constructs/deploy-runner';
export * from './constructs/runner-network';
export * from './constructs/runner-tasks';
export * from './constructs/workflow';
export * from './constructs/workflow-functions';
export * from './deploy-runner-stack';
