'use strict';

/**
 * Loaded into every runner process local mode starts (`node --require runner-watchdog.cjs
 * runner.js`): local mode's stand-in for the container agent that, in AWS, ties a task's life to
 * the service that started it. The runner itself is the unchanged production code.
 *
 * The server holds the runner's stdin open and never writes to it. When the server dies (even
 * with kill -9) the pipe closes, and the watchdog:
 *
 * - during a plan, stops the runner with SIGTERM (the runner interrupts terraform with SIGINT):
 *   a plan changes nothing, so stopping it is safe;
 * - during an apply, lets it finish: killing terraform mid-apply can leave resources created but
 *   not in the state. The next server finds the runner by its task record and keeps the lock
 *   until it has ended.
 *
 * Either way the runner's output, which can no longer reach the server, goes on into the run's
 * log file (DR_LOCAL_LOG_FILE), and its exit code is written to `<DR_LOCAL_TASK_FILE>.exit`
 * (shape: `localTaskExitSchema` in lib/contracts.ts).
 */

const { appendFileSync, renameSync, writeFileSync } = require('node:fs');

const mode = process.env.DR_MODE;
const taskFile = process.env.DR_LOCAL_TASK_FILE;
const logFile = process.env.DR_LOCAL_LOG_FILE;
let orphaned = false;

function logLine(message) {
  if (!logFile) return;
  const now = Date.now();
  try {
    appendFileSync(
      logFile,
      `${JSON.stringify({ timestamp: now, message, ingestionTime: now })}\n`,
      {
        mode: 0o600,
      },
    );
  } catch {
    // The disk may be full too; the exit file is what matters.
  }
}

function orphan(why) {
  if (orphaned) return;
  orphaned = true;
  logLine(`[local mode] the server went away (${why}).`);
  if (mode === 'apply') {
    logLine(
      '[local mode] the apply goes on: stopping terraform mid-apply can leave the state half-written. The next server keeps the lock until this process ends.',
    );
  } else {
    logLine('[local mode] stopping the plan (nothing was applied).');
    process.kill(process.pid, 'SIGTERM');
  }
}

/** Once the server is gone, output goes to the log file instead of the dead pipe. */
function divert(stream) {
  const write = stream.write.bind(stream);
  let partial = '';
  stream.on('error', () => orphan('the output pipe closed'));
  stream.write = (chunk, encoding, callback) => {
    if (!orphaned) return write(chunk, encoding, callback);
    const text =
      partial + (typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    const lines = text.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) logLine(line);
    const done = typeof encoding === 'function' ? encoding : callback;
    if (done) process.nextTick(done);
    return true;
  };
}

divert(process.stdout);
divert(process.stderr);

process.stdin.on('end', () => orphan('its control pipe closed'));
process.stdin.on('error', () => orphan('its control pipe failed'));
process.stdin.resume();
// The pipe must not keep a finished runner alive.
process.stdin.unref?.();

process.on('exit', (code) => {
  if (!taskFile) return;
  const exit = JSON.stringify({ exitCode: code, at: new Date().toISOString(), orphaned });
  try {
    writeFileSync(`${taskFile}.exit.tmp`, exit, { mode: 0o600 });
    renameSync(`${taskFile}.exit.tmp`, `${taskFile}.exit`);
  } catch {
    // Without it the next server says the outcome is unknown, which is true.
  }
});
