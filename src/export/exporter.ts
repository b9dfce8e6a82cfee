import { setImmediate } from "node:timers/promises";
import type { ContainerClient } from "@azure/storage-blob";
import type { ExportFormat } from "./layout.js";
import type { PartnerCenterClient, PagingStats } from "../partnerCenter/client.js";
import { requireDataset, type DatasetDefinition } from "../partnerCenter/datasets/index.js";
import { PartnerCenterError, traceText } from "../partnerCenter/errors.js";
import { REFERRAL_FIELDS, type ReferralRow } from "../partnerCenter/fields.js";
import { toQuerySpec, type ValidatedQuery } from "../partnerCenter/query.js";
import { silentLogger, type Logger } from "../logging/logger.js";
import { ChangeFeed } from "./changeFeed/changeFeed.js";
import { feedShapeOf } from "./changeFeed/compared.js";
import { createRowNormalizer, RowValueError } from "./datasetRows.js";
import { ExportError, toExportError } from "./errors.js";
import type { FormatWriter } from "./formats/formatWriter.js";
import { openFormatWriter } from "./formats/openFormatWriter.js";
import { IdTracker } from "./idTracker.js";
import { dataFileName, runFolder, MANIFEST_NAME } from "./layout.js";
import {
  manifestFiles,
  type Manifest,
  type ManifestChangeFeedStatus,
  type ManifestFile,
  type Trigger,
} from "./manifest.js";
import { findCountField, normalizeGroupRow, normalizeReferral } from "./normalize.js";
import { publishLatest, type PublishOptions } from "./publish.js";
import { snapshotDateOf } from "./runId.js";
import {
  datasetColumnFields,
  describeColumns,
  describeDatasetColumns,
  writeSchemaFile,
  type ColumnSchema,
} from "./schema.js";

export interface ExportJob {
  readonly runId: string;
  readonly profile: string;
  /** A configured profile's run, or an ad-hoc export (recorded in the manifest). */
  readonly source: "profile" | "adhoc";
  readonly trigger: Trigger;
  readonly query: ValidatedQuery;
  readonly formats: readonly ExportFormat[];
  /** Sent to Partner Center as MS-CorrelationId; defaults to a fresh one per run. */
  readonly correlationId: string;
}

export interface ExportProgress {
  readonly pages: number;
  readonly rows: number;
  readonly elapsedMs: number;
}

/** What the exporter needs of the Partner Center client: pages of the query's dataset. */
export type ExportClient = Pick<PartnerCenterClient, "readReferralPages">;

export interface ExportEnvironment {
  readonly client: ExportClient;
  readonly container: ContainerClient;
  readonly logger?: Logger;
  readonly csvFormulaGuard: boolean;
  readonly csvBom: boolean;
  readonly deadlineSeconds: number;
  /** What a row count that disagrees with Partner Center's total does: fail the run, or publish with a warning. */
  readonly onCountMismatch: "fail" | "warn";
  readonly abortSignal?: AbortSignal;
  readonly onProgress?: (progress: ExportProgress) => void;
  /** Renews the profile lock and throws if it is lost: called before each change to `latest/`. */
  readonly confirmLock?: () => Promise<void>;
  /** Observes the publish into `latest/` step by step. */
  readonly onPublishStep?: PublishOptions["onStep"];
  readonly now?: () => Date;
}

export interface ExportResult {
  readonly manifest: Manifest;
  readonly manifestPath: string;
}

const MAX_REQUEST_IDS = 1_000;
const MAX_DROPPED_FIELDS = 100;
/**
 * Rows parsed and formatted together: few enough that they die before V8's young generation is
 * collected twice, so they are never promoted (at 500 the old space filled with dead rows between
 * full collections and a million-row export peaked 60-80 MB higher).
 */
const SLICE_ROWS = 100;
/** Rows between two turns of the event loop while a page is processed (see the page loop). */
const YIELD_EVERY_ROWS = 1_000;

const REFERRALS = requireDataset("referrals");

/** The dataset a query reads: the one it names, or referrals. */
export function datasetOf(query: ValidatedQuery): DatasetDefinition {
  return query.dataset ?? REFERRALS;
}

/**
 * Why a run of a dataset other than referrals writes no change feed: it is grouped, or the
 * dataset's rows have no key. Undefined when it writes one.
 */
export function changeFeedStatus(
  dataset: DatasetDefinition,
  grouped: boolean,
): ManifestChangeFeedStatus | undefined {
  if (grouped)
    return {
      available: false,
      reason: "grouped rows are aggregates without identity, so no change feed is written",
    };
  if (dataset.key === null)
    return {
      available: false,
      reason: `${dataset.title} rows have no key (${dataset.noKeyReason ?? "no field identifies a row"}), so snapshots cannot be compared row by row`,
    };
  return undefined;
}

/**
 * Runs one export: pages from Partner Center stream through CSV/JSON/Parquet into the run's
 * folder, the manifest is written last, and only then is `latest/` updated. Any failure
 * removes what the run wrote and leaves `latest/` as it was.
 */
export async function runExport(job: ExportJob, env: ExportEnvironment): Promise<ExportResult> {
  const now = env.now ?? (() => new Date());
  const startedAt = now();
  const logger = (env.logger ?? silentLogger).child({
    runId: job.runId,
    correlationId: job.correlationId,
    profile: job.profile,
  });
  const folder = runFolder(job.profile, job.runId);
  const dataset = datasetOf(job.query);
  const referrals = dataset.id === "referrals";
  const grouped = (job.query.groupby?.length ?? 0) > 0;
  const stats: PagingStats = { pages: 0, throttled: 0, retries: 0, concurrency: 1 };
  const deadline = startedAt.getTime() + env.deadlineSeconds * 1000;
  const abort = new AbortController();
  const signal = env.abortSignal ? AbortSignal.any([env.abortSignal, abort.signal]) : abort.signal;

  let writers: FormatWriter[] = [];
  let columns: string[] = [];
  let schema: ColumnSchema[] = [];
  let changeFeed: ChangeFeed | undefined;
  let countField: string | undefined;
  let groupColumns: ReadonlySet<string> = new Set();
  const dropped = new Set<string>();
  const noteDropped = (name: string): void => {
    dropped.add(name);
  };
  // Rows of other datasets: typed by the registry, on the first page (see below).
  let normalizeRow: ((raw: ReferralRow) => ReferralRow) | undefined;
  const requestIds: string[] = [];
  // Referrals are de-duplicated on their id; other datasets keep every row as sent (their keys are
  // partly inferred, and the count check below still catches paging that repeats rows).
  const ids = grouped || !referrals ? undefined : new IdTracker();
  let duplicates = 0;
  let rowCount = 0;
  let totalReported: number | undefined;

  logger.info("Export started", {
    trigger: job.trigger,
    formats: job.formats,
    query: toQuerySpec(job.query),
    ...(referrals ? {} : { dataset: dataset.id }),
  });
  try {
    // Raw profiles of a keyed dataset get a change feed against the snapshot latest/ names now.
    const feedShape = grouped ? undefined : feedShapeOf(dataset);
    if (feedShape)
      changeFeed = await ChangeFeed.open({
        shape: feedShape,
        checkKeys: !referrals,
        container: env.container,
        profile: job.profile,
        runId: job.runId,
        folder,
        query: toQuerySpec(job.query),
        csvFormulaGuard: env.csvFormulaGuard,
        csvBom: env.csvBom,
        writeBaseline: job.formats.includes("csv") || job.formats.includes("json"),
        signal,
        logger,
      });
    const pages = env.client.readReferralPages(
      job.query,
      { correlationId: job.correlationId, deadline, abortSignal: signal },
      stats,
    );
    for await (const page of pages) {
      if (page.index === 0) {
        totalReported = page.totalCount;
        if (!referrals) {
          const fields = datasetColumnFields(dataset, job.query.groupby);
          columns = fields.map((f) => f.name);
          schema = describeDatasetColumns(fields);
          normalizeRow = createRowNormalizer(fields, {
            nullSentinels: dataset.nullSentinels,
            onExtra: (name) => {
              if (dropped.size < MAX_DROPPED_FIELDS) dropped.add(name);
            },
          });
        } else if (grouped) {
          const first = page.rows(0, 1)[0];
          countField = first ? findCountField(first, job.query.groupby ?? []) : undefined;
          columns = [...(job.query.groupby ?? []), countField ?? "count"];
          groupColumns = new Set(columns);
        } else {
          columns = [...REFERRAL_FIELDS];
        }
        if (referrals) schema = describeColumns(columns, { grouped, countField });
        writers = openWriters(job, env, folder, schema, dataset.fileStem, signal);
      }
      if (requestIds.length < MAX_REQUEST_IDS && page.trace.requestId) requestIds.push(page.trace.requestId);
      // A slice of rows at a time is parsed, normalised and rendered by every format, so rows never
      // outlive their slice; each file's text for the page then goes out as a few large chunks.
      for (let from = 0; from < page.rowCount; from += SLICE_ROWS) {
        // Let the event loop read the pages in flight now and then: their bytes otherwise wait in
        // the socket until this page is done, and the next page arrives late.
        if (from > 0 && from % YIELD_EVERY_ROWS === 0) await setImmediate();
        const rows: ReferralRow[] = [];
        const slice = page.rows(from, Math.min(page.rowCount, from + SLICE_ROWS));
        if (normalizeRow) {
          normalizeSlice(normalizeRow, slice, rows, page.index, from, page.trace);
          rowCount += rows.length;
          if (changeFeed) await changeFeed.add(rows);
          for (const writer of writers) writer.write(rows);
          continue;
        }
        for (const raw of slice) {
          let row: ReferralRow;
          if (ids) {
            row = normalizeReferral(raw, dropped.size < MAX_DROPPED_FIELDS ? noteDropped : undefined);
            if (!ids.add(row.id as string)) {
              duplicates++;
              continue;
            }
          } else {
            row = normalizeGroupRow(
              raw,
              countField,
              groupColumns,
              dropped.size < MAX_DROPPED_FIELDS ? noteDropped : undefined,
            );
          }
          rows.push(row);
        }
        rowCount += rows.length;
        if (changeFeed) await changeFeed.add(rows);
        for (const writer of writers) writer.write(rows);
      }
      // A page at a time, hand each file's bytes to its blob and wait until each file has no more
      // blocks on their way than it may have, and each encoder no more row groups; a failed upload
      // or encoder rejects here. (Not raced against the uploads' own promises: those stay pending
      // for the run, and every race would leave a reaction on them.)
      await Promise.all([...writers.map(async (w) => w.flush()), changeFeed?.flush()]);
      env.onProgress?.({ pages: stats.pages, rows: rowCount, elapsedMs: Date.now() - startedAt.getTime() });
    }
    // One file after another (an encoder finishes its last row group first); the commits overlap.
    for (const writer of writers) await writer.end();
    const written = await Promise.all(writers.map((w) => w.result));

    const warnings: string[] = [];
    const countMatches =
      totalReported === undefined
        ? null
        : totalReported === rowCount + duplicates || totalReported === rowCount;
    if (countMatches === false)
      warnings.push(
        `Partner Center reported ${totalReported ?? 0} rows but the export received ${rowCount + duplicates}`,
      );
    if (duplicates > 0)
      warnings.push(
        `${duplicates} duplicate referral id(s) arrived (the data changed while paging) and were removed`,
      );
    if (warnings.length > 0) {
      if (env.onCountMismatch === "fail")
        throw new ExportError(
          "count_mismatch",
          `${warnings.join("; ")}. The run was not published; set EXPORT_ON_COUNT_MISMATCH=warn to publish such runs with a warning`,
        );
      for (const w of warnings) logger.warn(w);
    }

    const files: ManifestFile[] = manifestFiles(writers, written, rowCount);
    if (writers.length === 0) {
      // Not even a first page: cannot happen without an error, but never publish nothing.
      throw new ExportError("upstream", "Partner Center returned no page");
    }
    const changes = changeFeed ? await changeFeed.finish() : null;
    // Referrals never carried this: their `changes` (null when grouped) says it all.
    const feedStatus = referrals ? undefined : changeFeedStatus(dataset, grouped);
    const schemaFile = await writeSchemaFile(env.container, folder, schema, grouped, signal, dataset);
    const manifest: Manifest = {
      schemaVersion: 1,
      runId: job.runId,
      profile: job.profile,
      dataset: dataset.id,
      source: job.source,
      trigger: job.trigger,
      snapshotDate: snapshotDateOf(job.runId),
      query: toQuerySpec(job.query),
      startedAt: startedAt.toISOString(),
      completedAt: now().toISOString(),
      rowCount,
      totalCountReported: totalReported ?? null,
      pages: stats.pages,
      partnerCenter: {
        correlationId: job.correlationId,
        requestIds,
        retries: stats.retries,
        throttled: stats.throttled,
      },
      columns,
      schema,
      schemaFile,
      droppedFields: [...dropped].sort(),
      integrity: { duplicatesRemoved: duplicates, countMatchesTotal: countMatches, warnings },
      files,
      changes,
      ...(feedStatus ? { changeFeed: feedStatus } : {}),
    };
    const manifestPath = `${folder}${MANIFEST_NAME}`;
    const text = JSON.stringify(manifest, null, 2);
    await env.container.getBlockBlobClient(manifestPath).upload(text, Buffer.byteLength(text), {
      blobHTTPHeaders: { blobContentType: "application/json; charset=utf-8" },
      abortSignal: signal,
    });
    await publishLatest(env.container, job.profile, manifest, text, {
      signal,
      ...(env.confirmLock ? { confirmLock: env.confirmLock } : {}),
      ...(env.onPublishStep ? { onStep: env.onPublishStep } : {}),
      ...(env.now ? { now: env.now } : {}),
    });
    logger.info("Export succeeded", {
      rows: rowCount,
      pages: stats.pages,
      ms: Date.now() - startedAt.getTime(),
    });
    return { manifest, manifestPath };
  } catch (error) {
    abort.abort();
    // Destroying with an error makes the uploads reject, so no block list is ever committed.
    for (const writer of writers) writer.abort(new Error("export aborted"));
    await Promise.allSettled(writers.map((w) => w.result));
    await changeFeed?.cancel();
    const failure = toExportError(error);
    logger.error("Export failed", { reason: failure.reason, error: failure.message });
    await removeRunFolder(env.container, folder, logger);
    throw failure;
  }
}

/**
 * Normalises a slice of rows of a dataset other than referrals into `out`. A value its column cannot
 * hold fails the run as any malformed page does, naming the page, the row and the field.
 */
function normalizeSlice(
  normalizeRow: (raw: ReferralRow) => ReferralRow,
  slice: readonly ReferralRow[],
  out: ReferralRow[],
  pageIndex: number,
  from: number,
  trace: PartnerCenterError["trace"],
): void {
  let i = 0;
  try {
    for (; i < slice.length; i++) out.push(normalizeRow(slice[i] as ReferralRow));
  } catch (error) {
    if (!(error instanceof RowValueError)) throw error;
    throw new PartnerCenterError(
      "bad_response",
      `Partner Center sent an unexpected page ${pageIndex}: row ${from + i} ${error.message} (${traceText(trace)})`,
      { trace, cause: error },
    );
  }
}

function openWriters(
  job: ExportJob,
  env: ExportEnvironment,
  folder: string,
  schema: readonly ColumnSchema[],
  fileStem: string,
  signal: AbortSignal,
): FormatWriter[] {
  return job.formats.map((format) =>
    openFormatWriter(format, schema, {
      container: env.container,
      path: `${folder}${dataFileName(format, fileStem)}`,
      signal,
      csvFormulaGuard: env.csvFormulaGuard,
      csvBom: env.csvBom,
    }),
  );
}

/** Best effort: a failed run should leave nothing behind, but a failed delete must not hide the real error. */
async function removeRunFolder(container: ContainerClient, folder: string, logger: Logger): Promise<void> {
  try {
    let n = 0;
    for await (const blob of container.listBlobsFlat({ prefix: folder })) {
      await container.deleteBlob(blob.name, { deleteSnapshots: "include" });
      if (++n > 100) break;
    }
  } catch (error) {
    logger.warn("Could not remove the failed run's files", {
      folder,
      error: error instanceof Error ? error.message : String(error),
    });
  }
}
