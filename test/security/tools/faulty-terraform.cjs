#!/usr/bin/env node
'use strict';

/**
 * A terraform stand-in for fault-injection tests. It runs the bundled simulator
 * (SECTEST_SIM), unless the module being planned or applied carries a `fault.json`:
 *
 *   { "on": "plan" | "apply" | "init" | "show", "action": "kill-runner" | "kill-self" | "sleep",
 *     "ms": 20000 }
 *
 * - kill-runner: SIGKILLs the runner (its parent) and then itself: a container crash.
 * - kill-self:   SIGKILLs itself: the tool crashes, the runner lives to report it.
 * - sleep:       waits `ms` before running the simulator: a slow plan or apply, to stop.
 *
 * The simulator is loaded in this process (the bundle runs on load, with this argv).
 *
 * Every step is appended as a JSON line to SECTEST_TOOL_LOG: { key, command, event, pid }, so a
 * test can prove that a stopped apply never ran. The runner removes DR_* and GIT_* from the
 * tool's environment, hence the SECTEST_ prefix.
 */

const { appendFileSync, readFileSync } = require('node:fs');
const { join } = require('node:path');

const args = process.argv.slice(2);
const command = args.find((a) => !a.startsWith('-')) ?? args[0] ?? '';
const readJson = (file) => {
  try {
    return JSON.parse(readFileSync(join(process.cwd(), file), 'utf8'));
  } catch {
    return undefined;
  }
};
const key = readJson('resources.json')?.backend?.key ?? process.cwd();
const fault = readJson('fault.json');

function log(event) {
  if (!process.env.SECTEST_TOOL_LOG) return;
  const line = JSON.stringify({ key, command, event, pid: process.pid, at: Date.now() });
  appendFileSync(process.env.SECTEST_TOOL_LOG, `${line}\n`);
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    log(`interrupted by ${signal}`);
    process.exit(130);
  });
}

/** The bundled simulator runs on load, with this process's argv: no second process needed. */
function runSimulator() {
  log('exec');
  require(process.env.SECTEST_SIM);
  log(`exit ${process.exitCode ?? 0}`);
}

log('start');
if (fault && fault.on === command) {
  if (fault.action === 'kill-runner') {
    log('killing the runner');
    process.kill(process.ppid, 'SIGKILL');
    process.kill(process.pid, 'SIGKILL');
  } else if (fault.action === 'kill-self') {
    log('killing itself');
    process.kill(process.pid, 'SIGKILL');
  } else if (fault.action === 'sleep') {
    log('sleeping');
    setTimeout(runSimulator, Number(fault.ms ?? 20000));
  } else {
    runSimulator();
  }
} else {
  runSimulator();
}
