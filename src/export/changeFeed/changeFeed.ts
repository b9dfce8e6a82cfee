import { silentLogger, type Logger } from "../../logging/logger.js";
import type { ReferralRow } from "../../partnerCenter/fields.js";
import { sameQuery } from "../../partnerCenter/query.js";
import { readLatestManifest } from "../latestManifest.js";
import type { Manifest, ManifestChanges } from "../manifest.js";
import { COMPARED_FIELDS } from "./compared.js";
import { SnapshotDiff } from "./diff.js";
import { FeedWriter, type FeedWriterOptions } from "./feedWriter.js";
import { comparableFile, snapshotRows, type SnapshotFile } from "./previousSnapshot.js";
import { SnapshotIndex } from "./snapshotIndex.js";

export interface ChangeFeedOptions extends FeedWriterOptions {
  readonly profile: string;
  readonly runId: string;
  readonly query: Manifest["query"];
  readonly signal: AbortSignal;
  readonly logger?: Logger;
}

/**
 * The change feed of a raw export. The previous snapshot (the run `latest/_manifest.json` names
 * when this run starts) is read once into a compact index of id -> fingerprint of status and
 * dates (snapshotIndex.ts). While the export streams, new ids are written as "added" at once; ids
 * whose fingerprint differs are marked, and their current values kept (diff.ts). At the end the
 * previous snapshot is read a second time for the old values of changed referrals and for the
 * referrals that disappeared. Memory: 34-68 bytes per previous referral plus the compared values
 * of changed ones.
 */
export class ChangeFeed {
  private readonly abort = new AbortController();
  private readonly signal: AbortSignal;
  private readonly feed: FeedWriter;
  /** The diff against the previous snapshot once it is indexed; undefined when there is none. */
  private readonly ready: Promise<SnapshotDiff | undefined>;

  private constructor(
    private readonly options: ChangeFeedOptions,
    private readonly previousRunId: string | null,
    private readonly note: string | null,
    private readonly baseline: SnapshotFile | undefined,
  ) {
    this.signal = AbortSignal.any([options.signal, this.abort.signal]);
    this.feed = new FeedWriter(options, this.signal);
    this.ready = baseline ? this.load(baseline) : Promise.resolve(undefined);
    this.ready.catch(() => undefined);
  }

  /** Finds the previous snapshot and starts reading it; the feed's files are opened at once. */
  static async open(options: ChangeFeedOptions): Promise<ChangeFeed> {
    const logger = options.logger ?? silentLogger;
    const previous = await readLatestManifest(options.container, options.profile, options.signal);
    let note: string | null = null;
    let baseline: SnapshotFile | undefined;
    if (previous === "missing") note = "No previous snapshot: this is the profile's first published run";
    else if (previous === "unreadable") note = "The previous manifest could not be read";
    else if (previous.runId === options.runId) note = "This run is already the latest snapshot";
    else if (!sameQuery(options.query, previous.query))
      note = `The previous snapshot (${previous.runId}) used a different query`;
    else {
      baseline = comparableFile(previous);
      if (!baseline)
        note = `The previous snapshot (${previous.runId}) has no CSV or JSON file to compare with`;
    }
    const previousRunId = baseline && typeof previous === "object" ? previous.runId : null;
    if (note) logger.info("Change feed starts a new baseline", { note });
    return new ChangeFeed(options, previousRunId, note, baseline);
  }

  /** Notes a page of normalised rows; "added" rows are written straight away. */
  async add(rows: readonly ReferralRow[]): Promise<void> {
    const diff = await this.ready;
    if (!diff) return;
    diff.addCurrent(rows);
    await this.feed.drained();
  }

  /** Writes "changed" and "removed" rows, closes the files and returns the manifest's section. */
  async finish(): Promise<ManifestChanges> {
    const diff = await this.ready;
    if (diff && this.baseline) {
      for await (const rows of snapshotRows(this.options.container, this.baseline, this.signal)) {
        diff.addPrevious(rows);
        await this.feed.drained();
      }
    }
    const { added, changed, removed } = diff?.counts ?? { added: 0, changed: 0, removed: 0 };
    const files = await this.feed.end(added + changed + removed);
    return {
      previousRunId: this.previousRunId,
      note: this.note,
      comparedFields: [...COMPARED_FIELDS],
      added,
      changed,
      removed,
      files,
    };
  }

  /** Stops reading and writing; nothing of the feed is committed. */
  async cancel(): Promise<void> {
    this.abort.abort();
    await Promise.allSettled([this.ready, this.feed.abort(new Error("export aborted"))]);
  }

  /** Reads the previous snapshot into the index the diff runs against. */
  private async load(file: SnapshotFile): Promise<SnapshotDiff> {
    const index = new SnapshotIndex(file.rowCount);
    for await (const rows of snapshotRows(this.options.container, file, this.signal))
      for (const { id, values } of rows) if (id !== null) index.insert(id, values);
    return new SnapshotDiff(index, this.feed);
  }
}
