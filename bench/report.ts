import type { BenchResults } from './results';

/** The table `npm run bench` prints: each figure next to the baseline it is measured against. */

const kb = (bytes: number) => `${Math.round(bytes / 1024)} KB`;
const ms = (value: number | null | undefined) =>
  value === null || value === undefined ? 'n/a' : `${Math.round(value)} ms`;
const usd = (value: number) => `$${value < 0.01 ? value.toPrecision(3) : value.toFixed(2)}`;
const ratio = (value: number | null | undefined) =>
  value === null || value === undefined || !Number.isFinite(value) ? '' : `${value}x`;
const goal = (met: boolean | undefined, text: string) =>
  met === undefined ? text : `${text} ${met ? 'met' : 'MISSED'}`;

/** `text` for the terminal; `markdown` for bench/README.md (bench/docs.ts writes it there). */
export function renderTable(r: BenchResults, format: 'text' | 'markdown' = 'text'): string {
  const rows: string[][] = [['Measure', 'Value', 'Baseline (same run)', 'Ratio', 'Goal']];
  const o = r.details.overhead;
  rows.push([
    'Local run overhead: time outside the runner (median / p95)',
    `${ms(r.overheadMs.median)} / ${ms(r.overheadMs.p95)}`,
    `runner plan+apply direct ${ms(r.baselineMs.median)}`,
    '',
    goal(o.goalMet, '< 500 ms'),
  ]);
  rows.push([
    'Detail: full run minus direct run, paired (median)',
    ms(o.pairedDifferenceMs.median),
    'difference of two noisy runs',
    ratio(r.ratios.fullRunToDirectRunner),
    '',
  ]);
  rows.push([
    'Local engine per state transition (median)',
    `${o.engineMsPerTransition} ms`,
    `full run ${ms(r.fullRunMs.median)}`,
    '',
    '',
  ]);
  rows.push([
    'Full local run (median / p95)',
    `${ms(r.fullRunMs.median)} / ${ms(r.fullRunMs.p95)}`,
    `${o.pairs} pairs, alternating`,
    '',
    '',
  ]);
  const st = r.stateTransitions;
  rows.push([
    'State transitions: happy / no changes / rejected',
    `${st.happyPath} / ${st.noChanges} / ${st.rejected}`,
    '',
    '',
    goal(st.happyPath <= 15, '<= 15 (happy)'),
  ]);
  const c = r.costUsd;
  rows.push(['Step Functions per run (happy)', usd(c.perRunStepFunctions), '', '', '']);
  rows.push([
    'Lambda per run (happy; all cold)',
    `${usd(c.perRunLambda)}; ${usd(c.perRunLambdaAllColdStarts)}`,
    '',
    '',
    '',
  ]);
  rows.push([`Fargate per run (${c.fargateExample})`, usd(c.perRunFargate), '', '', '']);
  rows.push([
    `SES per run (happy, ${r.details.cost.scenarios.happyPath.emails} emails)`,
    usd(c.perRunSes),
    '',
    '',
    '',
  ]);
  rows.push(['Total per run (happy, same example)', usd(c.perRunTotal), '', '', '']);
  rows.push([
    'Idle per month (always-on compute)',
    `${usd(c.idlePerMonth)} (${c.idleAlwaysOnComputePerMonth === null ? 'unpriced' : usd(c.idleAlwaysOnComputePerMonth)})`,
    `always-on Atlantis ${usd(c.atlantisPerMonth)}`,
    ratio(r.ratios.idleToAtlantis),
    goal(c.idleAlwaysOnComputePerMonth === 0, '$0 compute'),
  ]);
  const monthly = r.details.cost.monthly.find((m) => m.runsPerMonth === 100);
  if (monthly)
    rows.push([
      'Per month at 100 runs (same example)',
      usd(monthly.deployRunner),
      `always-on Atlantis ${usd(monthly.atlantis)}`,
      ratio(Math.round((monthly.deployRunner / monthly.atlantis) * 1000) / 1000),
      '',
    ]);
  const d = r.driftCost;
  if (d) {
    rows.push([
      `Drift check, no drift (${d.planExample}; measured runner)`,
      `${usd(d.perCheckUsd)}; ${usd(d.perCheckMeasuredUsd)}`,
      `drift found, message sent ${usd(d.drifted.usd.totalExample)}`,
      '',
      '',
    ]);
    rows.push([
      `Drift checks per month, one path hourly (${d.checksPerMonthHourly} checks)`,
      `${usd(d.perMonthHourlyUsd)}; ${usd(d.perMonthHourlyMeasuredUsd)}`,
      `measured ${d.measuredAt.slice(0, 16)}Z, ${d.quiet.checks} checks`,
      '',
      '',
    ]);
    rows.push([
      'Drift check, no drift: transitions / Lambda calls / DynamoDB requests',
      `${d.quiet.stateTransitions} / ${d.quiet.lambdaMs.length} / ${d.quiet.dynamoReads + d.quiet.dynamoWrites}`,
      `drift found ${d.drifted.stateTransitions} / ${d.drifted.lambdaMs.length} / ${d.drifted.dynamoReads + d.drifted.dynamoWrites}, ${d.drifted.emails} emails`,
      '',
      '',
    ]);
  }
  for (const h of r.handlers) {
    rows.push([
      `Handler ${h.name}: bundle, cold import`,
      `${kb(h.bundleBytes)}, ${ms(h.coldImportMs)} (CPU ${ms(h.coldImportCpuMs)})`,
      `unbundled ${kb(h.unbundledBytes)} in ${h.unbundledFiles} files, tsx ${ms(h.unbundledColdImportMs)}`,
      `${ratio(Math.round((h.bundleBytes / h.unbundledBytes) * 100) / 100)}${h.unbundledColdImportMs ? `, ${ratio(Math.round((h.coldImportMs / h.unbundledColdImportMs) * 100) / 100)}` : ''}`,
      `${goal(h.goalBytesMet, '< 300 KB')}, ${goal(h.goalMsMet, '< 150 ms')}`,
    ]);
  }
  const noLogs = r.cli.withoutLogs;
  rows.push([
    'CLI wait: lag state -> line (median)',
    ms(r.cli.lagMsMedian),
    noLogs ? `--no-logs ${ms(noLogs.lagMs.median)}` : '',
    noLogs ? ratio(Math.round((r.cli.lagMsMedian / noLogs.lagMs.median) * 100) / 100) : '',
    '',
  ]);
  rows.push([
    'CLI API calls/min: running / waiting',
    `${r.cli.callsPerMinuteRunning} / ${r.cli.callsPerMinuteWaiting}`,
    noLogs ? `--no-logs ${noLogs.callsPerMinuteRunning} / ${noLogs.callsPerMinuteWaiting}` : '',
    '',
    '',
  ]);
  for (const t of r.throughput) {
    rows.push([
      `Throughput at ${t.concurrency} concurrent`,
      `${t.runsPerMinute} runs/min`,
      t.concurrency === 1 ? `run median ${ms(t.runMs.median)}` : 'concurrency 1',
      ratio(t.speedupVsSerial),
      '',
    ]);
  }
  for (const p of r.planScale?.rows ?? []) {
    const base = r.planScale?.baseline;
    rows.push([
      `Runner plan+summary+upload, ${p.resources} resources: wall; own CPU; peak RSS`,
      `${ms(p.runnerWallMs)}; ${ms(p.runnerCpuMs)}; ${p.runnerPeakRssMb} MB`,
      base ? `bare node ${ms(base.bareNodeCpuMs)} CPU, ${base.bareNodePeakRssMb} MB` : '',
      '',
      '',
    ]);
  }
  for (const p of r.planScale?.rows ?? []) {
    const base = r.planScale?.baseline;
    rows.push([
      `Approval page, ${p.resources} resources: GET; size`,
      `${ms(p.pageMs)}; ${kb(p.pageBytes)}`,
      base ? `unknown link ${ms(base.unknownLinkPageMs)}, ${kb(base.unknownLinkPageBytes)}` : '',
      base && base.unknownLinkPageMs > 0
        ? ratio(Math.round((p.pageMs / base.unknownLinkPageMs) * 100) / 100)
        : '',
      '',
    ]);
  }
  rows.push([
    'cdk synth -q (wall)',
    ms(r.synthMs),
    `in-process definition ${ms(r.synth.definitionSynthMs)}`,
    ratio(r.ratios.cdkSynthToDefinitionSynth),
    '',
  ]);
  rows.push([
    'Test suite (npm test: Biome, tsc, vitest)',
    ms(r.testSuiteMs),
    r.testSuite.carriedOver
      ? r.testSuite.measuredAt
        ? `carried over from ${r.testSuite.measuredAt}`
        : 'not measured (add --tests)'
      : 'this run',
    '',
    '',
  ]);

  return format === 'markdown' ? markdown(rows) : text(rows);
}

function text(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length)));
  const line = (row: string[]) =>
    row
      .map((cell, i) => cell.padEnd(widths?.[i] ?? 0))
      .join(' | ')
      .trimEnd();
  const rule = widths?.map((w) => '-'.repeat(w)).join('-|-') ?? '';
  const [header, ...body] = rows;
  return [line(header as string[]), rule, ...body.map(line)].join('\n');
}

/** A markdown table, padded as the repo's formatter would leave it. */
function markdown(rows: string[][]): string {
  const cells = rows.map((row) => row.map((cell) => cell.replace(/\|/g, '\\|')));
  const widths = cells[0]?.map((_, i) =>
    Math.max(3, ...cells.map((row) => [...(row[i] ?? '')].length)),
  );
  const pad = (cell: string, w: number) => cell + ' '.repeat(w - [...cell].length);
  const line = (row: string[]) => `| ${row.map((c, i) => pad(c, widths?.[i] ?? 0)).join(' | ')} |`;
  const [header, ...body] = cells;
  const rule = `| ${widths?.map((w) => '-'.repeat(w)).join(' | ')} |`;
  return [line(header as string[]), rule, ...body.map(line)].join('\n');
}

const range = (values: number[], unit: string) => {
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  return lo === hi ? `${lo}${unit}` : `${lo}–${hi}${unit}`;
};
const met = (ok: boolean) => (ok ? 'met' : 'MISSED');

/** The README's summary: the headline figures of results.json, each with its goal. */
export function renderSummary(r: BenchResults): string {
  const h = r.handlers;
  const noLogs = r.cli.withoutLogs;
  const o = r.details.overhead;
  const rows: string[][] = [['measure', 'figure', 'baseline (same run)']];
  rows.push([
    'time outside the runner per local run (median / p95)',
    `${ms(r.overheadMs.median)} / ${ms(r.overheadMs.p95)} (goal < 500 ms: ${met(o.goalMet)})`,
    `runner plan + apply run directly: ${ms(r.baselineMs.median)}`,
  ]);
  rows.push(['local engine per state transition', `${o.engineMsPerTransition} ms`, '']);
  rows.push([
    'state transitions: happy / no changes / rejected',
    `${r.stateTransitions.happyPath} / ${r.stateTransitions.noChanges} / ${r.stateTransitions.rejected}`,
    '',
  ]);
  rows.push([
    `AWS cost per run (${r.costUsd.fargateExample})`,
    `${usd(r.costUsd.perRunTotal)} (Step Functions ${usd(r.costUsd.perRunStepFunctions)})`,
    '',
  ]);
  rows.push([
    'idle cost per month',
    usd(r.costUsd.idlePerMonth),
    `always-on Atlantis: ${usd(r.costUsd.atlantisPerMonth)}`,
  ]);
  if (r.driftCost)
    rows.push([
      `drift check of one path, hourly (${r.driftCost.planExample})`,
      `${usd(r.driftCost.perCheckUsd)} per check, ${usd(r.driftCost.perMonthHourlyUsd)} per month`,
      `runner at its measured local time: ${usd(r.driftCost.perMonthHourlyMeasuredUsd)} per month`,
    ]);
  rows.push([
    'Lambda bundle per handler',
    `${range(
      h.map((x) => Math.round(x.bundleBytes / 1024)),
      ' KB',
    )} (goal ≤ 300 KB: ${met(h.every((x) => x.goalBytesMet))})`,
    `unbundled: ${range(
      h.map((x) => Math.round(x.unbundledBytes / 1024)),
      ' KB',
    )}`,
  ]);
  rows.push([
    'Lambda cold import per handler (wall; CPU)',
    `${range(
      h.map((x) => Math.round(x.coldImportMs)),
      ' ms',
    )}; ${range(
      h.map((x) => Math.round(x.coldImportCpuMs)),
      ' ms',
    )} (goal ≤ 150 ms: ${met(h.every((x) => x.goalMsMet))})`,
    h.every((x) => x.unbundledColdImportMs !== undefined)
      ? `unbundled through tsx: ${range(
          h.map((x) => Math.round(x.unbundledColdImportMs as number)),
          ' ms',
        )}`
      : '',
  ]);
  rows.push([
    'CLI: state change → its line, with logs (median)',
    `${ms(r.cli.lagMsMedian)} (goal < 2 s: ${met(r.cli.lagMsMedian < 2000)})`,
    noLogs ? `without logs: ${ms(noLogs.lagMs.median)}` : '',
  ]);
  rows.push([
    'CLI API calls per minute: running / waiting for approval',
    `${r.cli.callsPerMinuteRunning} / ${r.cli.callsPerMinuteWaiting} (goal ≤ 6 waiting: ${met(
      r.cli.callsPerMinuteWaiting <= 6,
    )})`,
    noLogs ? `without logs: ${noLogs.callsPerMinuteRunning} / ${noLogs.callsPerMinuteWaiting}` : '',
  ]);
  for (const p of r.planScale?.rows ?? []) {
    rows.push([
      `runner plan + summary + upload, ${p.resources} resources (wall; own CPU; peak RSS)`,
      `${ms(p.runnerWallMs)}; ${ms(p.runnerCpuMs)}; ${p.runnerPeakRssMb} MB`,
      r.planScale
        ? `bare node: ${ms(r.planScale.baseline.bareNodeCpuMs)} CPU, ${r.planScale.baseline.bareNodePeakRssMb} MB`
        : '',
    ]);
  }
  for (const p of r.planScale?.rows ?? []) {
    rows.push([
      `approval page, ${p.resources} resources (GET; size)`,
      `${ms(p.pageMs)}; ${kb(p.pageBytes)}`,
      r.planScale ? `unknown link: ${ms(r.planScale.baseline.unknownLinkPageMs)}` : '',
    ]);
  }
  rows.push([
    'local throughput at 1 / 10 / 50 concurrent runs',
    `${r.throughput.map((t) => t.runsPerMinute).join(' / ')} runs per minute`,
    '1 concurrent',
  ]);
  rows.push([
    '`npx cdk synth`',
    ms(r.synthMs),
    `in-process definition: ${ms(r.synth.definitionSynthMs)}`,
  ]);
  rows.push([
    '`npm test` (Biome, tsc, whole suite; goal < 150 s)',
    ms(r.testSuiteMs),
    r.testSuite.carriedOver ? `carried over from ${r.testSuite.measuredAt ?? 'n/a'}` : 'this run',
  ]);
  return `${markdown(rows)}\n\n${runLine(r)}`;
}

/** Which run the figures come from, on what machine, how busy. */
export function runLine(r: BenchResults): string {
  const m = r.machine;
  const load = Object.values(m.loadAverages ?? {}).map((l) => Math.round(l[0] ?? 0));
  return `\`${r.generatedBy}\` of ${m.date} (${Math.round(r.benchDurationMs / 1000)} s): ${m.cpus} CPUs (${m.cpuModel}), ${m.memoryGiB} GiB, Node ${m.node}, tool ${m.toolUsed}; load average ${load.length ? range(load, '') : 'n/a'} during the run.`;
}
