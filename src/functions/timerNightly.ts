import type { InvocationContext, Timer } from "@azure/functions";
import type { Schedule } from "./ncrontab.js";
import { invocationLogger, type FunctionDefinition, type FunctionHost } from "./runtime.js";

/**
 * The nightly timer: one job per profile with `schedule: true`. The schedule is the validated
 * EXPORT_SCHEDULE (default `0 0 2 * * *`, UTC). A past-due fire after downtime catches up once,
 * for the latest tick only; each (profile, tick) is queued at most once however often the timer fires.
 */
export function nightlyTimerFunction(
  host: FunctionHost,
  schedule: Schedule,
  now: () => Date = () => new Date(),
): FunctionDefinition {
  return {
    kind: "timer",
    name: "exportsNightly",
    options: {
      schedule: schedule.expression,
      runOnStartup: false,
      useMonitor: true,
      handler: (timer, context) => runNightly(host, schedule, timer, context, now()),
    },
  };
}

export async function runNightly(
  host: FunctionHost,
  schedule: Schedule,
  timer: Timer,
  context: InvocationContext,
  now: Date,
): Promise<void> {
  const log = invocationLogger(context, host.settings.logLevel);
  // The tick this fire stands for; a second of slack covers a fire a moment early.
  const slot = schedule.previous(new Date(now.getTime() + 1000));
  log.info("Nightly exports firing", { slot: slot.toISOString(), isPastDue: timer.isPastDue });
  const app = await host.app();
  const outcomes = await app.runs.enqueueScheduled(slot, log);
  log.info("Nightly exports queued", {
    slot: slot.toISOString(),
    queued: outcomes
      .filter((o) => o.runId !== undefined)
      .map((o) => ({ profile: o.profile, runId: o.runId })),
    alreadyQueued: outcomes.filter((o) => o.runId === undefined).map((o) => o.profile),
  });
}
