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

export function renderTable(r: BenchResults): string {
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
  rows.push([
    'cdk synth -q (wall)',
    ms(r.synthMs),
    `in-process definition ${ms(r.synth.definitionSynthMs)}`,
    ratio(r.ratios.cdkSynthToDefinitionSynth),
    '',
  ]);
  rows.push([
    'Test suite (npx vitest run)',
    ms(r.testSuiteMs),
    r.testSuite.carriedOver
      ? r.testSuite.measuredAt
        ? `carried over from ${r.testSuite.measuredAt}`
        : 'not measured (add --tests)'
      : 'this run',
    '',
    '',
  ]);

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
