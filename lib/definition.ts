import { createHash } from 'node:crypto';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { format } from 'node:util';
import { App, type Stack, Stage } from 'aws-cdk-lib';
import type { DeployRunnerConfig } from './config';
import { COMPONENT_TAG } from './constructs/private/component-tag';
import { PACKAGE_ROOT } from './constructs/private/paths';
import { DeployRunnerStack } from './deploy-runner-stack';

/**
 * The state machine definition as plain ASL JSON, for local mode and tests: the definition the
 * stack deploys, with every CloudFormation reference replaced by a fixed placeholder.
 */

/** One state of an ASL definition. */
export interface AslState {
  readonly Type: string;
  readonly [field: string]: unknown;
}

/** An Amazon States Language definition (JSONPath). */
export interface AslDefinition {
  readonly Comment?: string;
  readonly StartAt: string;
  readonly States: Readonly<Record<string, AslState>>;
  readonly TimeoutSeconds?: number;
  readonly [field: string]: unknown;
}

export interface SynthesizedDefinition {
  readonly definition: AslDefinition;
  /** The state machine's physical name. */
  readonly stateMachineName: string;
  /** The template it came from: local mode reads the functions' and tasks' environments there. */
  readonly template: CfnTemplate;
}

/** Environment variables of each function and runner task, references resolved. */
export interface SynthesizedEnvironments {
  /** By the function's component tag (`validate-request`, `approval-page`, ...). */
  readonly functions: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /** The runner container's environment, by task definition ARN (its placeholder). */
  readonly tasks: Readonly<Record<string, Readonly<Record<string, string>>>>;
}

/**
 * What local mode has in place of a resource whose reference an environment holds; anything not
 * named here resolves to its placeholder (for example the table and bucket names, which the
 * local store and artifact folder stand behind).
 */
export interface LocalEquivalents {
  /** The approval page's Function URL (`AWS::Lambda::Url` `FunctionUrl`), ending in "/". */
  readonly functionUrl?: string;
  /** The runner's log group (`AWS::Logs::LogGroup`). */
  readonly logGroup?: string;
}

const REGION = 'us-east-1';
const ACCOUNT = '123456789012';

/**
 * The placeholders of docs/workflow-contract.md ("Placeholder ASL"), and the ones this module
 * adds for the other resources the definition names.
 */
export const PLACEHOLDERS = {
  region: REGION,
  account: ACCOUNT,
  /** `arn:aws:lambda:us-east-1:123456789012:function:deploy-runner-<handler>`. */
  lambdaArn: (handler: string) =>
    `arn:aws:lambda:${REGION}:${ACCOUNT}:function:deploy-runner-${handler}`,
  tableName: 'deploy-runner-table',
  bucketName: 'deploy-runner-artifacts',
  clusterArn: `arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/deploy-runner`,
  /** `arn:aws:ecs:us-east-1:123456789012:task-definition/deploy-runner-<plan|apply>:1`. */
  taskDefinitionArn: (mode: 'plan' | 'apply') =>
    `arn:aws:ecs:${REGION}:${ACCOUNT}:task-definition/deploy-runner-${mode}:1`,
  securityGroupId: 'sg-00000000000000000',
  subnetId: (index: number) => `subnet-${String(index).padStart(17, '0')}`,
  keyId: '00000000-0000-0000-0000-000000000000',
  keyArn: `arn:aws:kms:${REGION}:${ACCOUNT}:key/00000000-0000-0000-0000-000000000000`,
  /** A Secrets Manager secret the stack creates, by logical ID. */
  secretArn: (logicalId: string) =>
    `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${logicalId}-AbCdEf`,
  functionUrl: 'https://approval-page.lambda-url.us-east-1.on.aws/',
  logGroup: 'deploy-runner-runner-logs',
} as const;

/** The feature flags of `cdk.json`, so in-memory apps synthesize what `cdk synth` does. */
export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'cdk.json'), 'utf8')) as {
    context?: Record<string, unknown>;
  };
  return { ...cdkJson.context };
}

/** App context that skips asset bundling and staging: for definitions and tests, never deploys. */
export const NO_ASSETS_CONTEXT = {
  'aws:cdk:bundling-stacks': [],
  'aws:cdk:disable-asset-staging': true,
} as const;

/** Syntheses by their key, with the shape's stand-ins (see `templateShape`). */
const synthesized = new Map<string, Synthesis>();

export interface SynthesizeOptions {
  readonly stackName?: string;
  /**
   * Whether a template already synthesized for the same shape (in this process, or in
   * node_modules/.cache) may be reused. `false` always synthesizes (tests that prove the
   * reuse exact). @default true
   */
  readonly reuse?: boolean;
}

/**
 * Builds the stack for `config` in memory (no bundling, no Docker, no AWS calls) and returns its
 * state machine definition with placeholders.
 *
 * Synthesis is most of a local-mode start's CPU (CDK's modules, then the constructs), and its
 * result depends only on the config, the stack name and the code: it is remembered within the
 * process and in `node_modules/.cache/deploy-runner`, keyed by the config's shape and a digest of
 * every input the synthesis reads (`sourceDigest`). A config's `file://` repo paths (the e2e
 * harnesses' temporary folders) are not part of the key: they reach the template only as
 * literal text, so the template synthesized for a same-length stand-in path is the template of
 * the real path with the stand-in replaced (test/stack/definition-reuse.test.ts proves it).
 * What synthesis printed (CDK's warnings about the config) is kept too and printed again.
 */
export function synthesizeDefinition(
  config: DeployRunnerConfig,
  options: SynthesizeOptions = {},
): SynthesizedDefinition {
  const stackName = options.stackName ?? 'DeployRunner';
  if (options.reuse === false) return definitionFromTemplate(synthesizeSpeaking(config, stackName));
  const shape = templateShape(config);
  const put = (text: string) =>
    shape.substitutions.reduce((t, [standIn, value]) => t.replaceAll(standIn, value), text);
  const key = JSON.stringify([stackName, shape.config]);
  const known = synthesized.get(key);
  // Within a process a synthesis speaks once, as it did when this memo held whole definitions.
  if (known) return definitionFromTemplate(JSON.parse(put(known.template)) as CfnTemplate);
  let synthesis = readCachedSynthesis(key);
  if (synthesis === undefined) {
    const run = synthesizeCapturing(shape.config, stackName);
    if ('thrown' in run) {
      // A failure is not kept: the real config fails with its own words.
      if (shape.substitutions.length > 0)
        return definitionFromTemplate(synthesizeSpeaking(config, stackName));
      for (const line of run.said) console.error(line);
      throw run.thrown;
    }
    synthesis = run.synthesis;
    writeCachedSynthesis(key, synthesis);
  }
  synthesized.set(key, synthesis);
  // What synthesis printed (CDK's annotations: warnings about the config) is said again.
  for (const line of synthesis.said) console.error(put(line));
  if (synthesis.exitCode !== undefined) process.exitCode = synthesis.exitCode;
  return definitionFromTemplate(JSON.parse(put(synthesis.template)) as CfnTemplate);
}

/** A synthesis as kept: the template's JSON, and what it printed and set as exit code. */
interface Synthesis {
  readonly template: string;
  readonly said: readonly string[];
  readonly exitCode?: number | string;
}

/** Tests: forget the templates remembered in this process (the cache files stay). */
export function forgetSynthesizedDefinitions(): void {
  synthesized.clear();
}

/** Tests: the cache file that holds (or would hold) the template of `config`. */
export function templateCacheFile(config: DeployRunnerConfig, stackName = 'DeployRunner'): string {
  return cacheFile(JSON.stringify([stackName, templateShape(config).config]));
}

/** A `file://` path made of these characters is copied into the template as is, JSON or not. */
const PLAIN_PATH = /^\/[A-Za-z0-9._/-]+$/;

/**
 * The config with each repo's `file://` path replaced by a stand-in of the same length and the
 * same plain characters, and the replacements to undo in the template. The stand-in keeps every
 * property synthesis could look at (scheme, length, the characters' JSON escaping), so only
 * the path text differs.
 */
export function templateShape(config: DeployRunnerConfig): {
  readonly config: DeployRunnerConfig;
  readonly substitutions: readonly (readonly [string, string])[];
} {
  const substitutions: [string, string][] = [];
  const repos = Object.fromEntries(
    Object.entries(config.repos).map(([name, repo], index) => {
      const local = repo.url.startsWith('file://') ? repo.url.slice('file://'.length) : '';
      const mark = `/~dr-path-${index}~`;
      if (!PLAIN_PATH.test(local) || local.length < mark.length + 2) return [name, repo];
      const standIn = `${mark.padEnd(local.length - 1, 'Q')}~`;
      substitutions.push([standIn, local]);
      return [name, { ...repo, url: `file://${standIn}` }];
    }),
  );
  if (substitutions.length === 0) return { config, substitutions };
  return { config: { ...config, repos }, substitutions };
}

/**
 * Synthesizes the stack holding back what synthesis prints (CDK reports annotations with
 * console.error) and the exit code it sets, to keep them with the template.
 */
function synthesizeCapturing(
  config: DeployRunnerConfig,
  stackName: string,
): { synthesis: Synthesis } | { thrown: unknown; said: string[] } {
  const error = console.error;
  const before = process.exitCode;
  const said: string[] = [];
  console.error = (...args: unknown[]) => {
    said.push(format(...args));
  };
  let after: typeof before;
  const outdir = mkdtempSync(path.join(tmpdir(), 'deploy-runner-asl-'));
  // CDK ends a validation report with where it saved a copy: in `outdir`, removed below. Said
  // again from the cache, or read after this returns, it would point at a file that is gone.
  // CDK writes the path absolute or relative to the working folder: the folder's own name, made
  // unique by mkdtemp, is in both.
  const kept = () => said.map((text) => withoutLinesNaming(text, path.basename(outdir)));
  try {
    const template = JSON.stringify(synthesizeTemplate(config, stackName, outdir));
    after = process.exitCode;
    return { synthesis: { template, said: kept(), ...(after !== before && { exitCode: after }) } };
  } catch (thrown) {
    return { thrown, said: kept() };
  } finally {
    console.error = error;
    process.exitCode = before;
    rmSync(outdir, { recursive: true, force: true });
  }
}

/** Synthesizes the stack, saying what synthesis said and setting the exit code it set. */
function synthesizeSpeaking(config: DeployRunnerConfig, stackName: string): CfnTemplate {
  const run = synthesizeCapturing(config, stackName);
  const said = 'thrown' in run ? run.said : run.synthesis.said;
  for (const line of said) console.error(line);
  if ('thrown' in run) throw run.thrown;
  if (run.synthesis.exitCode !== undefined) process.exitCode = run.synthesis.exitCode;
  return JSON.parse(run.synthesis.template) as CfnTemplate;
}

const withoutLinesNaming = (text: string, folder: string) =>
  text
    .split('\n')
    .filter((line) => !line.includes(folder))
    .join('\n')
    .trimEnd();

function synthesizeTemplate(
  config: DeployRunnerConfig,
  stackName: string,
  outdir: string,
): CfnTemplate {
  const app = new App({
    outdir,
    analyticsReporting: false,
    treeMetadata: false,
    // Template validation takes seconds and `npx cdk synth` runs it; the definition does not need it.
    builtinCloudFormationValidation: false,
    context: { ...cdkJsonContext(), ...NO_ASSETS_CONTEXT },
  });
  const stack = new DeployRunnerStack(app, stackName, {
    config,
    env: { account: ACCOUNT, region: REGION },
  });
  return templateOfStack(stack);
}

/** The definition of the (only) state machine of an already-built stack. Synthesizes its app. */
export function definitionOfStack(stack: Stack): SynthesizedDefinition {
  return definitionFromTemplate(templateOfStack(stack));
}

function templateOfStack(stack: Stack): CfnTemplate {
  const stage = Stage.of(stack);
  if (!stage) throw new Error(`${stack.node.path} is not part of an app`);
  return stage.synth().getStackArtifact(stack.artifactId).template as CfnTemplate;
}

/**
 * Everything a synthesis reads besides the config: the code of the package (its constructs,
 * and the handler and runner sources whose paths and fingerprints the template holds), its
 * manifests and `cdk.json`, CDK's installed versions, Node's, the package's location and any
 * `CDK_*` variable. Computed once per process.
 */
let digest: string | undefined;
export function sourceDigest(): string {
  if (digest !== undefined) return digest;
  const hash = createHash('sha256');
  const add = (name: string, content: string | Buffer) => {
    hash.update(`${name}\0${content.length}\0`);
    hash.update(content);
  };
  const walk = (dir: string) => {
    for (const entry of readdirSync(path.join(PACKAGE_ROOT, dir), { withFileTypes: true }).sort(
      (a, b) => (a.name < b.name ? -1 : 1),
    )) {
      const relative = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules') walk(relative);
      } else add(relative, readFileSync(path.join(PACKAGE_ROOT, relative)));
    }
  };
  for (const dir of ['lib', 'handlers', 'containers', 'tools', 'bin']) walk(dir);
  for (const file of ['package.json', 'package-lock.json', 'tsconfig.json', 'cdk.json'])
    add(file, readFileSync(path.join(PACKAGE_ROOT, file)));
  for (const pkg of ['aws-cdk-lib', 'constructs']) add(pkg, readFileSync(installedManifest(pkg)));
  add('node', process.version);
  add('root', PACKAGE_ROOT);
  for (const [name, value] of Object.entries(process.env).sort())
    if (name.startsWith('CDK_')) add(`env:${name}`, value ?? '');
  digest = hash.digest('hex');
  return digest;
}

/** The package.json of an installed package (exports maps may not list it). */
function installedManifest(pkg: string): string {
  let dir = path.dirname(require.resolve(pkg));
  for (;;) {
    const manifest = path.join(dir, 'package.json');
    try {
      if ((JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === pkg)
        return manifest;
    } catch {
      // not the package's root yet
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`cannot find the package.json of ${pkg}`);
    dir = parent;
  }
}

/**
 * The cache lives beside the dependencies (node_modules/.cache, as other tools keep theirs):
 * whoever can write there can already change the code that runs.
 */
const CACHE_DIR = path.join(PACKAGE_ROOT, 'node_modules', '.cache', 'deploy-runner', 'templates');

interface CacheEntry {
  readonly key: string;
  readonly sources: string;
  /** sha256 of `synthesis` as JSON. */
  readonly sha256: string;
  readonly synthesis: Synthesis;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const cacheFile = (key: string) =>
  path.join(CACHE_DIR, `${sha256(`${sourceDigest()}\0${key}`)}.json`);

/** The kept synthesis for `key`, if an entry exists, names this key and digest, and is intact. */
function readCachedSynthesis(key: string): Synthesis | undefined {
  try {
    const entry = JSON.parse(readFileSync(cacheFile(key), 'utf8')) as Partial<CacheEntry>;
    const synthesis = entry.synthesis;
    if (
      entry.key !== key ||
      entry.sources !== sourceDigest() ||
      synthesis === undefined ||
      typeof synthesis.template !== 'string' ||
      !Array.isArray(synthesis.said) ||
      !synthesis.said.every((line) => typeof line === 'string') ||
      entry.sha256 !== sha256(JSON.stringify(synthesis))
    )
      return undefined;
    return synthesis;
  } catch {
    return undefined;
  }
}

/** Best effort: a read-only install synthesizes every time, as before. */
function writeCachedSynthesis(key: string, synthesis: Synthesis): void {
  try {
    mkdirSync(CACHE_DIR, { recursive: true });
    const file = cacheFile(key);
    const entry: CacheEntry = {
      key,
      sources: sourceDigest(),
      sha256: sha256(JSON.stringify(synthesis)),
      synthesis,
    };
    const temp = `${file}.${process.pid}.tmp`;
    writeFileSync(temp, JSON.stringify(entry));
    renameSync(temp, file);
  } catch {
    // no cache
  }
}

/** The part of a CloudFormation template the definition is read from. */
export interface CfnTemplate {
  readonly Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }>;
}

/** The definition of the (only) state machine in a CloudFormation template. */
export function definitionFromTemplate(template: CfnTemplate): SynthesizedDefinition {
  const machines = Object.values(template.Resources).filter(
    (r) => r.Type === 'AWS::StepFunctions::StateMachine',
  );
  if (machines.length !== 1)
    throw new Error(`expected one state machine in the template, found ${machines.length}`);
  const properties = machines[0]?.Properties ?? {};
  const resolver = new PlaceholderResolver(template);
  const text = resolver.resolve(properties.DefinitionString);
  const name = resolver.resolve(properties.StateMachineName);
  if (typeof text !== 'string' || typeof name !== 'string')
    throw new Error('the state machine has no DefinitionString or StateMachineName');
  if (/Fn::|\$\{Token\[/.test(text))
    throw new Error(`the definition still holds an unresolved reference: ${text.slice(0, 200)}`);
  return {
    definition: withPlaceholderTaskDefinitions(JSON.parse(text) as AslDefinition, template),
    stateMachineName: name,
    template,
  };
}

/**
 * The environment of every function (by component tag) and runner task definition (by the ARN
 * the definition names it with), with each reference resolved to its placeholder or, where
 * given, its local equivalent. These are the environments the deployed code reads.
 */
export function environmentsFromTemplate(
  template: CfnTemplate,
  local: LocalEquivalents = {},
): SynthesizedEnvironments {
  const resolver = new PlaceholderResolver(template, local);
  const text = (value: unknown): string => {
    const resolved = resolver.resolve(value);
    if (typeof resolved !== 'string' && typeof resolved !== 'number') throw unresolvable(value);
    return String(resolved);
  };
  const functions: Record<string, Record<string, string>> = {};
  const tasks: Record<string, Record<string, string>> = {};
  for (const resource of Object.values(template.Resources)) {
    const component = componentOf(resource);
    if (resource.Type === 'AWS::Lambda::Function' && component) {
      const variables = (resource.Properties?.Environment as { Variables?: object } | undefined)
        ?.Variables;
      functions[component] = Object.fromEntries(
        Object.entries(variables ?? {}).map(([name, value]) => [name, text(value)]),
      );
    }
    if (
      resource.Type === 'AWS::ECS::TaskDefinition' &&
      (component === 'plan-task' || component === 'apply-task')
    ) {
      const containers = (resource.Properties?.ContainerDefinitions ?? []) as {
        Environment?: { Name: string; Value: unknown }[];
      }[];
      if (containers.length !== 1)
        throw new Error(`the ${component} task definition has ${containers.length} containers`);
      tasks[PLACEHOLDERS.taskDefinitionArn(component === 'plan-task' ? 'plan' : 'apply')] =
        Object.fromEntries((containers[0]?.Environment ?? []).map((e) => [e.Name, text(e.Value)]));
    }
  }
  return { functions, tasks };
}

/**
 * `EcsRunTask` names a task definition by family (its latest revision), a literal in the
 * definition; replace the families of the plan and apply task definitions by their placeholders.
 */
function withPlaceholderTaskDefinitions(
  definition: AslDefinition,
  template: CfnTemplate,
): AslDefinition {
  const byFamily = new Map<string, string>();
  for (const resource of Object.values(template.Resources)) {
    const component = componentOf(resource);
    const family = resource.Properties?.Family;
    if (resource.Type !== 'AWS::ECS::TaskDefinition' || typeof family !== 'string') continue;
    if (component === 'plan-task') byFamily.set(family, PLACEHOLDERS.taskDefinitionArn('plan'));
    if (component === 'apply-task') byFamily.set(family, PLACEHOLDERS.taskDefinitionArn('apply'));
  }
  const states = Object.fromEntries(
    Object.entries(definition.States).map(([name, state]) => {
      const parameters = state.Parameters as Record<string, unknown> | undefined;
      const family = parameters?.TaskDefinition;
      if (typeof family !== 'string' || !byFamily.has(family)) return [name, state];
      return [
        name,
        { ...state, Parameters: { ...parameters, TaskDefinition: byFamily.get(family) } },
      ];
    }),
  );
  return { ...definition, States: states };
}

const PSEUDO: Record<string, string> = {
  'AWS::Partition': 'aws',
  'AWS::Region': REGION,
  'AWS::AccountId': ACCOUNT,
  'AWS::URLSuffix': 'amazonaws.com',
};

/** Resolves the intrinsics the stack uses (Ref, GetAtt, Join, Sub, Select, Split). */
class PlaceholderResolver {
  private readonly subnets: string[];

  constructor(
    private readonly template: CfnTemplate,
    private readonly local: LocalEquivalents = {},
  ) {
    this.subnets = Object.entries(template.Resources)
      .filter(([, r]) => r.Type === 'AWS::EC2::Subnet')
      .map(([id]) => id);
  }

  resolve(value: unknown): unknown {
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')
      return value;
    if (Array.isArray(value)) return value.map((v) => this.resolve(v));
    if (value === null || typeof value !== 'object') return value;
    const entries = Object.entries(value);
    const [key, arg] = entries[0] ?? [];
    if (entries.length !== 1 || key === undefined) throw unresolvable(value);
    switch (key) {
      case 'Ref':
        return this.reference(arg as string);
      case 'Fn::GetAtt': {
        const [id, attribute] = Array.isArray(arg) ? arg : String(arg).split('.');
        return this.reference(id as string, attribute as string);
      }
      case 'Fn::Join': {
        const [separator, parts] = arg as [string, unknown[]];
        return (this.resolve(parts) as unknown[]).map(String).join(separator);
      }
      case 'Fn::Select': {
        const [index, list] = arg as [number, unknown];
        return (this.resolve(list) as unknown[])[Number(this.resolve(index))];
      }
      case 'Fn::Split': {
        const [separator, source] = arg as [string, unknown];
        return String(this.resolve(source)).split(separator);
      }
      case 'Fn::Sub': {
        const [text, variables = {}] = (Array.isArray(arg) ? arg : [arg]) as [
          string,
          Record<string, unknown>?,
        ];
        return text.replace(/\$\{([^!}][^}]*)\}/g, (_, name: string) => {
          if (name in variables) return String(this.resolve(variables[name]));
          const [id, attribute] = name.split('.');
          return String(this.reference(id as string, attribute));
        });
      }
      default:
        throw unresolvable(value);
    }
  }

  private reference(id: string, attribute?: string): string {
    const pseudo = PSEUDO[id];
    if (pseudo !== undefined && attribute === undefined) return pseudo;
    const resource = this.template.Resources[id];
    if (!resource) throw new Error(`the definition refers to ${id}, which is not in the template`);
    const component = componentOf(resource);
    const want = (ref: string, attributes: Record<string, string>): string => {
      const result = attribute === undefined ? ref : attributes[attribute];
      if (result === undefined)
        throw new Error(`no placeholder for ${resource.Type} attribute ${attribute} (${id})`);
      return result;
    };
    switch (resource.Type) {
      case 'AWS::Lambda::Function': {
        if (!component) throw new Error(`function ${id} has no ${COMPONENT_TAG} tag`);
        const arn = PLACEHOLDERS.lambdaArn(component);
        return want(`deploy-runner-${component}`, { Arn: arn });
      }
      case 'AWS::DynamoDB::Table':
        return want(PLACEHOLDERS.tableName, {
          Arn: `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${PLACEHOLDERS.tableName}`,
        });
      case 'AWS::S3::Bucket':
        return want(PLACEHOLDERS.bucketName, {
          Arn: `arn:aws:s3:::${PLACEHOLDERS.bucketName}`,
        });
      case 'AWS::ECS::Cluster':
        return want('deploy-runner', { Arn: PLACEHOLDERS.clusterArn });
      case 'AWS::ECS::TaskDefinition': {
        if (component !== 'plan-task' && component !== 'apply-task')
          throw new Error(`task definition ${id} has no ${COMPONENT_TAG} tag`);
        const arn = PLACEHOLDERS.taskDefinitionArn(component === 'plan-task' ? 'plan' : 'apply');
        return want(arn, { TaskDefinitionArn: arn });
      }
      case 'AWS::EC2::SecurityGroup':
        return want(PLACEHOLDERS.securityGroupId, { GroupId: PLACEHOLDERS.securityGroupId });
      case 'AWS::EC2::Subnet':
        return want(PLACEHOLDERS.subnetId(this.subnets.indexOf(id)), {
          SubnetId: PLACEHOLDERS.subnetId(this.subnets.indexOf(id)),
        });
      case 'AWS::KMS::Key':
        return want(PLACEHOLDERS.keyId, { Arn: PLACEHOLDERS.keyArn });
      case 'AWS::SecretsManager::Secret':
        return want(PLACEHOLDERS.secretArn(id), {});
      case 'AWS::Lambda::Url':
        return want(PLACEHOLDERS.functionUrl, {
          FunctionUrl: this.local.functionUrl ?? PLACEHOLDERS.functionUrl,
        });
      case 'AWS::Logs::LogGroup':
        return want(this.local.logGroup ?? PLACEHOLDERS.logGroup, {});
      default:
        throw new Error(`no placeholder for ${resource.Type} (${id}) in the definition`);
    }
  }
}

function componentOf(resource: { Properties?: Record<string, unknown> }): string | undefined {
  const tags = resource.Properties?.Tags;
  if (!Array.isArray(tags)) return undefined;
  const tag = (tags as { Key: string; Value: string }[]).find((t) => t.Key === COMPONENT_TAG);
  return tag?.Value;
}

function unresolvable(value: unknown): Error {
  return new Error(`cannot resolve ${JSON.stringify(value).slice(0, 200)} in the definition`);
}
