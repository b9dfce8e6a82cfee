import { createApp, type App } from "../app/app.js";
import { loadSettings, type Settings } from "../config/settings.js";
import { PROFILE_NAME } from "../export/layout.js";
import { MAX_LIST_LIMIT, type RunRecord } from "../runs/runStore.js";
import { EXIT, UsageError, type CliIo, parseCliArgs } from "./io.js";

export const RUNS_HELP = `Usage: referrals-export runs list [--profile NAME] [--limit N] [--json]

Lists recent runs from every door (HTTP, timer, CLI), newest first: the same records as
GET /api/exports, with status, trigger, rows and the reason of a failure.
  --profile NAME   only this profile's (or ad-hoc name's) runs
  --limit N        at most N runs (1-${MAX_LIST_LIMIT}, default 20)
  --json           print the runs as one JSON document`;

/** `runs list`: the run records every door writes, so it shows what `GET /api/exports` shows. */
export async function runsCommand(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  io: CliIo,
  open: (settings: Settings) => App = (settings) => createApp(settings),
): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== "list")
    throw new UsageError(`unknown runs command '${(sub ?? "").slice(0, 40)}' (try: runs list)`);
  const { values } = parseCliArgs({
    args: rest,
    options: {
      profile: { type: "string" },
      limit: { type: "string", default: "20" },
      json: { type: "boolean", default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  const limit = Number(values.limit);
  if (!/^\d{1,3}$/.test(values.limit) || limit < 1 || limit > MAX_LIST_LIMIT)
    throw new UsageError(`--limit must be a whole number from 1 to ${MAX_LIST_LIMIT}`);
  if (values.profile !== undefined && !PROFILE_NAME.safeParse(values.profile).success)
    throw new UsageError(`--profile '${values.profile.slice(0, 80)}' is not a valid profile name`);
  const settings = loadSettings(env);
  const app = open(settings);
  const runs: RunRecord[] = (await app.runsContainer.exists())
    ? await app.runs.list({ ...(values.profile !== undefined ? { profile: values.profile } : {}), limit })
    : [];
  if (values.json) {
    io.out(
      JSON.stringify(
        runs.map((r) => ({
          runId: r.runId,
          profile: r.profile,
          trigger: r.trigger,
          status: r.status,
          rowCount: r.rowCount ?? null,
          queuedAt: r.queuedAt,
          completedAt: r.completedAt ?? null,
          files: r.files ?? [],
          error: r.error ?? null,
        })),
        null,
        2,
      ),
    );
    return EXIT.ok;
  }
  if (runs.length === 0) {
    io.out("No runs yet.");
    return EXIT.ok;
  }
  io.out(
    [
      "run id".padEnd(24),
      "profile".padEnd(20),
      "trigger".padEnd(7),
      "status".padEnd(9),
      "rows".padStart(10),
      "completed",
    ].join("  "),
  );
  for (const r of runs) {
    io.out(
      [
        r.runId.padEnd(24),
        r.profile.padEnd(20),
        r.trigger.padEnd(7),
        r.status.padEnd(9),
        (r.rowCount === undefined ? "-" : String(r.rowCount)).padStart(10),
        r.completedAt ?? "-",
      ].join("  "),
    );
    if (r.error) io.out(`    ${r.error.reason}: ${r.error.message}`);
  }
  return EXIT.ok;
}
