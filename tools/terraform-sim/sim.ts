import { createHash, randomUUID } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

/**
 * A terraform-compatible simulator, so the runner and the whole workflow can be tested on a
 * machine without Terraform, providers or cloud credentials.
 *
 * Configuration: `resources.json` in the module directory:
 * ```json
 * {
 *   "backend": { "key": "envs/dev" },
 *   "resources": [
 *     { "type": "sim_bucket", "name": "logs", "count": 1,
 *       "attributes": { "name": "logs", "password": "s3cret" },
 *       "forceNew": ["name"], "sensitive": ["password"], "createBeforeDestroy": false }
 *   ],
 *   "outputs": { "bucket": { "value": "logs", "sensitive": false } },
 *   "fail": "plan", "failMessage": "simulated provider error",
 *   "delayMs": { "plan": 0, "apply": 3000 }, "applyWaitsFor": "/tmp/go"
 * }
 * ```
 * State lives in `terraform.tfstate` beside the config, or, when `TF_SIM_STATE_DIR` is set, in
 * that folder keyed by `backend.key` (default: the module's path inside its git checkout), so it
 * survives between a plan and an apply that run in different checkouts.
 *
 * Commands: `version [-json]`, `-version`, `init`, `plan [-out=FILE] [-detailed-exitcode]`,
 * `show -json FILE`, `show [-no-color] FILE`, `apply [-auto-approve] [FILE]`, `output -json`.
 * A saved plan records the state's lineage and serial; applying it after the state changed
 * fails with Terraform's "Saved plan is stale" error.
 *
 * `TF_SIM_RECORD=<file>` appends one JSON line per invocation: `{ argv, cwd, env }`.
 * `TF_SIM_VERSION` overrides the reported version; as Terraform's, a saved plan is shown or applied
 * only by the version that made it.
 */

export interface SimIo {
  readonly argv: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly now?: () => Date;
}

type Value = unknown;
type Action = 'no-op' | 'create' | 'update' | 'delete';

interface ResourceConfig {
  readonly type: string;
  readonly name: string;
  readonly count?: number;
  readonly attributes?: Record<string, Value>;
  readonly forceNew?: readonly string[];
  readonly sensitive?: readonly string[] | boolean;
  readonly createBeforeDestroy?: boolean;
}

interface SimConfig {
  readonly backend?: { readonly key?: string };
  readonly resources?: readonly ResourceConfig[];
  readonly outputs?: Record<string, { readonly value: Value; readonly sensitive?: boolean }>;
  readonly fail?: 'init' | 'plan' | 'apply';
  readonly failMessage?: string;
  /** Milliseconds a plan or an apply takes (tests that need one in progress). */
  readonly delayMs?: { readonly plan?: number; readonly apply?: number };
  /** An apply waits (up to 2 minutes) until this file exists: a test decides when it ends. */
  readonly applyWaitsFor?: string;
}

/** Blocks like a slow provider would; the simulator is synchronous throughout. */
function delay(ms: number | undefined): void {
  if (ms && ms > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

interface Instance {
  readonly type: string;
  readonly name: string;
  readonly index?: number;
  readonly attributes: Record<string, Value>;
  readonly sensitive: readonly string[];
}

interface OutputValue {
  readonly value: Value;
  readonly sensitive: boolean;
}

interface SimState {
  readonly version: 4;
  readonly terraform_version: string;
  readonly serial: number;
  readonly lineage: string;
  readonly instances: Record<string, Instance>;
  readonly outputs: Record<string, OutputValue>;
}

interface ResourceChange {
  readonly address: string;
  readonly type: string;
  readonly name: string;
  readonly index?: number;
  readonly actions: Action[];
  readonly before: Record<string, Value> | null;
  readonly after: Record<string, Value> | null;
  readonly sensitive: readonly string[];
  readonly forcedBy: readonly string[];
}

interface OutputChange {
  readonly name: string;
  readonly actions: Action[];
  readonly before: Value;
  readonly after: Value;
  readonly sensitive: boolean;
}

interface SimPlan {
  readonly format: 'terraform-sim-plan';
  readonly formatVersion: 1;
  readonly terraformVersion: string;
  readonly createdAt: string;
  readonly stateKey: string;
  /** Lineage and serial of the state the plan was made against; null when there was none. */
  readonly priorLineage: string | null;
  readonly priorSerial: number;
  readonly planned: Record<string, Instance>;
  readonly outputs: Record<string, OutputValue>;
  readonly changes: ResourceChange[];
  readonly outputChanges: OutputChange[];
}

class SimError extends Error {}

const DEFAULT_VERSION = '1.11.0-sim';

/** Runs one simulator command; returns the exit code. */
export function runSim(io: SimIo): number {
  record(io);
  try {
    return dispatch(io);
  } catch (error) {
    if (error instanceof SimError) {
      io.stderr(`\nError: ${error.message}\n\n`);
      return 1;
    }
    throw error;
  }
}

function record(io: SimIo): void {
  const file = io.env.TF_SIM_RECORD;
  if (!file) return;
  appendFileSync(file, `${JSON.stringify({ argv: io.argv, cwd: io.cwd, env: io.env })}\n`);
}

function dispatch(io: SimIo): number {
  let args = [...io.argv];
  let cwd = io.cwd;
  while (args[0]?.startsWith('-chdir=')) {
    cwd = resolve(cwd, (args.shift() as string).slice('-chdir='.length));
  }
  const version = io.env.TF_SIM_VERSION || DEFAULT_VERSION;
  const [command, ...rest] = args;
  args = rest;
  const ctx = { ...io, cwd, version };
  switch (command) {
    case 'version':
    case '-version':
    case '--version':
      return versionCommand(ctx, args);
    case 'init':
      return initCommand(ctx, args);
    case 'plan':
      return planCommand(ctx, args);
    case 'show':
      return showCommand(ctx, args);
    case 'apply':
      return applyCommand(ctx, args);
    case 'output':
      return outputCommand(ctx, args);
    case undefined:
      io.stderr('Usage: terraform [global options] <subcommand> [args]\n');
      return 1;
    default:
      throw new SimError(`the simulator does not implement "${command}"`);
  }
}

type Ctx = SimIo & { readonly version: string };

interface Flags {
  readonly values: Map<string, string>;
  readonly positional: string[];
}

function parseFlags(args: readonly string[], known: Record<string, 'bool' | 'value'>): Flags {
  const values = new Map<string, string>();
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (!arg.startsWith('-') || arg === '-') {
      positional.push(arg);
      continue;
    }
    const body = arg.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq === -1 ? body : body.slice(0, eq);
    const kind = known[name];
    if (kind === undefined) throw new SimError(`flag provided but not defined: -${name}`);
    if (eq !== -1) values.set(name, body.slice(eq + 1));
    else if (kind === 'bool') values.set(name, 'true');
    else {
      const next = args[++i];
      if (next === undefined) throw new SimError(`flag needs an argument: -${name}`);
      values.set(name, next);
    }
  }
  return { values, positional };
}

const isTrue = (flags: Flags, name: string) => {
  const v = flags.values.get(name);
  return v !== undefined && v !== 'false';
};

// ---------------------------------------------------------------------------------------------
// Commands

function versionCommand(ctx: Ctx, args: readonly string[]): number {
  const flags = parseFlags(args, { json: 'bool' });
  if (isTrue(flags, 'json')) {
    ctx.stdout(
      `${JSON.stringify(
        {
          terraform_version: ctx.version,
          platform: `${process.platform}_${process.arch === 'x64' ? 'amd64' : process.arch}`,
          provider_selections: {},
          terraform_outdated: false,
        },
        null,
        2,
      )}\n`,
    );
  } else {
    ctx.stdout(`Terraform v${ctx.version}\non ${process.platform}_${process.arch}\n`);
  }
  return 0;
}

function initCommand(ctx: Ctx, args: readonly string[]): number {
  parseFlags(args, { input: 'value', 'no-color': 'bool', upgrade: 'bool', reconfigure: 'bool' });
  const config = loadConfig(ctx.cwd);
  ctx.stdout('\nInitializing the backend...\n\nInitializing provider plugins...\n');
  if (config.fail === 'init') throw new SimError(config.failMessage ?? 'simulated init failure');
  mkdirSync(join(ctx.cwd, '.terraform'), { recursive: true });
  writeFileSync(
    join(ctx.cwd, '.terraform', 'terraform-sim.json'),
    JSON.stringify({ initializedBy: ctx.version }),
  );
  ctx.stdout('\nTerraform has been successfully initialized!\n');
  return 0;
}

function planCommand(ctx: Ctx, args: readonly string[]): number {
  const flags = parseFlags(args, {
    input: 'value',
    'no-color': 'bool',
    out: 'value',
    'detailed-exitcode': 'bool',
    'lock-timeout': 'value',
    lock: 'value',
    refresh: 'value',
  });
  if (flags.positional.length > 0)
    throw new SimError(`unexpected argument ${JSON.stringify(flags.positional[0])}`);
  const config = loadConfig(ctx.cwd);
  requireInit(ctx.cwd);
  if (config.fail === 'plan') throw new SimError(config.failMessage ?? 'simulated plan failure');
  delay(config.delayMs?.plan);
  const { key, file } = statePath(ctx, config);
  const state = readState(file);
  const plan = makePlan(ctx, config, key, state);
  ctx.stdout(renderPlan(plan));
  const out = flags.values.get('out');
  if (out) {
    writeFileSync(resolve(ctx.cwd, out), JSON.stringify(plan));
    ctx.stdout(
      `\n─────────────────────────────────────────────────────────────────────────────\n\nSaved the plan to: ${out}\n\nTo perform exactly these actions, run the following command to apply:\n    terraform apply "${out}"\n`,
    );
  }
  return isTrue(flags, 'detailed-exitcode') && planHasChanges(plan) ? 2 : 0;
}

function showCommand(ctx: Ctx, args: readonly string[]): number {
  const flags = parseFlags(args, { json: 'bool', 'no-color': 'bool' });
  const file = flags.positional[0];
  if (!file) throw new SimError('the simulator can only show a saved plan file');
  const plan = readPlan(ctx, resolve(ctx.cwd, file));
  if (isTrue(flags, 'json')) ctx.stdout(`${JSON.stringify(planJson(plan))}\n`);
  else ctx.stdout(renderPlan(plan));
  return 0;
}

function applyCommand(ctx: Ctx, args: readonly string[]): number {
  const flags = parseFlags(args, {
    input: 'value',
    'no-color': 'bool',
    'auto-approve': 'bool',
    'lock-timeout': 'value',
    lock: 'value',
  });
  const config = loadConfig(ctx.cwd);
  requireInit(ctx.cwd);
  const { key, file } = statePath(ctx, config);
  const state = readState(file);
  let plan: SimPlan;
  const planFile = flags.positional[0];
  if (planFile) {
    plan = readPlan(ctx, resolve(ctx.cwd, planFile));
    const lineage = state?.lineage ?? null;
    const serial = state?.serial ?? 0;
    if (plan.priorLineage !== lineage || plan.priorSerial !== serial || plan.stateKey !== key) {
      throw new SimError(
        'Saved plan is stale\n\nThe given plan file can no longer be applied because the state was changed by\nanother operation after the plan was created.',
      );
    }
  } else {
    if (!isTrue(flags, 'auto-approve'))
      throw new SimError('the simulator needs -auto-approve or a saved plan file');
    plan = makePlan(ctx, config, key, state);
  }
  if (config.fail === 'apply') throw new SimError(config.failMessage ?? 'simulated apply failure');
  for (const change of plan.changes) {
    const verb = describeApplyStep(change.actions);
    if (verb) ctx.stdout(`${change.address}: ${verb}\n`);
  }
  delay(config.delayMs?.apply);
  for (let waited = 0; config.applyWaitsFor && !existsSync(config.applyWaitsFor); waited += 100) {
    if (waited > 120_000) throw new SimError(`${config.applyWaitsFor} did not appear`);
    delay(100);
  }
  const next: SimState = {
    version: 4,
    terraform_version: ctx.version,
    serial: (state?.serial ?? 0) + 1,
    lineage: state?.lineage ?? randomUUID(),
    instances: plan.planned,
    outputs: plan.outputs,
  };
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(next, null, 2));
  const c = planCounts(plan);
  ctx.stdout(
    `\nApply complete! Resources: ${c.add} added, ${c.change} changed, ${c.destroy} destroyed.\n`,
  );
  const outputs = Object.entries(plan.outputs);
  if (outputs.length > 0) {
    ctx.stdout('\nOutputs:\n\n');
    for (const [name, o] of outputs)
      ctx.stdout(`${name} = ${o.sensitive ? '<sensitive>' : formatValue(o.value)}\n`);
  }
  return 0;
}

function outputCommand(ctx: Ctx, args: readonly string[]): number {
  const flags = parseFlags(args, { json: 'bool', 'no-color': 'bool' });
  const config = loadConfig(ctx.cwd);
  const state = readState(statePath(ctx, config).file);
  const outputs = state?.outputs ?? {};
  if (isTrue(flags, 'json')) {
    ctx.stdout(
      `${JSON.stringify(
        Object.fromEntries(
          Object.entries(outputs).map(([n, o]) => [
            n,
            { sensitive: o.sensitive, type: typeof o.value, value: o.value },
          ]),
        ),
      )}\n`,
    );
  } else {
    for (const [n, o] of Object.entries(outputs))
      ctx.stdout(`${n} = ${o.sensitive ? '<sensitive>' : formatValue(o.value)}\n`);
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Config, state and plan files

function loadConfig(cwd: string): SimConfig {
  const file = join(cwd, 'resources.json');
  if (!existsSync(file))
    throw new SimError(
      `No configuration files\n\nPlan requires configuration to be present. The directory ${cwd} has no resources.json.`,
    );
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as SimConfig;
  } catch (error) {
    throw new SimError(`resources.json is not valid JSON: ${(error as Error).message}`);
  }
}

function requireInit(cwd: string): void {
  if (!existsSync(join(cwd, '.terraform', 'terraform-sim.json')))
    throw new SimError(
      'Backend initialization required, please run "terraform init"\n\nReason: the working directory has not been initialized.',
    );
}

/** Where the state lives: a folder keyed by module (TF_SIM_STATE_DIR) or beside the config. */
function statePath(ctx: Ctx, config: SimConfig): { key: string; file: string } {
  const dir = ctx.env.TF_SIM_STATE_DIR;
  const key = config.backend?.key ?? moduleKey(ctx.cwd);
  if (!dir) return { key, file: join(ctx.cwd, 'terraform.tfstate') };
  const slug = key.replace(/[^A-Za-z0-9_-]+/g, '_').slice(0, 60);
  const hash = createHash('sha256').update(key).digest('hex').slice(0, 12);
  return { key, file: join(dir, `${slug}-${hash}.tfstate`) };
}

/** The module's path inside its git checkout, or its absolute path outside one. */
function moduleKey(cwd: string): string {
  let dir = cwd;
  for (;;) {
    if (existsSync(join(dir, '.git'))) return relative(dir, cwd) || '.';
    const parent = dirname(dir);
    if (parent === dir) return cwd;
    dir = parent;
  }
}

function readState(file: string): SimState | undefined {
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, 'utf8')) as SimState;
}

function readPlan(ctx: Ctx, file: string): SimPlan {
  let plan: SimPlan;
  try {
    plan = JSON.parse(readFileSync(file, 'utf8')) as SimPlan;
  } catch (error) {
    throw new SimError(
      `Failed to load "${file}" as a plan file\n\n${(error as Error).message.split('\n')[0]}`,
    );
  }
  if (plan.format !== 'terraform-sim-plan')
    throw new SimError(`Failed to load "${file}" as a plan file: not a plan`);
  // As Terraform: a saved plan is read (shown, applied) only by the version that made it.
  if (plan.terraformVersion !== ctx.version)
    throw new SimError(
      `Failed to read plan from plan file\n\nCannot read the plan from the given plan file: plan file was created by Terraform ${plan.terraformVersion}, but this is ${ctx.version}; plan files cannot be transferred between different Terraform versions.`,
    );
  return plan;
}

// ---------------------------------------------------------------------------------------------
// Planning

function desiredInstances(config: SimConfig): Record<string, Instance> {
  const instances: Record<string, Instance> = {};
  for (const r of config.resources ?? []) {
    const sensitive =
      r.sensitive === true ? Object.keys(r.attributes ?? {}) : r.sensitive ? [...r.sensitive] : [];
    const indexes = r.count === undefined ? [undefined] : [...Array(r.count).keys()];
    for (const index of indexes) {
      const address = `${r.type}.${r.name}${index === undefined ? '' : `[${index}]`}`;
      instances[address] = {
        type: r.type,
        name: r.name,
        ...(index === undefined ? {} : { index }),
        attributes: { ...(r.attributes ?? {}) },
        sensitive,
      };
    }
  }
  return instances;
}

const same = (a: Value, b: Value) => JSON.stringify(a) === JSON.stringify(b);

function makePlan(ctx: Ctx, config: SimConfig, key: string, state?: SimState): SimPlan {
  const prior = state?.instances ?? {};
  const desired = desiredInstances(config);
  const byAddress = new Map(
    (config.resources ?? []).map((r) => [`${r.type}.${r.name}`, r] as const),
  );
  const changes: ResourceChange[] = [];
  const addresses = [...new Set([...Object.keys(prior), ...Object.keys(desired)])].sort();
  for (const address of addresses) {
    const before = prior[address];
    const after = desired[address];
    const base = (after ?? before) as Instance;
    const common = {
      address,
      type: base.type,
      name: base.name,
      ...(base.index === undefined ? {} : { index: base.index }),
      sensitive: [...new Set([...(before?.sensitive ?? []), ...(after?.sensitive ?? [])])],
    };
    if (!before) {
      changes.push({
        ...common,
        actions: ['create'],
        before: null,
        after: after?.attributes ?? {},
        forcedBy: [],
      });
    } else if (!after) {
      changes.push({
        ...common,
        actions: ['delete'],
        before: before.attributes,
        after: null,
        forcedBy: [],
      });
    } else if (same(before.attributes, after.attributes)) {
      changes.push({
        ...common,
        actions: ['no-op'],
        before: before.attributes,
        after: after.attributes,
        forcedBy: [],
      });
    } else {
      const resource = byAddress.get(`${base.type}.${base.name}`);
      const changed = Object.keys({ ...before.attributes, ...after.attributes }).filter(
        (k) => !same(before.attributes[k], after.attributes[k]),
      );
      const forcedBy = changed.filter((k) => resource?.forceNew?.includes(k));
      const actions: Action[] =
        forcedBy.length === 0
          ? ['update']
          : resource?.createBeforeDestroy
            ? ['create', 'delete']
            : ['delete', 'create'];
      changes.push({
        ...common,
        actions,
        before: before.attributes,
        after: after.attributes,
        forcedBy,
      });
    }
  }
  const outputs: Record<string, OutputValue> = Object.fromEntries(
    Object.entries(config.outputs ?? {}).map(([n, o]) => [
      n,
      { value: o.value, sensitive: o.sensitive === true },
    ]),
  );
  const priorOutputs = state?.outputs ?? {};
  const outputChanges: OutputChange[] = [];
  for (const name of [...new Set([...Object.keys(priorOutputs), ...Object.keys(outputs)])].sort()) {
    const before = priorOutputs[name];
    const after = outputs[name];
    const actions: Action[] = !before
      ? ['create']
      : !after
        ? ['delete']
        : same(before.value, after.value)
          ? ['no-op']
          : ['update'];
    outputChanges.push({
      name,
      actions,
      before: before?.value ?? null,
      after: after?.value ?? null,
      sensitive: (before?.sensitive ?? false) || (after?.sensitive ?? false),
    });
  }
  return {
    format: 'terraform-sim-plan',
    formatVersion: 1,
    terraformVersion: ctx.version,
    createdAt: (ctx.now?.() ?? new Date()).toISOString(),
    stateKey: key,
    priorLineage: state?.lineage ?? null,
    priorSerial: state?.serial ?? 0,
    planned: desired,
    outputs,
    changes,
    outputChanges,
  };
}

function planHasChanges(plan: SimPlan): boolean {
  return (
    plan.changes.some((c) => c.actions[0] !== 'no-op') ||
    plan.outputChanges.some((c) => c.actions[0] !== 'no-op')
  );
}

/** Terraform's own summary: a replacement counts as one add and one destroy. */
function planCounts(plan: SimPlan): { add: number; change: number; destroy: number } {
  let add = 0;
  let change = 0;
  let destroy = 0;
  for (const c of plan.changes) {
    if (c.actions.includes('create')) add++;
    if (c.actions.includes('delete')) destroy++;
    if (c.actions.includes('update')) change++;
  }
  return { add, change, destroy };
}

// ---------------------------------------------------------------------------------------------
// Rendering: `show -json` in Terraform's documented format, and the human-readable plan

const sensitiveMap = (attrs: Record<string, Value> | null, sensitive: readonly string[]) =>
  attrs === null
    ? false
    : Object.fromEntries(sensitive.filter((k) => k in attrs).map((k) => [k, true]));

function planJson(plan: SimPlan): Record<string, unknown> {
  return {
    format_version: '1.2',
    terraform_version: plan.terraformVersion,
    planned_values: {
      outputs: Object.fromEntries(
        Object.entries(plan.outputs).map(([n, o]) => [
          n,
          { sensitive: o.sensitive, value: o.value },
        ]),
      ),
      root_module: {
        resources: Object.entries(plan.planned).map(([address, i]) => ({
          address,
          mode: 'managed',
          type: i.type,
          name: i.name,
          ...(i.index === undefined ? {} : { index: i.index }),
          provider_name: 'registry.terraform.io/hashicorp/sim',
          schema_version: 0,
          values: i.attributes,
          sensitive_values: sensitiveMap(i.attributes, i.sensitive),
        })),
      },
    },
    resource_changes: plan.changes.map((c) => ({
      address: c.address,
      mode: 'managed',
      type: c.type,
      name: c.name,
      ...(c.index === undefined ? {} : { index: c.index }),
      provider_name: 'registry.terraform.io/hashicorp/sim',
      change: {
        actions: c.actions,
        before: c.before,
        after: c.after,
        after_unknown: {},
        before_sensitive: sensitiveMap(c.before, c.sensitive),
        after_sensitive: sensitiveMap(c.after, c.sensitive),
        ...(c.forcedBy.length > 0 ? { replace_paths: c.forcedBy.map((k) => [k]) } : {}),
      },
      ...(c.forcedBy.length > 0 ? { action_reason: 'replace_because_cannot_update' } : {}),
    })),
    output_changes: Object.fromEntries(
      plan.outputChanges.map((o) => [
        o.name,
        {
          actions: o.actions,
          before: o.before,
          after: o.after,
          after_unknown: false,
          before_sensitive: o.sensitive,
          after_sensitive: o.sensitive,
        },
      ]),
    ),
    configuration: { root_module: {} },
    timestamp: plan.createdAt,
    applyable: planHasChanges(plan),
    complete: true,
    errored: false,
  };
}

function formatValue(value: Value): string {
  return JSON.stringify(value) ?? 'null';
}

const HEADLINES: Record<string, string> = {
  create: 'will be created',
  update: 'will be updated in-place',
  delete: 'will be destroyed',
  'delete,create': 'must be replaced',
  'create,delete': 'must be replaced',
};
const SYMBOLS: Record<string, string> = {
  create: '  +',
  update: '  ~',
  delete: '  -',
  'delete,create': '-/+',
  'create,delete': '+/-',
};

function renderPlan(plan: SimPlan): string {
  const changes = plan.changes.filter((c) => c.actions[0] !== 'no-op');
  const outputChanges = plan.outputChanges.filter((o) => o.actions[0] !== 'no-op');
  if (changes.length === 0 && outputChanges.length === 0)
    return '\nNo changes. Your infrastructure matches the configuration.\n\nTerraform has compared your real infrastructure against your configuration\nand found no differences, so no changes are needed.\n';
  const lines: string[] = [''];
  if (changes.length > 0) {
    const used = new Set(changes.map((c) => c.actions.join(',')));
    lines.push(
      'Terraform used the selected providers to generate the following execution',
      'plan. Resource actions are indicated with the following symbols:',
    );
    if (used.has('create')) lines.push('  + create');
    if (used.has('update')) lines.push('  ~ update in-place');
    if (used.has('delete')) lines.push('  - destroy');
    if (used.has('delete,create')) lines.push('-/+ destroy and then create replacement');
    if (used.has('create,delete')) lines.push('+/- create replacement and then destroy');
    lines.push('', 'Terraform will perform the following actions:', '');
    for (const c of changes) {
      const key = c.actions.join(',');
      lines.push(`  # ${c.address} ${HEADLINES[key]}`);
      lines.push(`${SYMBOLS[key]} resource "${c.type}" "${c.name}" {`);
      const keys = Object.keys({ ...(c.before ?? {}), ...(c.after ?? {}) }).sort();
      const width = Math.max(0, ...keys.map((k) => k.length));
      for (const k of keys) {
        const shown = (v: Value) =>
          c.sensitive.includes(k) ? '(sensitive value)' : formatValue(v);
        const name = k.padEnd(width);
        const b = c.before?.[k];
        const a = c.after?.[k];
        if (c.before === null) lines.push(`      + ${name} = ${shown(a)}`);
        else if (c.after === null) lines.push(`      - ${name} = ${shown(b)} -> null`);
        else if (same(a, b)) lines.push(`        ${name} = ${shown(a)}`);
        else if (b === undefined) lines.push(`      + ${name} = ${shown(a)}`);
        else if (a === undefined) lines.push(`      - ${name} = ${shown(b)} -> null`);
        else
          lines.push(
            `      ~ ${name} = ${shown(b)} -> ${shown(a)}${c.forcedBy.includes(k) ? ' # forces replacement' : ''}`,
          );
      }
      lines.push('    }', '');
    }
    const n = planCounts(plan);
    lines.push(`Plan: ${n.add} to add, ${n.change} to change, ${n.destroy} to destroy.`);
  }
  if (outputChanges.length > 0) {
    lines.push('', 'Changes to Outputs:');
    for (const o of outputChanges) {
      const shown = (v: Value) => (o.sensitive ? '(sensitive value)' : formatValue(v));
      if (o.actions[0] === 'create') lines.push(`  + ${o.name} = ${shown(o.after)}`);
      else if (o.actions[0] === 'delete') lines.push(`  - ${o.name} = ${shown(o.before)} -> null`);
      else lines.push(`  ~ ${o.name} = ${shown(o.before)} -> ${shown(o.after)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

function describeApplyStep(actions: readonly Action[]): string | undefined {
  switch (actions.join(',')) {
    case 'create':
      return 'Creation complete';
    case 'update':
      return 'Modifications complete';
    case 'delete':
      return 'Destruction complete';
    case 'delete,create':
    case 'create,delete':
      return 'Replacement complete';
    default:
      return undefined;
  }
}
