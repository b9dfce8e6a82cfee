import { runTableLines } from "../runTable.js";
import { redact } from "../../common/redact.js";
import { printable, type CliIo } from "../io.js";
import type { RunView } from "./apiClient.js";
import { describeChanges } from "../../export/manifest.js";

/**
 * Writes `text` to stdout with the product's redaction, except for `keep`: values the user asked
 * for that redaction would spoil (a read link's `sig=`, a continuation token). They are put back
 * after redaction, so nothing else in the text escapes it.
 */
export function outKeeping(rawOut: (line: string) => void, text: string, keep: readonly string[]): void {
  const values = [...new Set(keep)].filter((v) => v !== "" && text.includes(v));
  let masked = text;
  values.forEach((value, i) => {
    masked = masked.split(value).join(placeholder(i));
  });
  let out = redact(masked);
  values.forEach((value, i) => {
    out = out.split(placeholder(i)).join(value);
  });
  rawOut(out.split("\n").map(printable).join("\n"));
}

const placeholder = (i: number): string => `@@kept-${i}@@`;

/** Every read link in a run view, so `outKeeping` leaves them usable. */
export function readLinkUrls(run: RunView): string[] {
  const links = [run.manifestReadLink?.url, ...(run.files ?? []).map((f) => f.readLink?.url)];
  // Only plain URLs (nothing JSON would escape) are kept as they are: anything else is left to redaction.
  return links.filter((u): u is string => u !== undefined && /^https?:\/\/[^\s"\\]+$/.test(u));
}

const rows = (n: number): string => n.toLocaleString("en-US");
const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/** One progress line of a run being waited for, on stderr. */
export function progressLine(run: RunView, elapsedMs: number): string {
  const parts = [run.status];
  if (run.attempts) parts.push(`attempt ${run.attempts}`);
  if (typeof run.rowCount === "number")
    parts.push(`${rows(run.rowCount)} rows${run.status === "running" ? " so far" : ""}`);
  const retry =
    run.lastError && run.status !== "failed"
      ? `; the last attempt failed (${run.lastError.reason}: ${run.lastError.message}), it is retried`
      : "";
  return printable(`Run ${run.runId}: ${parts.join(", ")} (${seconds(elapsedMs)})${retry}`);
}

/**
 * The end of a run, as a local export ends: stdout the summary (or the view as JSON), stderr the
 * failure with its reason and what that means for `latest/`.
 */
export function printOutcome(run: RunView, json: boolean, io: CliIo): void {
  if (json) io.out(JSON.stringify(run, null, 2));
  if (run.status === "failed") {
    io.err(
      printable(
        `Export ${run.runId} failed (${run.error?.reason ?? "internal"}): ${run.error?.message ?? "no reason recorded"}`,
      ),
    );
    io.err("Nothing was published; latest/ still holds the previous snapshot.");
    return;
  }
  if (json) return;
  const took = typeof run.durationMs === "number" ? `, ${seconds(run.durationMs)}` : "";
  io.out(`Export ${run.runId} succeeded: ${rows(run.rowCount ?? 0)} rows${took}`);
  for (const f of run.files ?? [])
    io.out(
      `  ${f.path}  ${f.bytes === undefined ? "?" : rows(f.bytes)} bytes${f.sha256 ? `  sha256 ${f.sha256.slice(0, 16)}…` : ""}`,
    );
  if (run.manifestPath) io.out(`  ${run.manifestPath}`);
  io.out(`  latest: ${run.profile}/latest/`);
  if (run.changes) io.out(`  ${describeChanges(run.changes)}`);
  for (const w of run.warnings ?? []) io.err(`warning: ${w}`);
}

/** `remote status`: one run, field by field; read links as they are, since they were asked for. */
export function printRun(run: RunView, io: CliIo, rawOut: (line: string) => void): void {
  const line = (label: string, value: string | number | null | undefined): void => {
    if (value !== undefined && value !== null && value !== "") io.out(`${label.padEnd(11)}${value}`);
  };
  line("Run", run.runId);
  line("Profile", `${run.profile}${run.trigger ? ` (${run.trigger})` : ""}`);
  line("Status", run.status);
  line("Queued", run.queuedAt);
  line("Started", run.startedAt);
  line(
    "Completed",
    run.completedAt &&
      `${run.completedAt}${typeof run.durationMs === "number" ? ` (${seconds(run.durationMs)})` : ""}`,
  );
  line("Attempts", run.attempts);
  line("Rows", typeof run.rowCount === "number" ? rows(run.rowCount) : undefined);
  line("Manifest", run.manifestPath);
  if (run.manifestReadLink)
    outKeeping(
      rawOut,
      `  read link until ${run.manifestReadLink.expiresOn ?? "?"}: ${run.manifestReadLink.url}`,
      readLinkUrls(run),
    );
  for (const f of run.files ?? []) {
    io.out(
      `  ${f.path}  ${f.bytes === undefined ? "?" : rows(f.bytes)} bytes${f.sha256 ? `  sha256 ${f.sha256.slice(0, 16)}…` : ""}`,
    );
    if (f.readLink)
      outKeeping(
        rawOut,
        `    read link until ${f.readLink.expiresOn ?? "?"}: ${f.readLink.url}`,
        readLinkUrls(run),
      );
  }
  if (run.changes) {
    io.out(`Changes    ${describeChanges(run.changes)}`);
    for (const path of run.changes.files) io.out(`  ${path}`);
  }
  for (const w of run.warnings ?? []) io.out(`Warning    ${w}`);
  if (run.error) io.out(`Error      ${run.error.reason}: ${run.error.message}`);
  if (run.lastError && run.status !== "failed")
    io.out(`Last error ${run.lastError.reason}: ${run.lastError.message} (the run is retried)`);
}

/** `remote runs`: the table `runs list` prints, from the API's views. */
export function printRunTable(runs: readonly RunView[], io: CliIo): void {
  if (runs.length === 0) {
    io.out("No runs.");
    return;
  }
  for (const line of runTableLines(runs)) io.out(line);
}
