import '../lib/local/polyfills';
import { afterAll } from 'vitest';
import { snapshotProcess } from './process-state';

// Handler logs are JSON lines for CloudWatch; in tests they are noise unless asked for.
process.env.POWERTOOLS_LOG_LEVEL ??= process.env.E2E_DEBUG ? 'DEBUG' : 'ERROR';

// The SDK warns once per process, on Node 20, when a client is first built; with clients built
// lazily that can land inside a test that captures output. The CLI still shows it to users.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

// Runs before each test file, in the file's process: registered first, this afterAll runs last,
// after the file's own hooks, and hands the next file (vitest.config.ts's `shared` project) the
// process as this one found it: no SDK client mocks, spies, stubbed env or globals, fake timers.
const snapshot = snapshotProcess();
afterAll(() => snapshot.restore());
