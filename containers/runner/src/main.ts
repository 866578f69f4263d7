import { interruptChildren } from './process';
import { runRunner } from './runner';

/**
 * The runner's entry point (`node /app/runner.js`): plan or apply, as DR_MODE says. Everything it
 * needs comes from the environment; see containers/runner/README.md for inputs and exit codes.
 */

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    // ECS sends SIGTERM and kills 30 s later: let terraform stop cleanly and release its lock.
    if (!stopping) process.stderr.write(`\nreceived ${signal}: asking the tool to stop\n`);
    interruptChildren(stopping ? 'SIGKILL' : 'SIGINT');
    stopping = true;
  });
}

runRunner({
  env: process.env,
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
}).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    // runRunner never throws; this is the last line of defense, and it prints no values.
    process.stderr.write(`runner crashed: ${error instanceof Error ? error.name : 'unknown'}\n`);
    process.exitCode = 1;
  },
);
