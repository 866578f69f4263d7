import { execFileSync } from 'node:child_process';
import { cpus, freemem, loadavg, platform, release, totalmem } from 'node:os';

/** Where the figures were measured; load averages say how busy the machine was. */
export interface MachineInfo {
  readonly date: string;
  readonly cpus: number;
  readonly cpuModel: string;
  readonly memoryGiB: number;
  readonly freeMemoryGiB: number;
  readonly node: string;
  readonly os: string;
  readonly terraformOnPath: string | null;
  readonly tofuOnPath: string | null;
  readonly toolUsed: string;
  readonly gitCommit: string | null;
  readonly loadAverageAtStart: readonly number[];
  /** 1, 5 and 15 minute load averages as each section started, then at the end. */
  readonly loadAverages: Record<string, readonly number[]>;
}

const GiB = 1024 ** 3;

export const currentLoad = () => loadavg().map((l) => Math.round(l * 100) / 100);

/** `<tool> version` first line, or null when the tool is not on PATH. */
function toolVersion(tool: string): string | null {
  try {
    const out = execFileSync(tool, ['version'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 10_000,
    });
    return out.split('\n')[0]?.trim() || tool;
  } catch {
    return null;
  }
}

function gitCommit(): string | null {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return null;
  }
}

export function machineInfo(): MachineInfo {
  const list = cpus();
  return {
    date: new Date().toISOString(),
    cpus: list.length,
    cpuModel: list[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round((totalmem() / GiB) * 10) / 10,
    freeMemoryGiB: Math.round((freemem() / GiB) * 10) / 10,
    node: process.version,
    os: `${platform()} ${release()}`,
    terraformOnPath: toolVersion('terraform'),
    tofuOnPath: toolVersion('tofu'),
    toolUsed:
      'terraform simulator (tools/terraform-sim), so figures do not depend on providers or network',
    gitCommit: gitCommit(),
    loadAverageAtStart: currentLoad(),
    loadAverages: {},
  };
}
