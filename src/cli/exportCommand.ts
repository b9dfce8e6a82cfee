import type { App } from "../app/app.js";
import type { ExportProgress } from "../export/exporter.js";
import { changeFeedSummary, type Manifest } from "../export/manifest.js";
import { checkDatasetCloud, isQueryValidationError, queryDataset } from "../partnerCenter/query.js";
import { exportRequestSchema, resolveExportRequest, type FieldProblem } from "../runs/exportRequest.js";
import type { ExportProfile } from "../runs/profiles.js";
import type { ExportRequestInput, ResolvedExportRequest } from "../runs/exportRequest.js";
import { LOCK_LEASE_SECONDS } from "../runs/profileLock.js";
import { EXIT, UsageError, type CliIo, parseCliArgs, printable } from "./io.js";

/** The request field each flag fills, so a problem with a field is shown as its flag. */
const FLAGS: Record<string, string> = {
  profile: "--profile",
  name: "--name",
  dataset: "--dataset",
  filter: "--filter",
  groupby: "--groupby",
  aggregationLevel: "--aggregation-level",
  formats: "--format",
};

export interface ExportPlan {
  readonly request: ResolvedExportRequest;
  readonly json: boolean;
}

/** The arguments of `export`, checked on their own: what they ask for, before any setting is read. */
export interface ExportArgs {
  readonly input: ExportRequestInput;
  readonly json: boolean;
}

/**
 * Reads the flags into a request with the same schema as `POST /api/exports` and checks everything
 * that needs no settings (the schema, an ad-hoc query, flags that cannot go with --profile); throws
 * UsageError naming every problem, each as its flag, with the API's message.
 */
export function parseExportArgs(args: readonly string[]): ExportArgs {
  const { values } = parseCliArgs({
    args: [...args],
    options: {
      profile: { type: "string" },
      dataset: { type: "string" },
      filter: { type: "string" },
      groupby: { type: "string" },
      "aggregation-level": { type: "string" },
      format: { type: "string" },
      name: { type: "string" },
      json: { type: "boolean", default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  // Only the flags given, so "absent" means the same as a field left out of the HTTP body.
  const input = Object.fromEntries(
    Object.entries({
      profile: values.profile,
      name: values.name,
      dataset: values.dataset,
      filter: values.filter,
      groupby: values.groupby,
      aggregationLevel: values["aggregation-level"],
      formats: values.format?.split(",").map((f) => f.trim()),
    }).filter(([, value]) => value !== undefined),
  );
  const parsed = exportRequestSchema.safeParse(input);
  if (!parsed.success)
    throw usageErrors(
      parsed.error.issues.map((i) => ({ field: String(i.path[0] ?? "request"), message: i.message })),
    );
  // Resolved against no profiles, a request shows every problem that is not about which profiles
  // exist; "unknown profile" waits for the settings.
  const early = resolveExportRequest(parsed.data, []);
  if (!early.ok) {
    const problems = early.errors.filter(
      (e) => !(parsed.data.profile !== undefined && e.field === "profile"),
    );
    if (problems.length > 0) throw usageErrors(problems);
  }
  return { input: parsed.data, json: values.json };
}

/** The request against the configured profiles; throws UsageError naming every problem. */
export function planExport(args: ExportArgs, profiles: readonly ExportProfile[]): ExportPlan {
  const resolution = resolveExportRequest(args.input, profiles);
  if (!resolution.ok) throw usageErrors(resolution.errors);
  return { request: resolution.value, json: args.json };
}

/**
 * The dataset of an ad-hoc export must be offered in the configured cloud (the HTTP door checks
 * the same when it resolves the request); a profile's was checked when the settings were read.
 */
function refuseDatasetOutsideCloud(plan: ExportPlan, cloud: App["settings"]["cloud"]): void {
  try {
    checkDatasetCloud(queryDataset(plan.request.query), cloud);
  } catch (error) {
    if (!isQueryValidationError(error)) throw error;
    throw usageErrors([{ field: error.field, message: error.detail }]);
  }
}

/** One usage error naming every problem, each as `--flag: message`. */
export function usageErrors(problems: readonly FieldProblem[]): UsageError {
  // One line per problem: text from the command line inside a problem cannot start a line of its own.
  return new UsageError(
    problems.map((p) => printable(`${FLAGS[p.field] ?? p.field}: ${p.message}`)).join("\n"),
  );
}

/** The `export` command: exit 0 published, 1 failed, 2 refused, 3 consent needed. */
export async function exportCommand(
  plan: ExportPlan,
  app: App,
  io: CliIo,
  abortSignal?: AbortSignal,
): Promise<number> {
  refuseDatasetOutsideCloud(plan, app.settings.cloud);
  await app.ensureStorage();
  const started = Date.now();
  let lastProgress = 0;
  const onProgress = (p: ExportProgress): void => {
    if (!io.interactive || Date.now() - lastProgress < 500) return;
    lastProgress = Date.now();
    const rate = p.elapsedMs > 0 ? Math.round((p.rows * 1000) / p.elapsedMs) : 0;
    io.progress?.(
      `${p.pages} pages, ${p.rows.toLocaleString("en-US")} rows, ${rate.toLocaleString("en-US")} rows/s`,
    );
  };
  const outcome = await app.runs.runNow(plan.request, {
    trigger: "cli",
    onProgress,
    ...(abortSignal ? { abortSignal } : {}),
  });
  io.progress?.(undefined);
  const profile = plan.request.profile;
  switch (outcome.kind) {
    case "invalid":
      throw usageErrors(outcome.errors);
    case "conflict":
      io.err(
        `Another export of profile '${profile}' is ${outcome.active.status} (run ${outcome.active.runId}, ${outcome.active.trigger}); try again when it has finished.`,
      );
      return EXIT.failed;
    case "busy":
      // Name the holder, and say that a run which died (killed, host recycled) frees the profile by itself.
      io.err(
        `Another export of profile '${profile}' is running${outcome.holder ? ` (${outcome.holder})` : ""}; try again when it has finished. ` +
          `If that run was stopped or crashed, its lock expires within ${LOCK_LEASE_SECONDS} s.`,
      );
      return EXIT.failed;
    case "limited":
      // Refused like a busy profile: nothing was recorded or sent; the same command works later.
      io.err(`Export refused: ${outcome.message}.`);
      return EXIT.failed;
    case "failed": {
      const error = outcome.run.error;
      io.err(
        `Export ${outcome.run.runId} failed (${error?.reason ?? "internal"}): ${error?.message ?? "no reason recorded"}`,
      );
      io.err("Nothing was published; latest/ still holds the previous snapshot.");
      return error?.reason === "consent_required" ? EXIT.consent : EXIT.failed;
    }
    case "succeeded":
      printSucceeded(outcome.manifest, outcome.run.manifestPath ?? "", plan.json, started, io);
      return EXIT.ok;
  }
}

function printSucceeded(m: Manifest, manifestPath: string, json: boolean, started: number, io: CliIo): void {
  if (json) {
    io.out(JSON.stringify(m, null, 2));
    return;
  }
  io.out(
    `Export ${m.runId} succeeded: ${m.rowCount.toLocaleString("en-US")} rows in ${m.pages} page(s), ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  for (const f of [...m.files, ...(m.changes?.files ?? [])])
    io.out(`  ${f.path}  ${f.bytes.toLocaleString("en-US")} bytes  sha256 ${f.sha256.slice(0, 16)}…`);
  io.out(`  ${manifestPath}`);
  io.out(`  latest: ${m.profile}/latest/`);
  const feed = changeFeedSummary(m);
  if (feed !== undefined) io.out(`  ${feed}`);
  for (const w of m.integrity.warnings) io.err(`warning: ${w}`);
}
