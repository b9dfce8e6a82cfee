import { randomUUID } from "node:crypto";
import { FORMATS, PROFILE_NAME, type ExportFormat } from "../config/profiles.js";
import type { ExportProfile } from "../config/settings.js";
import { ExportError } from "../export/errors.js";
import { runExport, type ExportProgress, type ExportResult } from "../export/exporter.js";
import { newRunId } from "../export/runId.js";
import { LOCK_LEASE_SECONDS, ProfileLocks } from "../export/profileLock.js";
import { QueryValidationError, validateQuery, type ValidatedQuery } from "../partnerCenter/query.js";
import type { Services } from "../wiring/services.js";
import { EXIT, UsageError, type CliIo, parseCliArgs } from "./io.js";

export const EXPORT_HELP = `Usage: referrals-export export (--profile NAME | [--filter F] [--groupby A,B] [--aggregation-level day|week|month]) [--format csv,json,parquet] [--name NAME] [--json]

Runs one export now and publishes it to {profile}/snapshot_date=…/run_id=…/ and {profile}/latest/.
  --profile NAME            an export profile from EXPORT_PROFILES
  --filter F                Partner Center filter, e.g. "status eq 'Won' and createdDate ge '2026-01-01'"
  --groupby A,B             group by these fields (counts per group)
  --aggregation-level L     day, week or month; needs a date field in --groupby
  --format csv,json,parquet files to write (default: the profile's, or csv,json)
  --name NAME               folder name for an ad-hoc export (default: adhoc)
  --json                    print the manifest as JSON instead of a summary`;

export interface ExportPlan {
  readonly profile: string;
  readonly query: ValidatedQuery;
  readonly formats: readonly ExportFormat[];
}

/** Turns arguments into a validated plan, or throws UsageError naming what is wrong. */
export function planExport(
  args: readonly string[],
  profiles: readonly ExportProfile[],
): ExportPlan & { json: boolean } {
  const { values } = parseCliArgs({
    args: [...args],
    options: {
      profile: { type: "string" },
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
  const adHoc =
    values.filter !== undefined || values.groupby !== undefined || values["aggregation-level"] !== undefined;
  let formats: ExportFormat[] | undefined;
  if (values.format !== undefined) {
    const parsed = FORMATS.safeParse(values.format.split(",").map((f) => f.trim()));
    if (!parsed.success)
      throw new UsageError(
        `--format ${parsed.error.issues[0]?.message ?? "is invalid"} (got '${values.format}')`,
      );
    formats = parsed.data;
  }
  if (values.profile !== undefined) {
    if (adHoc || values.name !== undefined)
      throw new UsageError(
        "--profile cannot be combined with --filter, --groupby, --aggregation-level or --name",
      );
    const profile = profiles.find((p) => p.name === values.profile);
    if (!profile)
      throw new UsageError(
        `unknown profile '${values.profile.slice(0, 80)}' (EXPORT_PROFILES has: ${profiles.map((p) => p.name).join(", ") || "none"})`,
      );
    return {
      profile: profile.name,
      query: profile.query,
      formats: formats ?? profile.formats,
      json: values.json,
    };
  }
  const name = PROFILE_NAME.safeParse(values.name ?? "adhoc");
  if (!name.success) throw new UsageError(`--name ${name.error.issues[0]?.message ?? "is invalid"}`);
  // A configured profile's latest/ holds that profile's query; an ad-hoc query must not replace it.
  if (profiles.some((p) => p.name === name.data))
    throw new UsageError(
      `--name '${name.data}' is a profile in EXPORT_PROFILES; run it with --profile ${name.data}, or give the ad-hoc export another name`,
    );
  try {
    const query = validateQuery({
      ...(values.filter !== undefined ? { filter: values.filter } : {}),
      ...(values.groupby !== undefined ? { groupby: values.groupby } : {}),
      ...(values["aggregation-level"] !== undefined ? { aggregationLevel: values["aggregation-level"] } : {}),
    });
    return { profile: name.data, query, formats: formats ?? ["csv", "json"], json: values.json };
  } catch (error) {
    if (error instanceof QueryValidationError) {
      const flag = error.field === "aggregationLevel" ? "--aggregation-level" : `--${error.field}`;
      throw new UsageError(`${flag}: ${error.message.replace(/^\w+: /, "")}`);
    }
    throw error;
  }
}

/** The `export` command: exit 0 published, 1 failed, 3 consent needed. */
export async function exportCommand(
  plan: ExportPlan & { json: boolean },
  services: Services,
  io: CliIo,
): Promise<number> {
  await services.ensureStorage();
  const runId = newRunId();
  // Same per-profile exclusion as the queue worker: one export of a profile at a time.
  const locks = new ProfileLocks(services.locksContainer, { logger: services.logger });
  const lock = await locks.tryAcquire(plan.profile, `cli:${runId}`);
  if (!lock) {
    // Name the holder, and say that a run which died (killed, host recycled) frees the profile by itself.
    const holder = await locks.holder(plan.profile);
    io.err(
      `Another export of profile '${plan.profile}' is running${holder ? ` (${holder})` : ""}; try again when it has finished. ` +
        `If that run was stopped or crashed, its lock expires within ${LOCK_LEASE_SECONDS} s.`,
    );
    return EXIT.failed;
  }
  try {
    return await exportLocked(plan, services, io, runId, lock.signal);
  } finally {
    await lock.release();
  }
}

async function exportLocked(
  plan: ExportPlan & { json: boolean },
  services: Services,
  io: CliIo,
  runId: string,
  abortSignal: AbortSignal,
): Promise<number> {
  const started = Date.now();
  let lastProgress = 0;
  const onProgress = (p: ExportProgress): void => {
    if (!io.interactive || Date.now() - lastProgress < 500) return;
    lastProgress = Date.now();
    const rate = p.elapsedMs > 0 ? Math.round((p.rows * 1000) / p.elapsedMs) : 0;
    process.stderr.write(
      `\r${p.pages} pages, ${p.rows.toLocaleString("en-US")} rows, ${rate.toLocaleString("en-US")} rows/s   `,
    );
  };
  let result: ExportResult;
  try {
    result = await runExport(
      {
        runId,
        profile: plan.profile,
        trigger: "cli",
        query: plan.query,
        formats: plan.formats,
        correlationId: randomUUID(),
      },
      services.exportEnvironment({ onProgress, abortSignal }),
    );
  } catch (error) {
    if (io.interactive) process.stderr.write("\n");
    if (error instanceof ExportError) {
      io.err(`Export ${runId} failed (${error.reason}): ${error.message}`);
      io.err("Nothing was published; latest/ still holds the previous snapshot.");
      return error.reason === "consent_required" ? EXIT.consent : EXIT.failed;
    }
    throw error;
  }
  if (io.interactive) process.stderr.write("\n");
  const m = result.manifest;
  if (plan.json) {
    io.out(JSON.stringify(m, null, 2));
    return EXIT.ok;
  }
  io.out(
    `Export ${m.runId} succeeded: ${m.rowCount.toLocaleString("en-US")} rows in ${m.pages} page(s), ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  for (const f of m.files)
    io.out(`  ${f.path}  ${f.bytes.toLocaleString("en-US")} bytes  sha256 ${f.sha256.slice(0, 16)}…`);
  io.out(`  ${result.manifestPath}`);
  io.out(`  latest: ${m.profile}/latest/`);
  for (const w of m.integrity.warnings) io.err(`warning: ${w}`);
  return EXIT.ok;
}
