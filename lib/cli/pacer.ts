/** Time as the CLI sees it; tests pass a virtual clock so backoff runs instantly. */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms))),
};

/** Reported before each retry, so the CLI can say why it is slow. */
export interface RetryNotice {
  readonly operation: string;
  readonly attempt: number;
  readonly delayMs: number;
  readonly error: string;
}

export interface ApiPacerOptions {
  /** Smallest gap between two calls to the same service ({@link serviceOf}). @default 1000 */
  readonly minIntervalMs?: number;
  /** Attempts per call before a transient error is given up on. @default 8 */
  readonly maxAttempts?: number;
  /** First backoff delay; doubles per attempt. @default 1000 */
  readonly baseDelayMs?: number;
  /** Longest backoff delay. @default 20000 */
  readonly maxDelayMs?: number;
  /**
   * How long a refused connection is retried once the endpoint has answered before (a local
   * server restarting), however many attempts that takes. @default 180000
   */
  readonly reconnectForMs?: number;
  /** @default systemClock */
  readonly clock?: Clock;
  /** Jitter source in [0, 1). @default Math.random */
  readonly random?: () => number;
  /** Called before each retry. @default - retries are silent */
  readonly onRetry?: (notice: RetryNotice) => void;
}

/**
 * Every AWS call of the CLI goes through one pacer: at most one call per `minIntervalMs` to
 * each service (the CI role shares Step Functions' and CloudWatch Logs' account-wide quotas,
 * which each service counts apart, with everyone else), and throttling or transient errors are
 * retried with jittered exponential backoff that also holds back every other call. A log read
 * never takes a state poll's turn: states are seen as soon as when logs are not streamed. The
 * SDK's own retries are switched off (`maxAttempts: 1`) so this is the only place attempts are
 * counted.
 */
export class ApiPacer {
  private readonly minIntervalMs: number;
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly reconnectForMs: number;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly onRetry?: (notice: RetryNotice) => void;
  /** The next free call time of each service. */
  private readonly nextCallAt = new Map<string, number>();
  /** Until when a backoff holds back every call. */
  private holdUntil = Number.NEGATIVE_INFINITY;
  /** Whether any call got an answer: after that, a refused connection is a server restarting. */
  private answered = false;

  constructor(options: ApiPacerOptions = {}) {
    this.minIntervalMs = options.minIntervalMs ?? 1000;
    this.maxAttempts = options.maxAttempts ?? 8;
    this.baseDelayMs = options.baseDelayMs ?? 1000;
    this.maxDelayMs = options.maxDelayMs ?? 20_000;
    this.reconnectForMs = options.reconnectForMs ?? 180_000;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.onRetry = options.onRetry;
  }

  /** Runs `fn` when the rate allows, retrying transient failures. */
  async call<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    const started = this.clock.now();
    for (let attempt = 1; ; attempt++) {
      await this.slot(serviceOf(operation));
      try {
        const result = await fn();
        this.answered = true;
        return result;
      } catch (error) {
        // Refused at first contact: nothing runs there, say so at once. Refused after answers: a
        // local server restarting, which takes seconds; the run goes on, so keep trying.
        const restarting =
          this.answered && (error as { code?: string } | null)?.code === 'ECONNREFUSED';
        if (!isTransientError(error) && !restarting) throw error;
        const exhausted = restarting
          ? this.clock.now() - started >= this.reconnectForMs
          : attempt >= this.maxAttempts;
        if (exhausted) {
          // The message can then say how long the CLI kept trying before it gave up.
          if (typeof error === 'object' && error !== null)
            Object.defineProperty(error, 'gaveUp', {
              value: { attempts: attempt, elapsedMs: this.clock.now() - started } satisfies GaveUp,
            });
          throw error;
        }
        // A restarting local server is back within seconds: look again often, it costs nothing.
        const delayMs = restarting ? Math.min(4000, this.backoff(attempt)) : this.backoff(attempt);
        this.onRetry?.({ operation, attempt, delayMs, error: describeError(error) });
        // Throttling is account-wide: the next call of any kind waits too.
        this.holdUntil = Math.max(this.holdUntil, this.clock.now() + delayMs);
      }
    }
  }

  /** Equal jitter: at least half the exponential delay, never below the call interval. */
  private backoff(attempt: number): number {
    const ceiling = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attempt - 1));
    const delay = ceiling / 2 + this.random() * (ceiling / 2);
    return Math.round(Math.max(this.minIntervalMs, delay));
  }

  /** Reserves the service's next free call time synchronously, so concurrent callers cannot share it. */
  private async slot(service: string): Promise<void> {
    const now = this.clock.now();
    const at = Math.max(
      now,
      this.holdUntil,
      this.nextCallAt.get(service) ?? Number.NEGATIVE_INFINITY,
    );
    this.nextCallAt.set(service, at + this.minIntervalMs);
    if (at > now) await this.clock.sleep(at - now);
  }
}

/** CloudWatch Logs operations the CLI calls; every other operation is Step Functions'. */
const LOGS_OPERATIONS = new Set(['GetLogEvents', 'FilterLogEvents', 'DescribeLogStreams']);

/** The service whose quota an operation counts against: the pacer's lane for it. */
export function serviceOf(operation: string): 'logs' | 'states' {
  return LOGS_OPERATIONS.has(operation) ? 'logs' : 'states';
}

const TRANSIENT_NAMES = new Set([
  'ThrottlingException',
  'Throttling',
  'ThrottledException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'InternalServerError',
  'InternalServerException',
  'InternalFailure',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
]);

/** What a transient error carries once the pacer has given up retrying it. */
export interface GaveUp {
  readonly attempts: number;
  readonly elapsedMs: number;
}

/** The attempts and time spent on `error` before the pacer gave up, if it did. */
export function gaveUpOn(error: unknown): GaveUp | undefined {
  return (error as { gaveUp?: GaveUp } | null)?.gaveUp;
}

const TRANSIENT_CODES = new Set(['ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ECONNABORTED']);

/** Whether retrying the same call later can succeed: throttling, 5xx, dropped connections. */
export function isTransientError(error: unknown): boolean {
  if (error === null || typeof error !== 'object') return false;
  const e = error as {
    name?: string;
    code?: string;
    $retryable?: unknown;
    $metadata?: { httpStatusCode?: number };
  };
  if (e.name && TRANSIENT_NAMES.has(e.name)) return true;
  if (e.code && TRANSIENT_CODES.has(e.code)) return true;
  if (e.$retryable) return true;
  const status = e.$metadata?.httpStatusCode;
  return status === 429 || (status !== undefined && status >= 500);
}

/** `Name: message` of an error, for one-line reports. */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    return error.message && error.message !== error.name
      ? `${error.name}: ${error.message}`
      : error.name;
  }
  return String(error);
}
