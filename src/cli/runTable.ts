import { printable } from "./io.js";

/** What a line of the run table shows; local records and the API's views both fit. */
export interface RunTableRow {
  readonly runId: string;
  readonly profile: string;
  /** Absent in records of earlier versions (and answers of earlier servers): referrals. */
  readonly dataset?: string | null | undefined;
  readonly trigger?: string | null | undefined;
  readonly status: string;
  readonly rowCount?: number | null | undefined;
  readonly completedAt?: string | null | undefined;
  readonly error?: { readonly reason: string; readonly message: string } | null | undefined;
}

/** The lines `runs list` and `remote runs` print: a header, one line per run, a failure's reason under it. */
export function runTableLines(runs: readonly RunTableRow[]): string[] {
  const lines = [
    [
      "run id".padEnd(24),
      "profile".padEnd(20),
      "dataset".padEnd(18),
      "trigger".padEnd(7),
      "status".padEnd(9),
      "rows".padStart(10),
      "completed",
    ].join("  "),
  ];
  for (const r of runs) {
    lines.push(
      [
        r.runId.padEnd(24),
        r.profile.padEnd(20),
        (r.dataset ?? "referrals").padEnd(18),
        (r.trigger ?? "-").padEnd(7),
        r.status.padEnd(9),
        (typeof r.rowCount === "number" ? String(r.rowCount) : "-").padStart(10),
        r.completedAt ?? "-",
      ].join("  "),
    );
    // A failure's message may quote upstream text: one line, whatever it holds.
    if (r.error) lines.push(`    ${r.error.reason}: ${printable(r.error.message)}`);
  }
  return lines;
}
