import { silentLogger, type Logger } from "../../logging/logger.js";
import { sameQuery } from "../../partnerCenter/query.js";
import { readLatestManifest } from "../latestManifest.js";
import type { Manifest, ManifestChanges } from "../manifest.js";
import {
  BASELINE_FILE_NAME,
  BaselineCursor,
  BaselineWriter,
  checkBaseline,
  readBaseline,
  type BaselineLine,
} from "./baseline.js";
import { IdTracker } from "../idTracker.js";
import { keyOf, REFERRALS_FEED, type FeedShape } from "./compared.js";
import { SnapshotDiff, type ChangeCounts } from "./diff.js";
import { FeedWriter, type FeedWriterOptions } from "./feedWriter.js";
import { mergeBaselines } from "./merge.js";
import { comparableFile, snapshotRows, type SnapshotFile } from "./previousSnapshot.js";
import { fingerprintOfRow, lastFingerprintB, SnapshotIndex } from "./snapshotIndex.js";

/** What the previous run is compared through: its baseline, or (an earlier version's run) a data file. */
type PreviousBaseline =
  | { readonly kind: "baseline"; readonly path: string; readonly rowCount: number }
  | { readonly kind: "file"; readonly file: SnapshotFile };

export interface ChangeFeedOptions extends FeedWriterOptions {
  /** What the feed identifies rows by and compares: the dataset's (default: referrals). */
  readonly shape?: FeedShape;
  /**
   * Write this run's baseline for the next run. Runs that write CSV or JSON do; a Parquet-only run
   * does not (its baseline's memory would push a million-referral Parquet export past its 256 MB),
   * so the run after it has nothing to compare with and starts a new baseline, as before.
   */
  readonly writeBaseline: boolean;
  readonly profile: string;
  readonly runId: string;
  readonly query: Manifest["query"];
  readonly signal: AbortSignal;
  readonly logger?: Logger;
  /** Rows that may wait for their match when the two baselines are walked side by side (merge.ts). */
  readonly maxWaiting?: number;
  /**
   * Check that no two rows of the run share a key. Referrals need not: the exporter drops repeated
   * ids before they get here. Other datasets keep every row as sent, and some of their keys are
   * inferred where the documentation is silent.
   */
  readonly checkKeys?: boolean;
}

/**
 * The change feed of a raw export of a dataset with a key (compared.ts: FeedShape; referrals here,
 * the same for every keyed dataset). The previous run's baseline (baseline.ts: keys, fingerprints
 * of the compared fields, and their original values) is named by the manifest `latest/` holds when this
 * run starts. While the export streams, each referral goes into this run's own baseline, and
 * nothing else: the comparison waits for the end, when the data files are committed, and nothing
 * of the size of the snapshot sits in memory beside the pages and blocks of a streaming export.
 * At the end the two baselines are walked side by side (merge.ts), each read once: same ids are
 * compared from their fingerprints on the spot, and only referrals whose place differs between the
 * two runs wait for their match. Values are parsed only for the referrals the feed reports.
 *
 * When the two runs list their referrals in orders too different for that (more than MAX_WAITING
 * referrals waiting), the comparison starts over through a compact index of the previous snapshot,
 * id -> fingerprint (snapshotIndex.ts, 21 bytes a referral): this run's baseline is read back
 * against it, new ids written as "added" and ids whose fingerprint differs marked, their current
 * values kept (diff.ts); then the previous baseline is read a second time for the "removed" and
 * "changed" rows. A previous run of an earlier version has no baseline: its JSON file (original
 * values) is indexed instead, or its CSV (spreadsheet guard undone). A run that writes no baseline
 * of its own (Parquet only) compares while it streams, the index loaded before its first rows.
 */
export class ChangeFeed {
  private readonly abort = new AbortController();
  private readonly signal: AbortSignal;
  /** Replaced once, empty, if a comparison starts over (see compareAtEnd). */
  private feed: FeedWriter;
  /** This run's baseline for the next run; absent when the run writes neither CSV nor JSON. */
  private readonly baselineOut: BaselineWriter | undefined;
  /**
   * The diff against the previous snapshot, indexed before the first rows, when the run compares
   * as it streams (it writes no baseline); undefined otherwise.
   */
  private readonly ready: Promise<SnapshotDiff | undefined>;
  private readonly shape: FeedShape;
  /** Keys seen in this run, when they are checked; rows whose key was seen before are counted. */
  private readonly keys: IdTracker | undefined;
  private repeatedKeys = 0;

  private constructor(
    private readonly options: ChangeFeedOptions,
    private readonly previousRunId: string | null,
    private readonly note: string | null,
    private readonly baseline: PreviousBaseline | undefined,
  ) {
    this.signal = AbortSignal.any([options.signal, this.abort.signal]);
    this.shape = options.shape ?? REFERRALS_FEED;
    this.keys = options.checkKeys === true ? new IdTracker() : undefined;
    this.feed = new FeedWriter(options, this.signal);
    this.baselineOut = options.writeBaseline
      ? new BaselineWriter(
          options.container,
          `${options.folder}${BASELINE_FILE_NAME}`,
          this.signal,
          this.shape,
        )
      : undefined;
    this.ready = baseline && !this.baselineOut ? this.load(baseline) : Promise.resolve(undefined);
    this.ready.catch(() => undefined);
  }

  /** Finds the previous snapshot and starts reading it; the feed's files are opened at once. */
  static async open(options: ChangeFeedOptions): Promise<ChangeFeed> {
    const logger = options.logger ?? silentLogger;
    const shape = options.shape ?? REFERRALS_FEED;
    const previous = await readLatestManifest(options.container, options.profile, options.signal);
    let note: string | null = null;
    let baseline: PreviousBaseline | undefined;
    if (previous === "missing") note = "No previous snapshot: this is the profile's first published run";
    else if (previous === "unreadable") note = "The previous manifest could not be read";
    else if (previous.runId === options.runId) note = "This run is already the latest snapshot";
    else if (previous.dataset !== shape.dataset)
      note = `The previous snapshot (${previous.runId}) exported another dataset (${previous.dataset})`;
    else if (!sameQuery(options.query, previous.query))
      note = `The previous snapshot (${previous.runId}) used a different query`;
    else {
      const saved = previous.changes?.baseline;
      const file = saved ? undefined : comparableFile(previous);
      baseline = saved
        ? { kind: "baseline", path: saved.path, rowCount: previous.rowCount ?? 0 }
        : file && { kind: "file", file };
      if (!baseline)
        note = `The previous snapshot (${previous.runId}) has no baseline, CSV or JSON file to compare with`;
    }
    const previousRunId = baseline && typeof previous === "object" ? previous.runId : null;
    if (note) logger.info("Change feed starts a new baseline", { note });
    // A baseline that is gone or of another version fails the run at its start, not after it streamed.
    if (baseline?.kind === "baseline")
      await checkBaseline(options.container, baseline.path, options.signal, shape);
    return new ChangeFeed(options, previousRunId, note, baseline);
  }

  /**
   * Notes a slice of normalised rows: into this run's baseline; in a run that compares as it
   * streams, also against the previous snapshot ("added" rows into the feed at once).
   */
  async add(rows: readonly Readonly<Record<string, unknown>>[]): Promise<void> {
    const diff = await this.ready;
    const out = this.baselineOut;
    if (!out && !diff) return;
    const { shape } = this;
    for (const row of rows) {
      const key = keyOf(row, shape);
      if (key === null) continue;
      if (this.keys && !this.keys.add(key)) {
        this.repeatedKeys++;
        continue;
      }
      const fingerprintA = fingerprintOfRow(row, shape);
      const fingerprintB = lastFingerprintB();
      out?.add(key, fingerprintA, fingerprintB, row);
      diff?.addCurrent(key, row, fingerprintA, fingerprintB);
    }
    out?.commitLines();
    if (diff) await this.feed.drained();
  }

  /** A page at a time: waits while the baseline's upload is behind. */
  async flush(): Promise<void> {
    await this.baselineOut?.flush();
  }

  /** Compares (unless done while streaming), writes the feed, closes the files and returns the manifest's section. */
  async finish(): Promise<ManifestChanges> {
    const streamed = await this.ready;
    // This run's baseline is committed first: the comparison reads it back.
    const baseline = (await this.baselineOut?.end()) ?? null;
    let counts: ChangeCounts = { added: 0, changed: 0, removed: 0 };
    const unique = this.repeatedKeys === 0;
    if (!unique) await this.startOver();
    else if (streamed) counts = await this.readBack(streamed);
    else if (baseline && this.baseline) counts = await this.compareAtEnd(baseline.path, this.baseline);
    const { added, changed, removed } = counts;
    const files = await this.feed.end(added + changed + removed);
    const note = unique
      ? this.note
      : `${this.repeatedKeys} row(s) share their key (${this.shape.keyFields.join(", ")}) with an earlier row of this run, so rows cannot be told apart: nothing was compared, and the baseline holds the first row of each key`;
    if (!unique) (this.options.logger ?? silentLogger).warn("Change feed not compared", { note });
    return {
      previousRunId: unique ? this.previousRunId : null,
      note,
      keyFields: [...this.shape.keyFields],
      comparedFields: [...this.shape.comparedFields],
      added,
      changed,
      removed,
      files,
      baseline,
    };
  }

  /** Stops reading and writing; nothing of the feed is committed. */
  async cancel(): Promise<void> {
    this.abort.abort();
    await Promise.allSettled([
      this.ready,
      this.feed.abort(new Error("export aborted")),
      this.baselineOut?.abort(new Error("export aborted")),
    ]);
  }

  /**
   * This run's baseline (at `path`, committed) against the previous snapshot: both baselines walked
   * side by side (merge.ts), or through an index of the previous snapshot when their orders differ
   * too much or the previous run has no baseline.
   */
  private async compareAtEnd(path: string, previous: PreviousBaseline): Promise<ChangeCounts> {
    const { container } = this.options;
    if (previous.kind === "baseline") {
      const merged = await mergeBaselines(
        BaselineCursor.open(container, previous.path, this.signal, this.shape),
        BaselineCursor.open(container, path, this.signal, this.shape),
        this.feed,
        this.options.maxWaiting,
      );
      if (merged) return merged;
      // Start over through the index; the rows written so far go with files never committed.
      (this.options.logger ?? silentLogger).info(
        "Change feed compares through an index: this run lists its rows in another order than the previous one",
      );
      await this.startOver();
    }
    const diff = await this.load(previous);
    const visit = (line: BaselineLine): void => {
      diff.addCurrentLine(line);
    };
    await readBaseline(container, path, this.shape, this.signal, visit, this.drained);
    return this.readBack(diff);
  }

  /** Drops what the feed holds so far (its files are never committed) and opens it empty. */
  private async startOver(): Promise<void> {
    await this.feed.abort(new Error("the change feed started over"));
    this.feed = new FeedWriter(this.options, this.signal);
  }

  /** The previous snapshot read back against a diff of this run: removed and changed rows. */
  private async readBack(diff: SnapshotDiff): Promise<ChangeCounts> {
    const previous = this.baseline;
    if (previous?.kind === "baseline") {
      const visit = (line: BaselineLine): void => {
        diff.addPreviousLine(line);
      };
      await readBaseline(this.options.container, previous.path, this.shape, this.signal, visit, this.drained);
    } else if (previous?.kind === "file") {
      for await (const rows of snapshotRows(this.options.container, previous.file, this.shape, this.signal)) {
        diff.addPrevious(rows);
        await this.drained();
      }
    }
    return diff.counts;
  }

  /** Waits while the feed's uploads are behind. */
  private readonly drained = (): Promise<void> => this.feed.drained();

  /** Reads the previous snapshot into the index the diff runs against. */
  private async load(previous: PreviousBaseline): Promise<SnapshotDiff> {
    if (previous.kind === "baseline") {
      const index = new SnapshotIndex(previous.rowCount, this.shape);
      const visit = (line: BaselineLine): void => {
        index.insertLine(line);
      };
      await readBaseline(this.options.container, previous.path, this.shape, this.signal, visit);
      return new SnapshotDiff(index, this.feed, this.shape);
    }
    const index = new SnapshotIndex(previous.file.rowCount, this.shape);
    for await (const rows of snapshotRows(this.options.container, previous.file, this.shape, this.signal))
      for (const { id, values } of rows) if (id !== null) index.insert(id, values);
    return new SnapshotDiff(index, this.feed, this.shape);
  }
}
