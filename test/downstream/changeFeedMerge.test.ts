import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import {
  BASELINE_HEADER,
  BaselineCursor,
  BaselineLine,
  baselineLine,
  isBaselineFormatError,
} from "../../src/export/changeFeed/baseline.js";
import { ChangeFeed } from "../../src/export/changeFeed/changeFeed.js";
import { COMPARED_FIELDS, differs, fieldText } from "../../src/export/changeFeed/compared.js";
import { SnapshotDiff } from "../../src/export/changeFeed/diff.js";
import type { ChangeKind, FeedSink } from "../../src/export/changeFeed/feedWriter.js";
import { mergeBaselines } from "../../src/export/changeFeed/merge.js";
import {
  fingerprintOfRow,
  lastFingerprintB,
  SnapshotIndex,
} from "../../src/export/changeFeed/snapshotIndex.js";
import { runFolder } from "../../src/export/layout.js";
import { createLogger } from "../../src/logging/logger.js";
import { normalizeReferral } from "../../src/export/normalize.js";
import { newRunId } from "../../src/export/runId.js";
import { toQuerySpec, validateQuery } from "../../src/partnerCenter/query.js";
import { readAll, startExportFixture, type ExportFixture } from "../support/exportFixture.js";
import { exportRun } from "./support.js";

/**
 * The comparison at the end of a run: this run's baseline against the previous run's, walked side
 * by side (merge.ts) or through the index of the previous snapshot when the orders differ too much.
 * Both must find exactly the referrals that were added, changed and removed, whatever the order of
 * either run, the values in them and the way their bytes arrive.
 */

type Row = Record<string, string | null>;
interface FeedRow {
  readonly change: ChangeKind;
  readonly id: string;
  readonly current: readonly (string | null)[] | null;
  readonly previous: readonly (string | null)[] | null;
  readonly changedFields: readonly string[];
}

/** A feed that keeps what it is given. */
function sink(): FeedSink & { rows: FeedRow[] } {
  const rows: FeedRow[] = [];
  return {
    rows,
    write: (change, id, current, previous, changedFields) => {
      rows.push({ change, id, current, previous, changedFields: [...changedFields] });
    },
    drained: () => Promise.resolve(),
  };
}

/** A baseline's bytes, as the writer writes them. */
function baselineBytes(rows: readonly (Row & { id: string })[]): Buffer {
  const lines = rows.map((row) => {
    const a = fingerprintOfRow(row);
    return `${baselineLine(row.id, a, lastFingerprintB(), row)}\n`;
  });
  return Buffer.from(BASELINE_HEADER + lines.join(""), "utf8");
}

/** The bytes in pieces cut at the given places (multi-byte characters cut too). */
async function* pieces(bytes: Buffer, cuts: readonly number[]): AsyncGenerator<Uint8Array> {
  let from = 0;
  for (const cut of [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)) {
    // Each piece arrives in a later turn, as from the network.
    if (cut > from) yield await Promise.resolve(bytes.subarray(from, cut));
    from = Math.max(from, cut);
  }
  if (from < bytes.length) yield await Promise.resolve(bytes.subarray(from));
}

const values = (row: Row): (string | null)[] => COMPARED_FIELDS.map((f) => fieldText(row[f]));

/** What the feed must hold, from the two runs' rows, compared the plain way. */
function expectedFeed(
  before: readonly (Row & { id: string })[],
  after: readonly (Row & { id: string })[],
): string[] {
  const was = new Map(before.map((r) => [r.id, r]));
  const now = new Map(after.map((r) => [r.id, r]));
  const out: string[] = [];
  for (const row of after) {
    const old = was.get(row.id);
    if (!old) out.push(JSON.stringify(["added", row.id, values(row), null, []]));
    else {
      const fields = COMPARED_FIELDS.filter((_, i) =>
        differs(i, values(old)[i] ?? null, values(row)[i] ?? null),
      );
      if (fields.length > 0) out.push(JSON.stringify(["changed", row.id, values(row), values(old), fields]));
    }
  }
  for (const row of before)
    if (!now.has(row.id)) out.push(JSON.stringify(["removed", row.id, null, values(row), []]));
  return out.sort();
}

const feedText = (rows: readonly FeedRow[]): string[] =>
  rows.map((r) => JSON.stringify([r.change, r.id, r.current, r.previous, r.changedFields])).sort();

/** The fallback: the previous baseline indexed, this run's read against it, the previous read back. */
async function compareThroughIndex(previous: () => BaselineCursor, current: BaselineCursor, feed: FeedSink) {
  const index = new SnapshotIndex(0); // a row count the manifest understated: the index grows
  const cursor = previous();
  while (await cursor.more()) while (cursor.next()) index.insertLine(cursor);
  const diff = new SnapshotDiff(index, feed);
  while (await current.more()) while (current.next()) diff.addCurrentLine(current);
  const again = previous();
  while (await again.more()) while (again.next()) diff.addPreviousLine(again);
  return diff.counts;
}

/** A run without a baseline of its own (Parquet only): its rows against the index as they stream. */
async function compareWhileStreaming(
  previous: () => BaselineCursor,
  rows: readonly (Row & { id: string })[],
  feed: FeedSink,
) {
  const index = new SnapshotIndex(rows.length);
  const cursor = previous();
  while (await cursor.more()) while (cursor.next()) index.insertLine(cursor);
  const diff = new SnapshotDiff(index, feed);
  for (const row of rows) {
    const a = fingerprintOfRow(row);
    diff.addCurrent(row.id, row, a, lastFingerprintB());
  }
  const again = previous();
  while (await again.more()) while (again.next()) diff.addPreviousLine(again);
  return diff.counts;
}

describe("comparing two baselines", () => {
  /** Values a line-based reader could mangle: the baseline's own separators and escapes among them. */
  const hostile = fc.oneof(
    fc.constantFrom(
      "tab\there",
      "line\nbreak",
      "cr\rhere",
      "back\\slash\\t",
      "\\",
      "Ünïcødé 名前 🚀",
      "=SUM(A1)",
      "",
    ),
    fc.string({ unit: "grapheme", maxLength: 16 }),
  );
  const date = fc
    .integer({ min: Date.UTC(2020, 0, 1), max: Date.UTC(2026, 9, 1) })
    .map((ms) => new Date(ms - (ms % 1000)).toISOString().replace(".000Z", "Z"));
  const row = fc.record({
    status: fc.option(hostile, { nil: null }),
    acceptedDate: fc.option(date, { nil: null }),
    wonDate: fc.option(date, { nil: null }),
    createdDate: fc.option(date, { nil: null }),
  });
  /** Ways the second run may order its referrals against the first. */
  const order = fc.constantFrom("same", "reversed", "shuffled", "rotated");

  it("finds exactly the added, changed and removed referrals, side by side, through the index or while streaming, in any order and however the bytes arrive", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.tuple(hostile, row), { selector: ([id]) => id, minLength: 0, maxLength: 40 }),
        fc.array(fc.tuple(fc.nat(), fc.constantFrom("remove", "status", "date", "renotate"), hostile, date), {
          maxLength: 8,
        }),
        fc.uniqueArray(fc.tuple(hostile, row), { selector: ([id]) => id, maxLength: 5 }),
        order,
        fc.array(fc.nat(), { maxLength: 12 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        fc.integer({ min: 0, max: 6 }),
        async (first, edits, extra, how, cutsA, cutsB, maxWaiting) => {
          const before: (Row & { id: string })[] = first.map(([id, r]) => ({ ...r, id }));
          const after = before.map((r) => ({ ...r }));
          const removed = new Set<string>();
          for (const [at, edit, text, when] of edits) {
            const target = after[at % Math.max(1, after.length)];
            if (!target) continue;
            if (edit === "remove") removed.add(target.id);
            else if (edit === "status") target.status = text;
            else if (edit === "date") target.wonDate = when;
            // The same instant in another notation is no change.
            else if (target.acceptedDate)
              target.acceptedDate = target.acceptedDate.replace("Z", ".000+00:00");
          }
          const known = new Set(before.map((r) => r.id));
          let next = after.filter((r) => !removed.has(r.id));
          for (const [id, r] of extra) if (!known.has(id)) next.push({ ...r, id });
          if (how === "reversed") next = next.reverse();
          else if (how === "rotated") next = [...next.slice(3), ...next.slice(0, 3)];
          else if (how === "shuffled")
            next = [...next].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
          const expected = expectedFeed(before, next);

          const previousBytes = baselineBytes(before);
          const currentBytes = baselineBytes(next);
          const previous = (): BaselineCursor => new BaselineCursor(pieces(previousBytes, cutsA), "previous");
          const current = (): BaselineCursor => new BaselineCursor(pieces(currentBytes, cutsB), "current");

          // Side by side with room enough: always exact.
          const merged = sink();
          const counts = await mergeBaselines(previous(), current(), merged, Number.MAX_SAFE_INTEGER);
          expect(feedText(merged.rows)).toEqual(expected);
          expect(counts).toEqual({
            added: merged.rows.filter((r) => r.change === "added").length,
            changed: merged.rows.filter((r) => r.change === "changed").length,
            removed: merged.rows.filter((r) => r.change === "removed").length,
          });

          // With little room it gives up rather than guess (then the index takes over), or is exact.
          const tight = sink();
          const tightCounts = await mergeBaselines(previous(), current(), tight, maxWaiting);
          if (tightCounts) expect(feedText(tight.rows)).toEqual(expected);
          if (how === "same" && edits.length === 0 && extra.length === 0) expect(tightCounts).toBeDefined();

          const indexed = sink();
          expect(await compareThroughIndex(previous, current(), indexed)).toEqual(counts);
          expect(feedText(indexed.rows)).toEqual(expected);

          const streamed = sink();
          expect(await compareWhileStreaming(previous, next, streamed)).toEqual(counts);
          expect(feedText(streamed.rows)).toEqual(expected);
        },
      ),
      { numRuns: 300, seed: 20261206 },
    );
  });

  it("refuses a baseline of another version, a malformed line or fingerprint, and one cut off mid-line", async () => {
    const row = { id: "1", status: "Won" };
    const good = baselineBytes([row]).toString("utf8");
    const cases: [string, RegExp][] = [
      [good.replace("baseline 1", "baseline 2"), /not a baseline this version reads/],
      [`${BASELINE_HEADER}1\t2\n`, /malformed line/],
      [`${BASELINE_HEADER}1\t12x\t3\tWon${"\t".repeat(COMPARED_FIELDS.length - 1)}\n`, /malformed line/],
      [
        `${BASELINE_HEADER}1\t99999999999\t3\tWon${"\t".repeat(COMPARED_FIELDS.length - 1)}\n`,
        /malformed line/,
      ],
      [good.slice(0, -1), /ends in the middle of a line/],
      ["", /ends in the middle of a line/],
    ];
    for (const [text, message] of cases) {
      const cursor = new BaselineCursor(pieces(Buffer.from(text), [7]), "x.tsv");
      const read = async (): Promise<number> => {
        let n = 0;
        while (await cursor.more()) while (cursor.next()) n++;
        return n;
      };
      const error = await read().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isBaselineFormatError(error), text).toBe(true);
      expect((error as Error).message).toMatch(message);
    }
  });
});

describe("the index of the previous snapshot", () => {
  it("takes 1.25 slots a referral (21 MB for a million) and grows past a row count the manifest understated", () => {
    expect(new SnapshotIndex(1_000_000).capacity).toBe(1_250_000);
    const index = new SnapshotIndex(10);
    const line = (id: string): BaselineLine => {
      const read = new BaselineLine();
      const text = `${id}\t7\t9\t`;
      read.read(text, 0, text.length);
      return read;
    };
    for (let i = 0; i < 20_000; i++) index.insertLine(line(`id-${i}`));
    expect(index.size).toBe(20_000);
    expect(index.capacity).toBeGreaterThanOrEqual(25_000);
    for (let i = 0; i < 20_000; i += 997) {
      const slot = index.findLine(line(`id-${i}`));
      expect(slot).toBeGreaterThanOrEqual(0);
      expect(index.sameFingerprint(slot, 7, 9)).toBe(true);
    }
    expect(index.findLine(line("id-20000"))).toBe(-1);
    // An escaped id is found under its unescaped text, as the current run looks it up.
    index.insertLine(line("tab\\there"));
    expect(index.find("tab\there")).toBeGreaterThanOrEqual(0);
  });
});

describe("the change feed's comparison at the end of a run", () => {
  let fixture: ExportFixture | undefined;
  afterEach(async () => {
    await fixture?.close();
    fixture = undefined;
  });

  it("gives the same feed walking both baselines side by side and, when the order changed too much, through the index", async () => {
    fixture = await startExportFixture({ rows: 500 });
    const f = fixture;
    const profile = "feed-order";
    await exportRun(f, { profile, formats: ["csv"] });

    // The second run: every referral in reverse order, one changed, one removed, one added.
    const rows = Array.from({ length: f.dataset.size }, (_, i) => normalizeReferral(f.dataset.get(i)));
    const changed = rows[10]!;
    rows[10] = { ...changed, status: `${String(changed.status)}-moved` };
    const removed = rows.splice(20, 1)[0]!;
    rows.push({ ...rows[0]!, id: "0000000001" });
    rows.reverse();

    const feedOf = async (
      maxWaiting: number,
    ): Promise<{ changes: unknown; json: unknown; logs: string[] }> => {
      const runId = newRunId();
      const folder = runFolder(profile, runId);
      const logs: string[] = [];
      const feed = await ChangeFeed.open({
        container: f.services.exportContainer,
        folder,
        profile,
        runId,
        query: toQuerySpec(validateQuery({})),
        csvFormulaGuard: true,
        csvBom: false,
        writeBaseline: true,
        signal: new AbortController().signal,
        maxWaiting,
        logger: createLogger("info", (line) => logs.push(line)),
      });
      for (let i = 0; i < rows.length; i += 100) await feed.add(rows.slice(i, i + 100));
      const changes = await feed.finish();
      const blobs = await readAll(f.services);
      const json = JSON.parse(blobs.get(`${folder}changes.json`)!.toString("utf8")) as { id: string }[];
      return { changes, json: json.sort((a, b) => (a.id < b.id ? -1 : 1)), logs };
    };

    const sideBySide = await feedOf(1_000);
    const indexed = await feedOf(10);
    expect(sideBySide.changes).toMatchObject({ added: 1, changed: 1, removed: 1 });
    expect(indexed.changes).toMatchObject({ added: 1, changed: 1, removed: 1 });
    expect(indexed.json).toEqual(sideBySide.json);
    expect(sideBySide.json).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ change: "added", id: "0000000001" }),
        expect.objectContaining({ change: "changed", id: changed.id, changedFields: ["status"] }),
        expect.objectContaining({ change: "removed", id: removed.id }),
      ]),
    );
    expect(sideBySide.logs.join("\n")).not.toMatch(/through an index/);
    expect(indexed.logs.join("\n")).toMatch(/through an index/);
  });

  it("fails a run at its start, before it asks Partner Center for a page, when the previous baseline is of another version or gone", async () => {
    fixture = await startExportFixture({ rows: 50 });
    const f = fixture;
    const profile = "feed-broken";
    const first = (await exportRun(f, { profile, formats: ["csv"] })).manifest;
    const path = first.changes!.baseline!.path;
    const blob = f.services.exportContainer.getBlockBlobClient(path);
    const foreign = BASELINE_HEADER.replace("baseline 1", "baseline 2");
    await blob.upload(foreign, foreign.length);

    const asked = f.referralsRequests().length;
    await expect(exportRun(f, { profile, formats: ["csv"] })).rejects.toThrow(
      /is not a baseline this version reads/,
    );
    await blob.delete();
    await expect(exportRun(f, { profile, formats: ["csv"] })).rejects.toThrow();
    expect(f.referralsRequests().length).toBe(asked);
  });
});
