import type { RunnerError } from './errors';
import type { SecretMasker } from './mask';

/** How many of the last printed lines go into the error artifact. */
export const TAIL_LINES = 40;

/**
 * The runner's log: phase headers, streamed tool output and the final error block. Everything
 * passes through the masker first; the last lines are kept for the error artifact.
 */
export class RunLog {
  private readonly tailLines: string[] = [];
  private readonly started: number;

  constructor(
    private readonly masker: SecretMasker,
    private readonly out: (text: string) => void,
    private readonly err: (text: string) => void,
    private readonly clock: () => Date = () => new Date(),
  ) {
    this.started = clock().getTime();
  }

  /** A phase header: `==> [plan] clone: fetching main (+1.2s)`. */
  phase(mode: string, phase: string, what: string): void {
    const elapsed = ((this.clock().getTime() - this.started) / 1000).toFixed(1);
    this.line(`\n==> [${mode}] ${phase}: ${what} (+${elapsed}s)`);
  }

  /** The last line of a successful run. */
  done(mode: string, what: string): void {
    const elapsed = ((this.clock().getTime() - this.started) / 1000).toFixed(1);
    this.line(`\n==> [${mode}] done: ${what} (${elapsed}s)`);
  }

  /** One line of the runner's own, or of a tool's output. */
  line(text: string): void {
    for (const line of this.masker.mask(text).split('\n')) {
      this.remember(line);
      this.out(`${line}\n`);
    }
  }

  /** The final error block on stderr: what failed, where, and what to do. */
  errorBlock(mode: string, error: RunnerError): void {
    const block = [
      '',
      `==> [${mode}] FAILED in phase "${error.phase}" (exit code ${error.exitCode}, ${error.name})`,
      `    What failed: ${error.message}`,
      `    What to do:  ${error.hint}`,
      '',
    ]
      .map((l) => this.masker.mask(l))
      .join('\n');
    this.err(`${block}\n`);
  }

  /** The last printed lines, masked. */
  tail(): string[] {
    return [...this.tailLines];
  }

  private remember(line: string): void {
    this.tailLines.push(line);
    if (this.tailLines.length > TAIL_LINES) this.tailLines.shift();
  }
}

/** What {@link resolveLogUrl} reads. */
export interface LogUrlInputs {
  readonly logGroup?: string;
  readonly region?: string;
  readonly metadataUri?: string;
  /** Local mode: a URL given by whoever started the runner. */
  readonly localLogUrl?: string;
}

/**
 * The CloudWatch console URL of this task's log stream (`runner/runner/<taskId>`), found through
 * the ECS task metadata endpoint. Local mode: `DR_LOG_URL`, else "". Never throws.
 */
export async function resolveLogUrl(
  inputs: LogUrlInputs,
  fetchFn: typeof fetch = fetch,
): Promise<string> {
  if (!inputs.logGroup || !inputs.metadataUri || !inputs.region) return inputs.localLogUrl ?? '';
  try {
    const response = await fetchFn(`${inputs.metadataUri}/task`, {
      signal: AbortSignal.timeout(2000),
    });
    if (!response.ok) return '';
    const task = (await response.json()) as { TaskARN?: unknown };
    if (typeof task.TaskARN !== 'string') return '';
    const taskId = task.TaskARN.split('/').pop() ?? '';
    return cloudWatchStreamUrl(inputs.region, inputs.logGroup, `runner/runner/${taskId}`);
  } catch {
    return '';
  }
}

/** The console encodes path parts twice: `/` becomes `$252F`. */
export function cloudWatchStreamUrl(region: string, logGroup: string, stream: string): string {
  const enc = (s: string) => encodeURIComponent(s).replace(/%/g, '$25');
  return `https://${region}.console.aws.amazon.com/cloudwatch/home?region=${region}#logsV2:log-groups/log-group/${enc(logGroup)}/log-events/${enc(stream)}`;
}
