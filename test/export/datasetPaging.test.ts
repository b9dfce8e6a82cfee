import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runExport, type ExportResult } from "../../src/export/exporter.js";
import { newRunId } from "../../src/export/runId.js";
import {
  aggregationDateFields,
  DATASETS,
  measureFields,
  type DatasetDefinition,
} from "../../src/partnerCenter/datasets/index.js";
import { validateQuery, type QueryInput } from "../../src/partnerCenter/query.js";
import { readAll, startExportFixture, type ExportFixture } from "../support/exportFixture.js";

/**
 * Each dataset against the simulated service over several pages: the export holds exactly the
 * service's rows (keys where the dataset has one), and a grouped export holds exactly the
 * service's own buckets and measures.
 */
const PAGE_SIZE = 400;
type Row = Record<string, unknown>;

let fixture: ExportFixture;
beforeAll(async () => {
  fixture = await startExportFixture({ rows: 1_000, env: { EXPORT_PAGE_SIZE: String(PAGE_SIZE) } });
});
afterAll(async () => {
  await fixture.close();
});

function run(profile: string, dataset: DatasetDefinition, input: QueryInput): Promise<ExportResult> {
  return runExport(
    {
      runId: newRunId(),
      profile,
      source: "profile",
      trigger: "cli",
      query: validateQuery(input, dataset.id),
      formats: ["json"],
      correlationId: randomUUID(),
    },
    fixture.services.exportEnvironment(),
  );
}

async function latestJson(profile: string, dataset: DatasetDefinition): Promise<Row[]> {
  const blobs = await readAll(fixture.services);
  return JSON.parse(blobs.get(`${profile}/latest/${dataset.fileStem}.json`)!.toString("utf8")) as Row[];
}

const keyOf = (row: Row, key: readonly string[]): string => key.map((k) => String(row[k])).join("|");

/** A grouping each dataset offers: its first groupable text field, with a month bucket where it can. */
function grouping(dataset: DatasetDefinition): QueryInput {
  const text = dataset.fields.find((f) => f.groupBy && f.type === "string")!;
  const date = aggregationDateFields(dataset)[0];
  return dataset.aggregationLevels.includes("month") && date
    ? { groupby: [text.name, date.name], aggregationLevel: "month" }
    : { groupby: [text.name] };
}

describe.each(DATASETS.map((d) => [d.id, d] as const))("%s", (_, dataset) => {
  it("a raw export over several pages holds exactly the service's rows", async () => {
    const profile = `pages-${dataset.id.toLowerCase()}`;
    const before = fixture.server.requests.length;
    const { manifest } = await run(profile, dataset, {});
    const expected = fixture.partnerCenter.expected(validateQuery({}, dataset.id)) as unknown as Row[];
    expect(expected.length).toBeGreaterThan(PAGE_SIZE);
    // Several pages; one more (empty) when the rows fill the last page exactly.
    const pages = Math.ceil(expected.length / PAGE_SIZE);
    expect(manifest.pages).toBeGreaterThanOrEqual(Math.max(2, pages));
    expect(manifest.pages).toBeLessThanOrEqual(pages + 1);
    expect(fixture.server.requests.length - before).toBeGreaterThanOrEqual(manifest.pages);
    expect(manifest.rowCount).toBe(expected.length);
    const rows = await latestJson(profile, dataset);
    expect(rows).toHaveLength(expected.length);
    if (dataset.key) {
      const key = dataset.key;
      const got = rows.map((r) => keyOf(r, key));
      expect(new Set(got).size).toBe(got.length);
      expect(got.sort()).toEqual(expected.map((r) => keyOf(r, key)).sort());
    }
  });

  it("a grouped export holds the service's own buckets and measures", async () => {
    const input = grouping(dataset);
    const profile = `groups-${dataset.id.toLowerCase()}`;
    const { manifest } = await run(profile, dataset, input);
    const expected = fixture.partnerCenter.expected(validateQuery(input, dataset.id)) as unknown as Row[];
    const rows = await latestJson(profile, dataset);
    expect(rows.length).toBeGreaterThan(1);
    expect(rows).toHaveLength(expected.length);
    const groupby = input.groupby as string[];
    const measures = measureFields(dataset).map((f) => f.name);
    const dates = new Set(aggregationDateFields(dataset).map((f) => f.name));
    const columns = manifest.columns.filter((c) => !groupby.includes(c));
    expect(columns.length).toBeGreaterThan(0);
    if (measures.length > 0) expect(columns).toEqual(measures);
    // Buckets as the service computed them: the same keys, the same measures (numbers, not text).
    const bucket = (r: Row): string =>
      groupby
        .map((g) => {
          const text = JSON.stringify(r[g] ?? null);
          // A month bucket's instant may be written with or without milliseconds: compare the month.
          return dates.has(g) ? text.slice(0, 8) : text;
        })
        .join("|");
    const want = new Map(expected.map((r) => [bucket(r), r]));
    for (const row of rows) {
      const match = want.get(bucket(row));
      expect(match, bucket(row)).toBeDefined();
      for (const column of columns)
        if (row[column] !== null) expect(Number(row[column])).toBeCloseTo(Number(match![column]), 6);
    }
  });
});
