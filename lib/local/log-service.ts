import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { apiErrors } from './aws-errors';
import { appendLine, privateDir, readJsonLines } from './durable';

/**
 * A small CloudWatch Logs stand-in: the runner's output in local mode, kept per log stream in
 * memory and appended to `<dataDir>/logs/*.jsonl`, served through GetLogEvents, FilterLogEvents
 * and DescribeLogStreams so the CLI streams local runs exactly as it streams AWS ones.
 */

export interface LogEvent {
  readonly timestamp: number;
  readonly message: string;
  readonly ingestionTime: number;
}

interface Stream {
  readonly group: string;
  readonly name: string;
  readonly creationTime: number;
  readonly events: LogEvent[];
}

/** The runner's log group in local mode (AWS: the stack's RunnerLogGroupName output). */
export const LOCAL_LOG_GROUP = '/deploy-runner/local/runner';

/** The file of a log stream under the logs folder (the runner's watchdog appends to it too). */
export const streamFile = (group: string, name: string) =>
  `${Buffer.from(`${group}\n${name}`).toString('base64url')}.jsonl`;

export class LocalLogService {
  private readonly streams = new Map<string, Stream>();
  private diskFull = false;

  /**
   * @param dir folder of the `.jsonl` files; without it, logs live in memory only
   * @param onWarning receives problems with the folder (a torn line, a full disk)
   */
  constructor(
    private readonly dir?: string,
    private readonly onWarning: (line: string) => void = () => {},
  ) {
    if (dir) {
      privateDir(dir);
      for (const file of readdirSync(dir)) {
        if (!file.endsWith('.jsonl')) continue;
        const [group, name] = Buffer.from(file.replace(/\.jsonl$/, ''), 'base64url')
          .toString()
          .split('\n');
        if (!group || !name) continue;
        this.reload(group, name);
      }
    }
  }

  /** Reads a stream again from its file (lines a runner wrote while the server was away). */
  reload(group: string, name: string): void {
    if (!this.dir) return;
    const file = join(this.dir, streamFile(group, name));
    if (!existsSync(file)) return;
    const { values, damaged } = readJsonLines<LogEvent>(file);
    // A crash can cut the last line of a log: the lines before it are still the log.
    if (damaged > 0)
      this.onWarning(`logs/${streamFile(group, name)}: ${damaged} damaged line(s) skipped`);
    const events = values.filter((e) => typeof e?.message === 'string');
    this.streams.set(`${group}\n${name}`, {
      group,
      name,
      creationTime: events[0]?.timestamp ?? Date.now(),
      events,
    });
  }

  /** Appends one line to a stream, creating it on first use. */
  append(group: string, name: string, message: string, now = Date.now()): void {
    const key = `${group}\n${name}`;
    let stream = this.streams.get(key);
    if (!stream) {
      stream = { group, name, creationTime: now, events: [] };
      this.streams.set(key, stream);
    }
    const event = { timestamp: now, message, ingestionTime: now };
    stream.events.push(event);
    if (!this.dir) return;
    try {
      appendLine(join(this.dir, streamFile(group, name)), JSON.stringify(event));
      if (this.diskFull) {
        this.diskFull = false;
        this.onWarning('log lines are saved again');
      }
    } catch (error) {
      // A log line that cannot be saved must not stop the run it describes: it stays in memory.
      if (!this.diskFull)
        this.onWarning(
          `could not save log lines to ${this.dir} (${(error as Error).message}); they are kept in memory`,
        );
      this.diskFull = true;
    }
  }

  lines(group: string, name: string): string[] {
    return this.streams.get(`${group}\n${name}`)?.events.map((e) => e.message) ?? [];
  }

  private stream(group: unknown, name: unknown): Stream {
    if (typeof group !== 'string' || typeof name !== 'string')
      throw apiErrors.validation('logGroupName and logStreamName are required');
    const stream = this.streams.get(`${group}\n${name}`);
    if (!stream) throw apiErrors.resourceNotFound('The specified log stream does not exist.');
    return stream;
  }

  /** GetLogEvents with forward tokens `f/<index>`; an unchanged token means "no new events". */
  getLogEvents(req: Record<string, unknown>) {
    const stream = this.stream(req.logGroupName, req.logStreamName);
    const limit = Math.min(Number(req.limit ?? 10_000), 10_000);
    const token = typeof req.nextToken === 'string' ? req.nextToken : undefined;
    const from = token?.startsWith('f/') ? Number(token.slice(2)) : 0;
    const events = stream.events.slice(from, from + limit);
    const next = from + events.length;
    return {
      events,
      nextForwardToken: `f/${String(next).padStart(56, '0')}`,
      nextBackwardToken: `b/${String(from).padStart(56, '0')}`,
    };
  }

  filterLogEvents(req: Record<string, unknown>) {
    const group = req.logGroupName;
    const names = Array.isArray(req.logStreamNames) ? (req.logStreamNames as string[]) : undefined;
    const prefix = typeof req.logStreamNamePrefix === 'string' ? req.logStreamNamePrefix : '';
    const start = Number(req.startTime ?? 0);
    const events = [...this.streams.values()]
      .filter(
        (s) => s.group === group && (names ? names.includes(s.name) : s.name.startsWith(prefix)),
      )
      .flatMap((s) =>
        s.events.map((e, i) => ({ ...e, logStreamName: s.name, eventId: `${s.name}/${i}` })),
      )
      .filter((e) => e.timestamp >= start)
      .sort((a, b) => a.timestamp - b.timestamp);
    return { events, searchedLogStreams: [] };
  }

  describeLogStreams(req: Record<string, unknown>) {
    const prefix = typeof req.logStreamNamePrefix === 'string' ? req.logStreamNamePrefix : '';
    const logStreams = [...this.streams.values()]
      .filter((s) => s.group === req.logGroupName && s.name.startsWith(prefix))
      .map((s) => ({
        logStreamName: s.name,
        creationTime: s.creationTime,
        firstEventTimestamp: s.events[0]?.timestamp,
        lastEventTimestamp: s.events.at(-1)?.timestamp,
        lastIngestionTime: s.events.at(-1)?.ingestionTime,
      }));
    return { logStreams };
  }
}
