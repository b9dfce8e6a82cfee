import { randomUUID } from "node:crypto";
import { parse } from "csv-parse/sync";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runExport, type ExportResult } from "../../src/export/exporter.js";
import type { ColumnType } from "../../src/export/schema.js";
import { newRunId } from "../../src/export/runId.js";
import { DATASETS, requireDataset, type DatasetDefinition } from "../../src/partnerCenter/datasets/index.js";
import { createSimulatedDatasets, type OtherDatasetId } from "../../src/simulator/datasets/index.js";
import { createMutableTable, type MutableRowTable } from "../../src/simulator/rowTable.js";
import { validateQuery, type QueryInput } from "../../src/partnerCenter/query.js";
import { readAll, startExportFixture, type ExportFixture } from "../support/exportFixture.js";

/**
 * Every dataset end to end: the Partner Center client pages the simulated service's path for the
 * dataset (with its documented quirks), and the exporter writes the dataset's files with typed
 * values and a manifest that matches Partner Center's total.
 */
const OTHERS = DATASETS.filter((d) => d.id !== "referrals");

let fixture: ExportFixture;
beforeAll(async () => {
  fixture = await startExportFixture({ rows: 50 });
});
afterAll(async () => {
  await fixture.close();
});

function run(profile: string, dataset: DatasetDefinition, input: QueryInput = {}): Promise<ExportResult> {
  return runExport(
    {
      runId: newRunId(),
      profile,
      source: "profile",
      trigger: "cli",
      query: validateQuery(input, dataset.id),
      formats: ["csv", "json", "parquet"],
      correlationId: randomUUID(),
    },
    fixture.services.exportEnvironment(),
  );
}

/** What `typeof` a JSON value of each column type is (null aside). */
const JSON_KINDS: Record<ColumnType, string> = {
  string: "string",
  timestamp: "string",
  date: "string",
  int64: "number",
  double: "number",
  boolean: "boolean",
};

describe.each(OTHERS.map((d) => [d.id, d] as const))("%s from the simulated service", (_, dataset) => {
  it("is exported whole into its own files, every value of its column's type", async () => {
    const before = fixture.server.requests.length;
    const profile = `sim-${dataset.id.toLowerCase()}`;
    const { manifest } = await run(profile, dataset);
    const requests = fixture.server.requests.slice(before);
    expect(requests.length).toBeGreaterThan(0);
    for (const request of requests) expect(request.path).toBe(dataset.path);

    expect(manifest.dataset).toBe(dataset.id);
    expect(manifest.rowCount).toBeGreaterThan(0);
    expect(manifest.rowCount).toBe(manifest.totalCountReported);
    expect(manifest.integrity.countMatchesTotal).toBe(true);
    if (dataset.key === null) {
      expect(manifest.changes).toBeNull();
      expect(manifest.changeFeed?.available).toBe(false);
    } else {
      expect(manifest).not.toHaveProperty("changeFeed");
      expect(manifest.changes?.keyFields).toEqual(dataset.key);
    }
    expect(manifest.columns).toEqual(dataset.fields.filter((f) => f.groupedOnly !== true).map((f) => f.name));

    const blobs = await readAll(fixture.services);
    const latest = (ext: string): Buffer => blobs.get(`${profile}/latest/${dataset.fileStem}.${ext}`)!;
    const json = JSON.parse(latest("json").toString("utf8")) as Record<string, unknown>[];
    const csv = parse<Record<string, string>>(latest("csv"), { columns: true, bom: true });
    expect(json).toHaveLength(manifest.rowCount);
    expect(csv).toHaveLength(manifest.rowCount);
    expect(latest("parquet").subarray(0, 4).toString("latin1")).toBe("PAR1");
    expect(latest("schema.json")).toBeDefined();
    for (const row of json)
      for (const column of manifest.schema) {
        const value = row[column.name];
        if (value === null) continue;
        expect(typeof value, `${column.name}=${JSON.stringify(value)}`).toBe(JSON_KINDS[column.type]);
        if (column.type === "timestamp")
          expect(value).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
        if (column.type === "int64") expect(Number.isSafeInteger(value), column.name).toBe(true);
      }
    // CSV numbers are plain: digits, a sign, a point; decimals always with a fractional digit.
    for (const row of csv)
      for (const column of manifest.schema) {
        const text = row[column.name] ?? "";
        if (text === "") continue;
        if (column.type === "int64") expect(text).toMatch(/^-?\d+$/);
        if (column.type === "double") expect(text).toMatch(/^-?\d+\.\d+$/);
        if (column.type === "boolean") expect(text).toMatch(/^(true|false)$/);
      }
  });
});

describe.each(OTHERS.filter((d) => d.key !== null).map((d) => [d.id, d] as const))(
  "%s's change feed against the simulated service",
  (_, dataset) => {
    it("finds each row by its key: unique in the service's data, and the same data twice is no change", async () => {
      const profile = `sim-feed-${dataset.id.toLowerCase()}`;
      const first = (await run(profile, dataset)).manifest;
      const blobs = await readAll(fixture.services);
      const rows = JSON.parse(
        blobs.get(`${profile}/latest/${dataset.fileStem}.json`)!.toString("utf8"),
      ) as Record<string, unknown>[];
      const keys = new Set(rows.map((r) => JSON.stringify(dataset.key!.map((k) => r[k]))));
      expect(keys.size).toBe(first.rowCount);
      const second = (await run(profile, dataset)).manifest;
      expect(second.changes).toMatchObject({ previousRunId: first.runId, added: 0, changed: 0, removed: 0 });
    });
  },
);

describe("the change feed when the simulated service's own rows change", () => {
  const KEYED = OTHERS.filter((d) => d.key !== null);
  const tables = new Map<string, MutableRowTable>();
  let changing: ExportFixture;
  beforeAll(async () => {
    const generated = createSimulatedDatasets({ seed: 11, rows: { subscriptions: 300, licensesUsage: 300 } });
    const datasets = Object.fromEntries(
      KEYED.map((d) => {
        const rows = createMutableTable(generated[d.id as OtherDatasetId].rows, d.key!);
        tables.set(d.id, rows);
        return [d.id, { ...generated[d.id as OtherDatasetId], rows }];
      }),
    );
    changing = await startExportFixture({ rows: 10, datasets });
  });
  afterAll(async () => {
    await changing.close();
  });

  it.each(KEYED.map((d) => [d.id, d] as const))(
    "%s: a row's measure changed, one row gone, one new: exactly those, under the key the service uses",
    async (_, dataset) => {
      const table = tables.get(dataset.id)!;
      const key = dataset.key!;
      const keyOf = (row: Record<string, unknown>): string[] => key.map((k) => String(row[k]));
      const runHere = (): Promise<ExportResult> =>
        runExport(
          {
            runId: newRunId(),
            profile: `sim-changes-${dataset.id.toLowerCase()}`,
            source: "profile",
            trigger: "cli",
            query: validateQuery({}, dataset.id),
            formats: ["json"],
            correlationId: randomUUID(),
          },
          changing.services.exportEnvironment(),
        );
      const first = (await runHere()).manifest;
      const blobs = await readAll(changing.services);
      const rows = JSON.parse(
        blobs
          .get(`sim-changes-${dataset.id.toLowerCase()}/latest/${dataset.fileStem}.json`)!
          .toString("utf8"),
      ) as Record<string, unknown>[];
      // The first measure the exported row has a value for (as exported: documented names).
      const measureField = dataset.fields.find((f) => f.measure === true && f.groupedOnly !== true)!;
      const measure = measureField.name;
      const target = rows.find((r) => typeof r[measure] === "number")!;
      const gone = rows.find((r) => r !== target)!;
      // The service's own row, whichever spelling it uses for the measure.
      const served = table.get(table.indexOfKey(keyOf(target)));
      const spelling = [measure, ...(measureField.aliases ?? [])].find((k) => k in served)!;
      table.update(keyOf(target), { [spelling]: (target[measure] as number) + 7 });
      table.remove(keyOf(gone));
      const added = { ...table.get(0), [key[0]!]: "zz-new-row" };
      table.add(added);

      const second = (await runHere()).manifest;
      expect(second.changes).toMatchObject({ previousRunId: first.runId, added: 1, changed: 1, removed: 1 });
      const feedFile = second.changes!.files.find((f) => f.format === "json")!.path;
      const feed = JSON.parse((await readAll(changing.services)).get(feedFile)!.toString("utf8")) as Record<
        string,
        unknown
      >[];
      expect(feed).toHaveLength(3);
      const byChange = Object.fromEntries(feed.map((r) => [r.change as string, r]));
      const keyColumns = (row: Record<string, unknown>): Record<string, unknown> =>
        Object.fromEntries(key.map((k) => [k, row[k]]));
      expect(byChange.changed).toMatchObject({
        ...keyColumns(target),
        changedFields: [measure],
        [measure]: (target[measure] as number) + 7,
      });
      expect(byChange.removed).toMatchObject(keyColumns(gone));
      expect(byChange.added).toMatchObject({ [key[0]!]: "zz-new-row" });
    },
  );
});

describe("a grouped export from the simulated service", () => {
  it("Azure usage by meter category and month: the groups and their quantities, as the service computes them", async () => {
    const dataset = requireDataset("azureUsage");
    const input = { groupby: ["meterCategory", "usageDate"], aggregationLevel: "month" };
    const { manifest } = await run("sim-azure-grouped", dataset, input);
    expect(manifest.columns).toEqual(["meterCategory", "usageDate", "quantity"]);
    expect(manifest.schema.map((c) => c.type)).toEqual(["string", "timestamp", "double"]);
    const blobs = await readAll(fixture.services);
    const json = JSON.parse(
      blobs.get("sim-azure-grouped/latest/azureUsage.json")!.toString("utf8"),
    ) as Record<string, unknown>[];
    const expected = fixture.partnerCenter.expected(validateQuery(input, dataset.id)) as unknown as Record<
      string,
      unknown
    >[];
    expect(json).toHaveLength(expected.length);
    const total = (rows: Record<string, unknown>[]): number =>
      rows.reduce((sum, r) => sum + Number(r.quantity ?? 0), 0);
    expect(total(json)).toBeCloseTo(total(expected), 6);
  });
});
