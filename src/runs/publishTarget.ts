import type { ContainerClient } from "@azure/storage-blob";
import { readLatestManifest } from "../export/latestManifest.js";
import type { DatasetId } from "../partnerCenter/datasets/index.js";
import { sameQuery, type QuerySpec } from "../partnerCenter/query.js";
import type { ExportSource, FieldProblem } from "./exportRequest.js";
import type { ExportProfile } from "./profiles.js";

/**
 * An ad-hoc export may never publish into a configured profile's `latest/`: refused when the
 * name is a profile here, or when that `latest/` holds a snapshot a profile published (or, for
 * manifests older than the `source` field, a snapshot of another query). Checked against what
 * storage holds, not only against this process's settings.
 *
 * Nor may one `latest/` hold the datasets of ad-hoc exports by turns: an ad-hoc export without a
 * name publishes under its dataset's own folder (`adhoc` for referrals, `adhoc-<dataset>` for the
 * others; see adhocFolder), and one that names a folder whose `latest/` holds another dataset's
 * snapshot is refused (a manifest without `dataset` is a referrals snapshot).
 */
export async function publishTargetProblem(
  container: ContainerClient,
  profiles: readonly ExportProfile[],
  folder: string,
  source: ExportSource,
  query: QuerySpec,
  dataset: DatasetId = "referrals",
): Promise<FieldProblem | undefined> {
  if (source !== "adhoc") return undefined;
  if (profiles.some((p) => p.name === folder))
    return {
      field: "name",
      message: `'${folder}' is a configured profile; run it by profile, or give the ad-hoc export another name`,
    };
  const latest = await readLatestManifest(container, folder);
  if (latest === "missing") return undefined;
  const published =
    latest === "unreadable"
      ? "a snapshot this export cannot read"
      : latest.source === "profile"
        ? `the snapshot of profile '${folder}' (run ${latest.runId})`
        : latest.dataset !== dataset
          ? `a snapshot of dataset ${latest.dataset} (run ${latest.runId}), and this export is of dataset ${dataset}`
          : latest.source === undefined && !sameQuery(latest.query, query)
            ? `another query's snapshot (run ${latest.runId})`
            : undefined;
  if (published === undefined) return undefined;
  return {
    field: "name",
    message: `'${folder}/latest/' holds ${published}; an ad-hoc export cannot replace it. Give the ad-hoc export another name`,
  };
}
