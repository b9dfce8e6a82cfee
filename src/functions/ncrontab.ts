/**
 * Six-field NCRONTAB (`sec min hour day month day-of-week`), read the way the Functions timer
 * trigger reads it, in UTC: lists, ranges, steps and month/day names; day and day-of-week
 * must both match, as in NCrontab.
 */
export interface Schedule {
  readonly expression: string;
  /** First occurrence strictly after `after`. */
  next(after: Date): Date;
  /** Last occurrence at or before `atOrBefore`. */
  previous(atOrBefore: Date): Date;
}

export class ScheduleError extends Error {
  override readonly name = "ScheduleError";
  readonly reason = "invalid_schedule";
}

export function isScheduleError(error: unknown): error is ScheduleError {
  return error instanceof ScheduleError;
}

interface FieldSpec {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  readonly names?: readonly string[];
}

const FIELDS: readonly FieldSpec[] = [
  { name: "second", min: 0, max: 59 },
  { name: "minute", min: 0, max: 59 },
  { name: "hour", min: 0, max: 23 },
  { name: "day", min: 1, max: 31 },
  {
    name: "month",
    min: 1,
    max: 12,
    names: ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"],
  },
  { name: "day-of-week", min: 0, max: 6, names: ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"] },
];

/** Days searched before a schedule is declared one that never fires (covers leap-day schedules). */
const SEARCH_DAYS = 366 * 8;
const DAY_MS = 86_400_000;

function parseValue(text: string, spec: FieldSpec): number {
  const upper = text.toUpperCase();
  const named = spec.names?.indexOf(upper) ?? -1;
  const value = named >= 0 ? named + spec.min : /^\d{1,2}$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(value) || value < spec.min || value > spec.max)
    throw new ScheduleError(`${spec.name} '${text}' is out of range ${spec.min}-${spec.max}`);
  return value;
}

function parseField(text: string, spec: FieldSpec): number[] {
  const values = new Set<number>();
  for (const item of text.split(",")) {
    const match = /^([^/]+)(?:\/(\d{1,2}))?$/.exec(item);
    if (!match?.[1]) throw new ScheduleError(`${spec.name} '${item}' is not a value, range or step`);
    const step = match[2] === undefined ? 1 : Number(match[2]);
    if (step < 1) throw new ScheduleError(`${spec.name} step must be at least 1`);
    let from: number;
    let to: number;
    if (match[1] === "*") {
      from = spec.min;
      to = spec.max;
    } else if (match[1].includes("-")) {
      const [a = "", b = ""] = match[1].split("-");
      from = parseValue(a, spec);
      to = parseValue(b, spec);
      if (to < from) throw new ScheduleError(`${spec.name} range '${match[1]}' runs backwards`);
    } else {
      from = parseValue(match[1], spec);
      to = match[2] === undefined ? from : spec.max;
    }
    for (let v = from; v <= to; v += step) values.add(v);
  }
  return [...values].sort((a, b) => a - b);
}

export function parseSchedule(expression: string): Schedule {
  const parts = expression.trim().split(/\s+/);
  if (parts.length !== 6)
    throw new ScheduleError(
      `'${expression}' has ${parts.length} fields; NCRONTAB needs six (sec min hour day month day-of-week)`,
    );
  const [seconds, minutes, hours, days, months, weekdays] = parts.map((p, i) =>
    parseField(p, FIELDS[i] as FieldSpec),
  ) as [number[], number[], number[], number[], number[], number[]];
  const daySet = new Set(days);
  const monthSet = new Set(months);
  const weekdaySet = new Set(weekdays);
  const dayMatches = (d: Date): boolean =>
    daySet.has(d.getUTCDate()) && monthSet.has(d.getUTCMonth() + 1) && weekdaySet.has(d.getUTCDay());

  const next = (after: Date): Date => {
    const start = Math.floor(after.getTime() / 1000) * 1000 + 1000;
    const firstDay = Math.floor(start / DAY_MS) * DAY_MS;
    for (let i = 0; i < SEARCH_DAYS; i++) {
      const day = new Date(firstDay + i * DAY_MS);
      if (!dayMatches(day)) continue;
      for (const h of hours)
        for (const m of minutes)
          for (const s of seconds) {
            const t = day.getTime() + ((h * 60 + m) * 60 + s) * 1000;
            if (t >= start) return new Date(t);
          }
    }
    throw new ScheduleError(`'${expression}' never fires`);
  };

  const previous = (atOrBefore: Date): Date => {
    const end = Math.floor(atOrBefore.getTime() / 1000) * 1000;
    const lastDay = Math.floor(end / DAY_MS) * DAY_MS;
    const desc = (list: number[]): number[] => [...list].reverse();
    const [hDesc, mDesc, sDesc] = [desc(hours), desc(minutes), desc(seconds)];
    for (let i = 0; i < SEARCH_DAYS; i++) {
      const day = new Date(lastDay - i * DAY_MS);
      if (!dayMatches(day)) continue;
      for (const h of hDesc)
        for (const m of mDesc)
          for (const s of sDesc) {
            const t = day.getTime() + ((h * 60 + m) * 60 + s) * 1000;
            if (t <= end) return new Date(t);
          }
    }
    throw new ScheduleError(`'${expression}' never fires`);
  };

  // A schedule that can never fire (say 30 February) is a configuration error, found now.
  next(new Date(Date.UTC(2000, 0, 1)));
  return { expression, next, previous };
}
