import { createHash } from "node:crypto";
import { parse } from "csv-parse/sync";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { COMPARED_FIELDS } from "../../src/export/changeFeed/compared.js";
import { CHANGE_COLUMNS } from "../../src/export/changeFeed/feedWriter.js";
import { createCsvPageFormatter } from "../../src/export/formats/csv.js";
import { csvRecords } from "../../src/export/formats/csvReader.js";
import { jsonArrayObjects } from "../../src/export/formats/jsonReader.js";
import type { Manifest } from "../../src/export/manifest.js";
import type { Referral } from "../../src/simulator/dataset.js";
import { readAll, startExportFixture, type ExportFixture } from "../support/exportFixture.js";
import { exportRun } from "./support.js";

/**
 * The change feed of a raw profile: between two runs the simulator's data set changes, and the
 * second run's changes.csv / changes.json hold exactly those changes.
 */
let fixture: ExportFixture | undefined;
afterEach(async () => {
  await fixture?.close();
  fixture = undefined;
});

type FeedRow = Record<string, unknown>;

async function feedOf(f: ExportFixture, manifest: Manifest): Promise<{ csv: FeedRow[]; json: FeedRow[] }> {
  const blobs = await readAll(f.services);
  const changes = manifest.changes!;
  const body = (format: string): Buffer => {
    const file = changes.files.find((x) => x.format === format)!;
    const run = blobs.get(file.path)!;
    expect(run.length).toBe(file.bytes);
    // latest/ carries the same feed as the run folder.
    expect(blobs.get(`${manifest.profile}/latest/changes.${format}`)?.equals(run)).toBe(true);
    return run;
  };
  const csv = parse<FeedRow>(body("csv"), { columns: true, bom: true });
  const json = JSON.parse(body("json").toString("utf8")) as FeedRow[];
  return { csv, json };
}

function acceptedReferral(f: ExportFixture): Referral {
  for (let i = 0; i < f.dataset.size; i++) {
    const row = f.dataset.get(i);
    if (row.status === "Accepted") return row;
  }
  throw new Error("no Accepted referral in the data set");
}

describe("change feed", () => {
  it("reports exactly a new referral, a status moved Accepted -> Won and a removed referral", async () => {
    fixture = await startExportFixture({ rows: 2_000 });
    const f = fixture;
    const first = (await exportRun(f, { profile: "feed-raw", formats: ["csv", "json"] })).manifest;
    expect(first.changes).toMatchObject({ previousRunId: null, added: 0, changed: 0, removed: 0 });
    expect(first.changes?.note).toMatch(/first/);
    const empty = await feedOf(f, first);
    expect(empty.csv).toEqual([]);
    expect(empty.json).toEqual([]);

    const moved = acceptedReferral(f);
    const removed = f.dataset.get(7);
    const added: Referral = {
      ...f.dataset.get(11),
      id: "0000000042",
      status: "New",
      acceptedDate: null,
      wonDate: null,
      createdDate: "2026-10-31T09:15:00",
    };
    f.dataset.add(added);
    f.dataset.update(moved.id, { status: "Won", wonDate: "2026-10-30T12:00:00" });
    expect(f.dataset.remove(removed.id)).toBe(true);

    const second = (await exportRun(f, { profile: "feed-raw", formats: ["csv", "json"] })).manifest;
    expect(second.changes).toMatchObject({
      previousRunId: first.runId,
      note: null,
      added: 1,
      changed: 1,
      removed: 1,
      comparedFields: [...COMPARED_FIELDS],
    });
    expect(second.changes?.files.map((x) => [x.format, x.rowCount])).toEqual([
      ["csv", 3],
      ["json", 3],
    ]);

    const { csv, json } = await feedOf(f, second);
    const byChange = (rows: FeedRow[]): Record<string, FeedRow> =>
      Object.fromEntries(rows.map((r) => [r.change as string, r]));
    expect(json).toHaveLength(3);
    const j = byChange(json);
    expect(Object.keys(json[0]!)).toEqual(CHANGE_COLUMNS);
    expect(j.added).toMatchObject({
      id: added.id,
      changedFields: [],
      status: "New",
      previousStatus: null,
      createdDate: "2026-10-31T09:15:00Z",
      previousCreatedDate: null,
    });
    expect(j.changed).toMatchObject({
      id: moved.id,
      changedFields: ["status", "wonDate"],
      status: "Won",
      previousStatus: "Accepted",
      wonDate: "2026-10-30T12:00:00Z",
      previousWonDate: null,
      acceptedDate: `${moved.acceptedDate!}Z`,
      previousAcceptedDate: `${moved.acceptedDate!}Z`,
    });
    expect(j.removed).toMatchObject({
      id: removed.id,
      changedFields: [],
      status: null,
      previousStatus: removed.status,
      createdDate: null,
      previousCreatedDate: `${removed.createdDate!}Z`,
    });

    // The CSV holds the same three rows; the list of changed fields is joined with ';'.
    expect(csv).toHaveLength(3);
    expect(Object.keys(csv[0]!)).toEqual(CHANGE_COLUMNS);
    const c = byChange(csv);
    expect(c.changed).toMatchObject({ id: moved.id, changedFields: "status;wonDate", status: "Won" });
    expect(c.changed!.previousStatus).toBe("Accepted");
    expect(c.added).toMatchObject({ id: added.id, changedFields: "", previousStatus: "" });
    expect(c.removed).toMatchObject({ id: removed.id, status: "", previousStatus: removed.status });

    // Nothing changed since: the next run's feed is empty but compared.
    const third = (await exportRun(f, { profile: "feed-raw", formats: ["csv", "json"] })).manifest;
    expect(third.changes).toMatchObject({ previousRunId: second.runId, added: 0, changed: 0, removed: 0 });
  });

  it("compares with a CSV-only or JSON-only previous snapshot, and starts a new baseline when it cannot compare", async () => {
    fixture = await startExportFixture({ rows: 300 });
    const f = fixture;
    await exportRun(f, { profile: "feed-csv", formats: ["csv"] });
    f.dataset.remove(f.dataset.get(0).id);
    const fromCsv = (await exportRun(f, { profile: "feed-csv", formats: ["csv", "parquet"] })).manifest;
    expect(fromCsv.changes).toMatchObject({ added: 0, changed: 0, removed: 1 });

    // JSON-only snapshots are compared through the JSON file.
    await exportRun(f, { profile: "feed-json", formats: ["json"] });
    f.dataset.update(f.dataset.get(5).id, { status: "Lost", lostDate: "2026-10-29T08:00:00" });
    const fromJson = (await exportRun(f, { profile: "feed-json", formats: ["json"] })).manifest;
    expect(fromJson.changes).toMatchObject({ added: 0, changed: 1, removed: 0 });

    // A Parquet-only run leaves no baseline (its memory budget), so the run after it cannot compare.
    const parquetOnly = (await exportRun(f, { profile: "feed-parquet", formats: ["parquet"] })).manifest;
    expect(parquetOnly.changes?.baseline).toBeNull();
    const afterParquet = (await exportRun(f, { profile: "feed-parquet", formats: ["parquet"] })).manifest;
    expect(afterParquet.changes).toMatchObject({ previousRunId: null, added: 0, changed: 0, removed: 0 });
    expect(afterParquet.changes?.note).toMatch(/no baseline, CSV or JSON/);

    // A run with CSV lists its baseline in the manifest, with the blob's size and sha256.
    const withCsv = (await exportRun(f, { profile: "feed-parquet", formats: ["csv", "parquet"] })).manifest;
    const baseline = withCsv.changes?.baseline;
    expect(baseline?.path).toBe(
      `${withCsv.files[0]!.path.slice(0, withCsv.files[0]!.path.lastIndexOf("/") + 1)}changes.baseline.tsv`,
    );
    const baselineBody = await f.services.exportContainer.getBlobClient(baseline!.path).downloadToBuffer();
    expect(baselineBody.length).toBe(baseline?.bytes);
    expect(createHash("sha256").update(baselineBody).digest("hex")).toBe(baseline?.sha256);

    // The profile's query changed: the old snapshot is a different data set.
    const otherQuery = (
      await exportRun(f, { profile: "feed-csv", query: { filter: "status eq 'Won'" }, formats: ["csv"] })
    ).manifest;
    expect(otherQuery.changes).toMatchObject({ previousRunId: null, added: 0 });
    expect(otherQuery.changes?.note).toMatch(/different query/);

    // A grouped run has no feed, and takes the raw run's feed out of latest/.
    const grouped = (
      await exportRun(f, { profile: "feed-csv", query: { groupby: ["status"] }, formats: ["csv"] })
    ).manifest;
    expect(grouped.changes).toBeNull();
    const blobs = await readAll(f.services);
    expect(blobs.has("feed-csv/latest/changes.csv")).toBe(false);
    expect(blobs.has("feed-csv/latest/changes.json")).toBe(false);
  });
});

describe("change feed dates", () => {
  it("compares dates as instants: a new notation of the same instant is no change, a moved date is", async () => {
    fixture = await startExportFixture({ rows: 200 });
    const f = fixture;
    await exportRun(f, { profile: "feed-dates", formats: ["csv", "json"] });
    const [same, moved] = [f.dataset.get(3), f.dataset.get(4)];
    // Partner Center's usual `2026-10-29T08:00:00`; the same instant with fractional seconds.
    f.dataset.update(same.id, { createdDate: `${same.createdDate}.000` });
    const later = new Date(Date.parse(`${moved.createdDate}Z`) + 1000).toISOString().slice(0, 19);
    f.dataset.update(moved.id, { createdDate: later });
    const { manifest } = await exportRun(f, { profile: "feed-dates", formats: ["csv", "json"] });
    expect(manifest.changes).toMatchObject({ added: 0, changed: 1, removed: 0 });
    const { csv } = await feedOf(f, manifest);
    expect(csv).toMatchObject([
      { change: "changed", id: moved.id, changedFields: "createdDate", createdDate: `${later}Z` },
    ]);
  });
});

describe("reading a previous snapshot back", () => {
  // Chunks arrive asynchronously, as from a blob download.
  async function* chunked(text: string, size: number): AsyncGenerator<string> {
    for (let i = 0; i < text.length; i += size) {
      await Promise.resolve();
      yield text.slice(i, i + size);
    }
  }
  const collect = async <T>(items: AsyncIterable<T>): Promise<T[]> => {
    const out: T[] = [];
    for await (const item of items) out.push(item);
    return out;
  };

  it("splits a JSON array into its objects wherever the chunks break", async () => {
    const rows = [
      { id: "1", name: 'a "quoted" } { name', nested: { x: [1, 2, { y: "]" }] } },
      { id: "2", name: "back\\slash\\", text: "line\nbreak ☃ 😀" },
      { id: "3", name: null },
    ];
    const text = `[\n${rows.map((r) => JSON.stringify(r)).join(",\n")}\n]\n`;
    for (const size of [1, 2, 3, 7, 64, text.length])
      expect((await collect(jsonArrayObjects(chunked(text, size)))).flat(), `chunks of ${size}`).toEqual(
        rows,
      );
    expect((await collect(jsonArrayObjects(chunked("[]\n", 1)))).flat()).toEqual([]);
    expect((await collect(jsonArrayObjects(chunked(JSON.stringify(rows, null, 2), 5)))).flat()).toEqual(rows);
  });

  it("reads back any rows the product's CSV writer wrote, however the text is cut", async () => {
    const cell = fc.oneof(
      fc.constant(null),
      fc.string({ unit: fc.constantFrom("a", "Z", "1", " ", ",", '"', "\r", "\n", "é", "="), maxLength: 8 }),
    );
    const columns = ["id", "name", "status"];
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(cell, cell, cell), { maxLength: 12 }),
        fc.integer({ min: 1, max: 40 }),
        async (cells, size) => {
          const rows = cells.map(([id, name, status]) => ({ id, name, status }));
          let text = "";
          const csv = createCsvPageFormatter({ columns, formulaGuard: false, bom: true });
          csv.format(rows, (t) => (text += t));
          csv.end((t) => (text += t));
          const records = (await collect(csvRecords(chunked(text, size)))).flat();
          expect(records).toEqual([columns, ...cells.map((r) => r.map((v) => v ?? ""))]);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("reads the product's CSV: quotes, CRLF records, lone LF and CR as data, a BOM", async () => {
    const text =
      '\ufeffid,name,status\r\n1,"Smith, Jones",Won\r\n2,"The ""Quoted"" Co",\r\n3,Line One\nLine Two,New\r\n4,"Carriage\r\nReturn",a\rb\r\n5,,\r\n';
    const expected = [
      ["id", "name", "status"],
      ["1", "Smith, Jones", "Won"],
      ["2", 'The "Quoted" Co', ""],
      ["3", "Line One\nLine Two", "New"],
      ["4", "Carriage\r\nReturn", "a\rb"],
      ["5", "", ""],
    ];
    for (const size of [1, 2, 3, 5, text.length])
      expect((await collect(csvRecords(chunked(text, size)))).flat(), `chunks of ${size}`).toEqual(expected);
  });
});

describe("change feed exactness (property)", () => {
  /** Values a spreadsheet guard, a CSV reader or a line-based reader could mangle. */
  const hostile = fc.oneof(
    fc.constantFrom(
      "=SUM(A1:A9)",
      "+1",
      "-2",
      "@cmd",
      "\t=tab",
      "\r=cr",
      "'=already quoted",
      'a "quoted", value',
      "line\nbreak",
      "crlf\r\nbreak",
      "Ünïcødé 名前 🚀",
      "back\\slash\\N",
      "tab\there",
      "\\N",
    ),
    fc.string({ minLength: 1, maxLength: 12 }),
  );
  const DATE_FIELDS = COMPARED_FIELDS.slice(1);
  /** One instant in the notations Partner Center's date format allows. */
  const notations = (ms: number): string[] => {
    const iso = new Date(ms).toISOString().slice(0, 19);
    return [iso, `${iso}.000`, `${iso}Z`, iso.replace("T", " "), `${iso}.0000000+00:00`];
  };
  const instant = fc
    .integer({ min: Date.UTC(2020, 0, 1), max: Date.UTC(2026, 9, 1) })
    .map((ms) => ms - (ms % 1000));
  let run = 0;

  it("two runs over identical data with hostile values in every compared field give an empty feed; a known set of changes gives exactly that set", async () => {
    fixture = await startExportFixture({ rows: 40 });
    const f = fixture;
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.tuple(fc.nat(39), hostile, fc.constantFrom(...DATE_FIELDS), instant, fc.nat(4), fc.nat(4)),
          {
            minLength: 1,
            maxLength: 6,
          },
        ),
        fc.array(hostile, { minLength: 1, maxLength: 3 }),
        fc.nat(9),
        async (patches, newIds, removeAt) => {
          const profile = `feed-prop-${++run}`;
          // Hostile statuses, and dates in any notation Partner Center's format allows.
          for (const [at, status, field, ms, notation] of patches) {
            const row = f.dataset.get(at % f.dataset.size);
            f.dataset.update(row.id, { status, [field]: notations(ms)[notation] });
          }
          await exportRun(f, { profile, formats: ["csv"] });
          const same = (await exportRun(f, { profile, formats: ["csv"] })).manifest;
          expect(same.changes).toMatchObject({ added: 0, changed: 0, removed: 0, note: null });

          // A new notation of the same instants is no change either.
          for (const [at, , field, ms, , renotation] of patches) {
            const row = f.dataset.get(at % f.dataset.size);
            f.dataset.update(row.id, { [field]: notations(ms)[renotation] });
          }
          const renoted = (await exportRun(f, { profile, formats: ["csv"] })).manifest;
          expect(renoted.changes).toMatchObject({ added: 0, changed: 0, removed: 0, note: null });

          // The same with a previous run of an earlier version: no baseline, CSV only (guard undone).
          const latestPath = `${profile}/latest/_manifest.json`;
          const legacy = JSON.parse(
            (await f.services.exportContainer.getBlobClient(latestPath).downloadToBuffer()).toString("utf8"),
          ) as { changes: Record<string, unknown> };
          delete legacy.changes.baseline;
          const legacyText = JSON.stringify(legacy);
          await f.services.exportContainer
            .getBlockBlobClient(latestPath)
            .upload(legacyText, Buffer.byteLength(legacyText));
          const fromCsv = (await exportRun(f, { profile, formats: ["csv"] })).manifest;
          expect(fromCsv.changes).toMatchObject({ added: 0, changed: 0, removed: 0, note: null });

          // A known set: hostile new ids, a changed status, a removed referral.
          const template = f.dataset.get(0);
          const added = [...new Set(newIds.map((id) => `${id}-${run}`))];
          for (const id of added) f.dataset.add({ ...template, id });
          const changedRow = f.dataset.get(1 + (removeAt % 5));
          f.dataset.update(changedRow.id, { status: `${changedRow.status}=changed` });
          const removedRow = f.dataset.get(10 + removeAt);
          f.dataset.remove(removedRow.id);
          const next = (await exportRun(f, { profile, formats: ["csv", "json"] })).manifest;
          expect(next.changes).toMatchObject({ added: added.length, changed: 1, removed: 1 });
          const { json } = await feedOf(f, next);
          expect(
            json
              .filter((r) => r.change === "added")
              .map((r) => r.id)
              .sort(),
          ).toEqual([...added].sort());
          expect(json.find((r) => r.change === "changed")).toMatchObject({
            id: changedRow.id,
            changedFields: ["status"],
            status: `${changedRow.status}=changed`,
            previousStatus: changedRow.status,
          });
          expect(json.find((r) => r.change === "removed")?.id).toBe(removedRow.id);
        },
      ),
      { numRuns: 6, seed: 20261206 },
    );
  });
});
