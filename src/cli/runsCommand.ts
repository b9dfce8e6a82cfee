import { PROFILE_NAME } from "../export/layout.js";
import { isInvalidContinuationTokenError } from "../runs/continuationToken.js";
import { MAX_LIST_LIMIT, type RunPage } from "../runs/runStore.js";
import { loadCommandSettings, type CommandContext } from "./commandSettings.js";
import { runTableLines } from "./runTable.js";
import { EXIT, UsageError, parseCliArgs, printable } from "./io.js";
import { checkStorage } from "./storageCheck.js";

/** `runs list`: the run records every door writes, so it shows what `GET /api/exports` shows. */
export async function runsCommand(args: readonly string[], ctx: CommandContext): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== "list")
    throw new UsageError(`unknown runs command '${printable((sub ?? "").slice(0, 40))}' (try: runs list)`);
  const { values } = parseCliArgs({
    args: rest,
    options: {
      profile: { type: "string" },
      limit: { type: "string", default: "20" },
      json: { type: "boolean", default: false },
      continuation: { type: "string" },
    },
    strict: true,
    allowPositionals: false,
  });
  const limit = Number(values.limit);
  if (!/^\d{1,3}$/.test(values.limit) || limit < 1 || limit > MAX_LIST_LIMIT)
    throw new UsageError(`--limit must be a whole number from 1 to ${MAX_LIST_LIMIT}`);
  if (values.profile !== undefined && !PROFILE_NAME.safeParse(values.profile).success)
    throw new UsageError(`--profile '${printable(values.profile.slice(0, 80))}' is not a valid profile name`);
  if (values.continuation?.length === 0)
    throw new UsageError("--continuation needs the token a listing printed");
  const settings = loadCommandSettings(ctx.env, { signIn: false });
  const app = await ctx.open(settings);
  await checkStorage(app, { queue: false });
  let page: RunPage = { runs: [] };
  if (await app.runsContainer.exists()) {
    try {
      page = await app.runs.listPage({
        ...(values.profile !== undefined ? { profile: values.profile } : {}),
        limit,
        ...(values.continuation !== undefined ? { continuationToken: values.continuation } : {}),
      });
    } catch (error) {
      if (isInvalidContinuationTokenError(error)) throw new UsageError(`--continuation: ${error.message}`);
      throw error;
    }
  }
  const { runs, continuationToken } = page;
  const io = ctx.io;
  // How to read the next page: on stdout after the table; on stderr with --json, so stdout stays one array.
  const nextPage = continuationToken
    ? `More runs: referrals-export runs list${values.profile !== undefined ? ` --profile ${values.profile}` : ""} --limit ${limit} --continuation ${continuationToken}`
    : undefined;
  if (values.json) {
    io.out(
      JSON.stringify(
        runs.map((r) => ({
          runId: r.runId,
          profile: r.profile,
          dataset: r.dataset ?? "referrals",
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
    if (nextPage) io.err(nextPage);
    return EXIT.ok;
  }
  if (runs.length === 0) {
    io.out(values.continuation !== undefined ? "No more runs." : "No runs yet.");
    if (nextPage) io.out(nextPage);
    return EXIT.ok;
  }
  for (const line of runTableLines(runs)) io.out(line);
  if (nextPage) io.out(nextPage);
  return EXIT.ok;
}
