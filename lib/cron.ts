/**
 * EventBridge Scheduler's `cron(...)` expressions (docs/drift.md), parsed once for both sides:
 * synth refuses what this cannot read (lib/drift-config.ts), and local mode fires exactly what it
 * read (lib/local/scheduler.ts). Fields: minutes hours day-of-month month day-of-week year, with
 * `L` (last day of the month; alone in day-of-week, Saturday; `5L` the last Thursday), `W` (`15W`
 * the weekday nearest the 15th, within the month; `LW` the last weekday) and `#` (`3#2` the
 * second Tuesday), as EventBridge documents them (Quartz's meaning).
 */

const MONTHS = 'JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC'.split(' ');
const DAYS = 'SUN MON TUE WED THU FRI SAT'.split(' ');
const MINUTE = 60_000;

/** A day-of-month or day-of-week field. */
type DayRule =
  | { readonly kind: 'any' }
  | { readonly kind: 'set'; readonly values: ReadonlySet<number> }
  | { readonly kind: 'last' }
  | { readonly kind: 'lastWeekday' }
  | { readonly kind: 'nearestWeekday'; readonly day: number }
  | { readonly kind: 'lastOf'; readonly weekday: number }
  | { readonly kind: 'nth'; readonly weekday: number; readonly nth: number };

export interface Cron {
  readonly minute?: ReadonlySet<number>;
  readonly hour?: ReadonlySet<number>;
  readonly dayOfMonth: DayRule;
  readonly month?: ReadonlySet<number>;
  readonly dayOfWeek: DayRule;
  readonly year?: ReadonlySet<number>;
}

/** Why an expression cannot be read; the message names the field and says what is allowed. */
export class CronError extends Error {
  override readonly name = 'CronError';
}

/** A plain field (values, ranges, lists, steps, names) as the set it allows; undefined for all. */
function valueSet(
  label: string,
  field: string,
  min: number,
  max: number,
  names: readonly string[] = [],
): Set<number> | undefined {
  if (field === '*' || field === '?') return undefined;
  const value = (text: string) => {
    const named = names.indexOf(text.toUpperCase());
    const n = named >= 0 ? named + min : /^\d+$/.test(text) ? Number(text) : Number.NaN;
    if (!Number.isInteger(n) || n < min || n > max)
      throw new CronError(
        `has ${label} "${text}": allowed are ${min}-${max}${names.length ? ` or ${names[0]}-${names.at(-1)}` : ''}`,
      );
    return n;
  };
  const allowed = new Set<number>();
  for (const part of field.split(',')) {
    const [range, stepText, extra] = part.split('/') as [string, string | undefined, unknown];
    const step = stepText === undefined ? 1 : Number(stepText);
    if (extra !== undefined || !Number.isInteger(step) || step < 1)
      throw new CronError(`has ${label} "${part}": a step is "/<n>" with n of 1 or more`);
    let [from, to] = [min, max];
    if (range !== '*') {
      const [a, b, more] = range.split('-') as [string, string | undefined, unknown];
      if (more !== undefined) throw new CronError(`has ${label} "${part}": a range is "a-b"`);
      from = value(a);
      to = b === undefined ? (stepText === undefined ? from : max) : value(b);
      if (to < from) throw new CronError(`has ${label} "${part}": the range runs backwards`);
    }
    for (let n = from; n <= to; n += step) allowed.add(n);
  }
  return allowed;
}

/** The day-of-month field: plain values, `L`, `LW` or `<day>W`. */
function dayOfMonthRule(field: string): DayRule {
  if (field === '*' || field === '?') return { kind: 'any' };
  if (field === 'L') return { kind: 'last' };
  if (field === 'LW') return { kind: 'lastWeekday' };
  const nearest = /^(\d{1,2})W$/.exec(field);
  if (nearest) {
    const day = Number(nearest[1]);
    if (day < 1 || day > 31)
      throw new CronError(`has day-of-month "${field}": "<day>W" takes a day of 1-31`);
    return { kind: 'nearestWeekday', day };
  }
  if (/[LW]/i.test(field))
    throw new CronError(
      `has day-of-month "${field}": L and W stand alone ("L", "LW", "15W"), not in lists, ranges or offsets`,
    );
  return { kind: 'set', values: valueSet('day-of-month', field, 1, 31) as Set<number> };
}

const weekdayOf = (text: string, field: string) => {
  const named = DAYS.indexOf(text.toUpperCase());
  const n = named >= 0 ? named + 1 : /^\d$/.test(text) ? Number(text) : Number.NaN;
  if (!(n >= 1 && n <= 7))
    throw new CronError(`has day-of-week "${field}": a day is 1-7 or SUN-SAT`);
  return n;
};

/** The day-of-week field: plain values, `L` (Saturday), `<day>L` or `<day>#<n>`. */
function dayOfWeekRule(field: string): DayRule {
  if (field === '*' || field === '?') return { kind: 'any' };
  if (field === 'L') return { kind: 'set', values: new Set([7]) };
  const last = /^([A-Za-z]{3}|\d)L$/.exec(field);
  if (last) return { kind: 'lastOf', weekday: weekdayOf(last[1] as string, field) };
  const nth = /^([A-Za-z]{3}|\d)#(\d)$/.exec(field);
  if (nth) {
    const n = Number(nth[2]);
    if (n < 1 || n > 5)
      throw new CronError(`has day-of-week "${field}": "<day>#<n>" takes n of 1-5`);
    return { kind: 'nth', weekday: weekdayOf(nth[1] as string, field), nth: n };
  }
  if (/[L#]/i.test(field))
    throw new CronError(
      `has day-of-week "${field}": L and # stand alone ("L", "6L", "3#2"), one expression, not in lists or ranges`,
    );
  return { kind: 'set', values: valueSet('day-of-week', field, 1, 7, DAYS) as Set<number> };
}

/** Parses the inside of `cron(...)`; throws a {@link CronError} saying what is wrong. */
export function parseCron(body: string): Cron {
  const fields = body.trim().split(/\s+/);
  if (fields.length !== 6)
    throw new CronError(
      `has ${fields.length} cron fields; EventBridge wants 6 (minutes hours day-of-month month day-of-week year), e.g. "cron(0 6 * * ? *)"`,
    );
  const [mi, h, dom, mon, dow, yr] = fields as [string, string, string, string, string, string];
  if ((dom === '?') === (dow === '?'))
    throw new CronError(
      'must have "?" in exactly one of day-of-month and day-of-week, e.g. "cron(0 6 * * ? *)"',
    );
  return {
    minute: valueSet('minutes', mi, 0, 59),
    hour: valueSet('hours', h, 0, 23),
    dayOfMonth: dayOfMonthRule(dom),
    month: valueSet('month', mon, 1, 12, MONTHS),
    dayOfWeek: dayOfWeekRule(dow),
    year: valueSet('year', yr, 1970, 2199),
  };
}

/** A date's wall-clock fields in a time zone; weekday 1 is Sunday. */
export interface WallClock {
  readonly minute: number;
  readonly hour: number;
  readonly day: number;
  readonly month: number;
  readonly year: number;
  readonly weekday: number;
}

const daysIn = (year: number, month: number) => new Date(Date.UTC(year, month, 0)).getUTCDate();
/** Weekday (1 = Sunday) of a day of the same month as `p`. */
const weekdayAt = (p: WallClock, day: number) =>
  ((((p.weekday - 1 + day - p.day) % 7) + 7) % 7) + 1;

/** The weekday nearest `day` within its month (Saturday → Friday, Sunday → Monday). */
function nearestWeekday(p: WallClock, day: number): number | undefined {
  const last = daysIn(p.year, p.month);
  if (day > last) return undefined;
  const weekday = weekdayAt(p, day);
  if (weekday === 7) return day === 1 ? 3 : day - 1;
  if (weekday === 1) return day === last ? day - 2 : day + 1;
  return day;
}

function dayMatches(rule: DayRule, p: WallClock, field: 'day' | 'weekday'): boolean {
  switch (rule.kind) {
    case 'any':
      return true;
    case 'set':
      return rule.values.has(p[field]);
    case 'last':
      return p.day === daysIn(p.year, p.month);
    case 'lastWeekday': {
      const last = daysIn(p.year, p.month);
      const weekday = weekdayAt(p, last);
      return p.day === (weekday === 7 ? last - 1 : weekday === 1 ? last - 2 : last);
    }
    case 'nearestWeekday':
      return p.day === nearestWeekday(p, rule.day);
    case 'lastOf':
      return p.weekday === rule.weekday && p.day + 7 > daysIn(p.year, p.month);
    case 'nth':
      return p.weekday === rule.weekday && Math.ceil(p.day / 7) === rule.nth;
  }
}

/** Whether the schedule allows the day of `p` (the minute and hour aside). */
export function cronAllowsDay(cron: Cron, p: WallClock): boolean {
  return (
    (cron.year?.has(p.year) ?? true) &&
    (cron.month?.has(p.month) ?? true) &&
    dayMatches(cron.dayOfMonth, p, 'day') &&
    dayMatches(cron.dayOfWeek, p, 'weekday')
  );
}

/** The wall-clock fields in `timeZone` (one formatter: making one is the slow part). */
export function wallClockIn(timeZone: string): (date: Date) => WallClock {
  const format = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    weekday: 'short',
  });
  return (date) => {
    const parts = format.formatToParts(date);
    const get = (type: string) => parts.find((p) => p.type === type)?.value ?? '';
    return {
      minute: Number(get('minute')),
      hour: Number(get('hour')),
      day: Number(get('day')),
      month: Number(get('month')),
      year: Number(get('year')),
      weekday: DAYS.indexOf(get('weekday').toUpperCase()) + 1,
    };
  };
}

/**
 * The first minute after `after` the schedule fires in `timeZone`, looking `horizonDays` ahead
 * (five years holds every `#5` and 29 February); undefined when none does.
 */
export function nextCronFire(
  cron: Cron,
  timeZone: string,
  after: Date,
  horizonDays = 5 * 366,
): Date | undefined {
  const wallClock = wallClockIn(timeZone);
  let t = Math.floor(after.getTime() / MINUTE) * MINUTE + MINUTE;
  for (const end = t + horizonDays * 1440 * MINUTE; t < end; ) {
    const p = wallClock(new Date(t));
    if (!cronAllowsDay(cron, p)) {
      // To the next local day, an hour short of it so a DST change cannot skip its start.
      t += Math.max(1, (23 - p.hour) * 60 + (60 - p.minute) - 60) * MINUTE;
      continue;
    }
    if (!(cron.hour?.has(p.hour) ?? true)) {
      t += (60 - p.minute) * MINUTE;
      continue;
    }
    if (cron.minute?.has(p.minute) ?? true) return new Date(t);
    t += MINUTE;
  }
  return undefined;
}
