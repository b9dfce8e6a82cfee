import { silentLogger, type Logger } from "../../logging/logger.js";
import type { ReferralRow } from "../../partnerCenter/fields.js";
import { sameQuery } from "../../partnerCenter/query.js";
import { readLatestManifest } from "../latestManifest.js";
import type { Manifest, ManifestChanges } from "../manifest.js";
import { BASELINE_FILE_NAME, BaselineWriter, readBaseline } from "./baseline.js";
import { COMPARED_FIELDS, fieldText } from "./compared.js";
import { SnapshotDiff } from "./diff.js";
import { FeedWriter, type FeedWriterOptions } from "./feedWriter.js";
import { comparableFile, snapshotRows, type SnapshotFile } from "./previousSnapshot.js";
import { fingerprintOfRow, lastFingerprintB, SnapshotIndex } from "./snapshotIndex.js";

/** What the previous run is compared through: its baseline, or (an earlier version's run) a data file. */
type PreviousBaseline =
  | { readonly kind: "baseline"; readonly path: string; readonly rowCount: number }
  | { readonly kind: "file"; readonly file: SnapshotFile };

export interface ChangeFeedOptions extends FeedWriterOptions {
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
}

/**
 * The change feed of a raw export. The previous run's baseline (baseline.ts: ids, fingerprints of
 * status and dates, and their original values), named by the manifest `latest/` holds when this
 * run starts, is read once into a compact index of id -> fingerprint (snapshotIndex.ts) without
 * parsing a value. While the export streams, each referral goes into this run's own baseline; new
 * ids are written as "added" at once; ids whose fingerprint differs are marked, and their current
 * values kept (diff.ts). At the end the baseline is read a second time, parsing values only for the
 * referrals that changed or disappeared. A previous run of an earlier version has no baseline: its
 * JSON file (original values) is read instead, or its CSV (spreadsheet guard undone). Memory: 34-68
 * bytes per previous referral plus the compared values of changed ones.
 */
export class ChangeFeed {
  private readonly abort = new AbortController();
  private readonly signal: AbortSignal;
  private readonly feed: FeedWriter;
  /** This run's baseline for the next run; absent when the run writes neither CSV nor JSON. */
  private readonly baselineOut: BaselineWriter | undefined;
  /** The diff against the previous snapshot once it is indexed; undefined when there is none. */
  private readonly ready: Promise<SnapshotDiff | undefined>;

  private constructor(
    private readonly options: ChangeFeedOptions,
    private readonly previousRunId: string | null,
    private readonly note: string | null,
    private readonly baseline: PreviousBaseline | undefined,
  ) {
    this.signal = AbortSignal.any([options.signal, this.abort.signal]);
    this.feed = new FeedWriter(options, this.signal);
    this.baselineOut = options.writeBaseline
      ? new BaselineWriter(options.container, `${options.folder}${BASELINE_FILE_NAME}`, this.signal)
      : undefined;
    this.ready = baseline ? this.load(baseline) : Promise.resolve(undefined);
    this.ready.catch(() => undefined);
  }

  /** Finds the previous snapshot and starts reading it; the feed's files are opened at once. */
  static async open(options: ChangeFeedOptions): Promise<ChangeFeed> {
    const logger = options.logger ?? silentLogger;
    const previous = await readLatestManifest(options.container, options.profile, options.signal);
    let note: string | null = null;
    let baseline: PreviousBaseline | undefined;
    if (previous === "missing") note = "No previous snapshot: this is the profile's first published run";
    else if (previous === "unreadable") note = "The previous manifest could not be read";
    else if (previous.runId === options.runId) note = "This run is already the latest snapshot";
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
    return new ChangeFeed(options, previousRunId, note, baseline);
  }

  /** Notes a slice of normalised rows: into this run's baseline, and "added" rows into the feed at once. */
  async add(rows: readonly ReferralRow[]): Promise<void> {
    const diff = await this.ready;
    const out = this.baselineOut;
    if (!out && !diff) return;
    for (const row of rows) {
      const id = fieldText(row.id);
      if (id === null) continue;
      const fingerprintA = fingerprintOfRow(row);
      const fingerprintB = lastFingerprintB();
      out?.add(id, fingerprintA, fingerprintB, row);
      diff?.addCurrent(id, row, fingerprintA, fingerprintB);
    }
    out?.commitLines();
    if (diff) await this.feed.drained();
  }

  /** A page at a time: waits while the baseline's upload is behind. */
  async flush(): Promise<void> {
    await this.baselineOut?.flush();
  }

  /** Writes "changed" and "removed" rows, closes the files and returns the manifest's section. */
  async finish(): Promise<ManifestChanges> {
    const diff = await this.ready;
    const drained = (): Promise<void> => this.feed.drained();
    if (diff && this.baseline?.kind === "baseline") {
      const visit = (id: string, _a: number, _b: number, rest: string): void => {
        diff.addPreviousLine(id, rest);
      };
      await readBaseline(this.options.container, this.baseline.path, this.signal, visit, drained);
    } else if (diff && this.baseline?.kind === "file") {
      for await (const rows of snapshotRows(this.options.container, this.baseline.file, this.signal)) {
        diff.addPrevious(rows);
        await drained();
      }
    }
    const { added, changed, removed } = diff?.counts ?? { added: 0, changed: 0, removed: 0 };
    const [files, baseline] = await Promise.all([
      this.feed.end(added + changed + removed),
      this.baselineOut?.end() ?? null,
    ]);
    return {
      previousRunId: this.previousRunId,
      note: this.note,
      comparedFields: [...COMPARED_FIELDS],
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

  /** Reads the previous snapshot into the index the diff runs against. */
  private async load(previous: PreviousBaseline): Promise<SnapshotDiff> {
    if (previous.kind === "baseline") {
      const index = new SnapshotIndex(previous.rowCount);
      const visit = (id: string, a: number, b: number): void => {
        index.insertFingerprint(id, a, b);
      };
      await readBaseline(this.options.container, previous.path, this.signal, visit);
      return new SnapshotDiff(index, this.feed);
    }
    const index = new SnapshotIndex(previous.file.rowCount);
    for await (const rows of snapshotRows(this.options.container, previous.file, this.signal))
      for (const { id, values } of rows) if (id !== null) index.insert(id, values);
    return new SnapshotDiff(index, this.feed);
  }
}
