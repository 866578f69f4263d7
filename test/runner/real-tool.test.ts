import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { findOnPath } from '../../containers/runner/src/tool';
import { getBundle, Sandbox } from './helpers';

/**
 * The same runner against real Terraform / OpenTofu, when installed. Only built-in resources
 * (`terraform_data`), so no provider is downloaded; state in a local backend outside the
 * checkout, so it survives between plan and apply like a remote backend would.
 */

const PATH = ['/usr/local/bin', '/usr/bin', '/bin', process.env.PATH ?? ''].join(':');

const moduleFor = (statePath: string, input: string) => `
terraform {
  backend "local" {
    path = "${statePath}"
  }
}

resource "terraform_data" "example" {
  input = "${input}"
}

output "example" {
  value = terraform_data.example.output
}
`;

describe.each(['terraform', 'tofu'] as const)('with real %s', (tool) => {
  let binary: string | undefined;
  beforeAll(async () => {
    binary = await findOnPath(tool, PATH);
    if (binary) await getBundle();
  });

  it(`plans, applies, detects a stale plan and sees no changes (skipped when ${tool} is not on PATH)`, async (ctx) => {
    if (!binary) {
      ctx.skip(`${tool} is not on PATH: the real-${tool} test is skipped`);
      return;
    }
    const sandbox = new Sandbox(await getBundle());
    const state = join(sandbox.root, 'real-state', 'terraform.tfstate');
    sandbox.repo.commit({ 'envs/dev/main.tf': moduleFor(state, 'one') });
    const env = {
      DR_TOOL_PATH: '',
      DR_ALLOWLIST: sandbox.allowlist({ tool }),
      PATH: `${sandbox.shim.binDir}:${PATH}`,
      TF_CLI_CONFIG_FILE: process.env.TF_CLI_CONFIG_FILE ?? '',
    };

    const first = await sandbox.plan('real-1', env);
    expect(first).toMatchObject({
      tool,
      toolVersion: expect.stringMatching(/^\d+\.\d+\.\d+/),
      hasChanges: true,
      counts: { add: 1, change: 0, destroy: 0, replace: 0 },
      changes: [{ address: 'terraform_data.example', actions: ['create'] }],
    });
    expect(sandbox.artifactText(first.planTextKey)).toContain(
      'terraform_data.example will be created',
    );
    // Plans that only set up the applies below, or check the summary, run the same runner code
    // in this process (still with the real tool's processes); the applies run the bundle.
    const second = await sandbox.plan('real-2', env, { inProcess: true });

    const applied = await sandbox.run({ ...env, ...sandbox.applyEnv('real-2', second) });
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    expect(sandbox.artifact('runs/real-2/apply-result.json')).toMatchObject({
      tool,
      outputs: ['example'],
    });

    const stale = await sandbox.run({ ...env, ...sandbox.applyEnv('real-1', first) });
    expect(stale.code, stale.stdout + stale.stderr).toBe(3);
    expect(stale.stderr).toContain(
      'plan is stale: state changed since it was approved, start a new run',
    );

    const again = await sandbox.plan('real-3', env, { inProcess: true });
    expect(again.hasChanges).toBe(false);
  });
});
