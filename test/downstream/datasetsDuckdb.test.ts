import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Manifest } from "../../src/export/manifest.js";
import type { ColumnType } from "../../src/export/schema.js";
import {
  DATASETS,
  requireDataset,
  type DatasetDefinition,
  type DatasetField,
} from "../../src/partnerCenter/datasets/index.js";
import {
  paged,
  queryOf,
  sampleRows,
  startStubFixture,
  stubClient,
  type Row,
  type StubFixture,
} from "../export/datasetStub.js";
import { lit, openDuck, type Duck } from "./support.js";

/**
 * Every dataset's export as a data engineer reads it: downloaded, then opened by DuckDB with no
 * options at all. Each format must come back with the types the manifest and the JSON Schema
 * declare, and with the same rows.
 */
const ROWS = 60;

/** A dataset with one field of every type, date included (no documented dataset has a pure date). */
const TYPES_DATASET: DatasetDefinition = {
  ...requireDataset("search"),
  title: "Every type",
  fileStem: "everyType",
  fields: (["string", "timestamp", "date", "integer", "decimal", "boolean"] as const).map(
    (type): DatasetField => ({ name: `a_${type}`, type, filter: [], groupBy: true, description: type }),
  ),
  key: null,
  noKeyReason: "a test dataset",
};

const CASES: readonly (readonly [string, DatasetDefinition, readonly string[] | undefined])[] = [
  ...DATASETS.filter((d) => d.id !== "referrals").map((d) => [d.id, d, undefined] as const),
  ["everyType", TYPES_DATASET, undefined],
  ["subscriptions grouped", requireDataset("subscriptions"), ["subscriptionType", "creationDate"]],
];

/** The DuckDB type each column type reads as. */
const DUCKDB_TYPES: Record<ColumnType, RegExp> = {
  string: /^VARCHAR$/,
  timestamp: /^TIMESTAMP( WITH TIME ZONE)?$/,
  date: /^DATE$/,
  int64: /^BIGINT$/,
  double: /^DOUBLE$/,
  boolean: /^BOOLEAN$/,
};

/** The JSON Schema type of each column type. */
const SCHEMA_TYPES: Record<ColumnType, string> = {
  string: "string",
  timestamp: "string",
  date: "string",
  int64: "integer",
  double: "number",
  boolean: "boolean",
};

let fx: StubFixture;
let duck: Duck;
let dir: string;
const runs = new Map<string, { manifest: Manifest; folder: string }>();

/** Rows of a grouped subscriptions export, as the documentation shows them (counts as strings). */
function groupedRows(count: number): Row[] {
  return Array.from({ length: count }, (_, i) => ({
    subscriptionType: ["Azure", "Office", "Microsoft365", "UNKNOWN"][i % 4],
    creationDate: `2026-${String(1 + (i % 12)).padStart(2, "0")}-01T00:00:00`,
    subscriptionCount: String(10 + i),
    licenseCount: i % 5 === 4 ? null : String(i * 3),
  }));
}

beforeAll(async () => {
  fx = await startStubFixture({ EXPORT_CSV_FORMULA_GUARD: "false" });
  dir = await mkdtemp(join(tmpdir(), "datasets-duckdb-"));
  for (const [name, dataset, groupby] of CASES) {
    const rows = groupby
      ? groupedRows(ROWS)
      : sampleRows(
          dataset.fields.filter((f) => !f.groupedOnly),
          ROWS,
        );
    const profile = `duck-${name.replace(/\W+/g, "-").toLowerCase()}`;
    const { manifest } = await fx.run({
      profile,
      query: queryOf(dataset, groupby, groupby ? "month" : undefined),
      client: stubClient(paged(rows, 25), ROWS),
    });
    runs.set(name, { manifest, folder: join(dir, profile, "latest") });
  }
  for (const [path, body] of await fx.blobs()) {
    const target = join(dir, ...path.split("/"));
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, body);
  }
  duck = await openDuck();
}, 120_000);

afterAll(async () => {
  duck.close();
  await rm(dir, { recursive: true, force: true });
});

function sources(name: string, stem: string): Record<"csv" | "json" | "parquet", string> {
  const { folder } = runs.get(name)!;
  const file = (ext: string): string => lit(join(folder, `${stem}.${ext}`));
  // No options: what DuckDB makes of each file by itself.
  return {
    csv: `read_csv(${file("csv")})`,
    json: `read_json(${file("json")})`,
    parquet: `read_parquet(${file("parquet")})`,
  };
}

describe.each(CASES.map(([name, dataset]) => [name, dataset] as const))(
  "DuckDB reads %s",
  (name, dataset) => {
    it("from CSV, JSON and Parquet with no options, with the declared types and the same rows", async () => {
      const { manifest } = runs.get(name)!;
      const results: Record<string, unknown[]> = {};
      for (const [format, source] of Object.entries(sources(name, dataset.fileStem))) {
        const types = await duck.types(`SELECT * FROM ${source}`);
        expect(Object.keys(types), format).toEqual(manifest.columns);
        for (const column of manifest.schema)
          expect(types[column.name], `${format}: ${column.name} (${column.type})`).toMatch(
            DUCKDB_TYPES[column.type],
          );
        const list = manifest.schema
          .map((c) => (c.type === "timestamp" ? `epoch_ms("${c.name}") AS "${c.name}"` : `"${c.name}"`))
          .join(", ");
        results[format] = await duck.rows(`SELECT ${list} FROM ${source} ORDER BY ALL`);
      }
      expect(results.csv).toHaveLength(manifest.rowCount);
      expect(results.json).toEqual(results.csv);
      expect(results.parquet).toEqual(results.csv);
    });

    it("and the JSON Schema declares the same types and describes every row", async () => {
      const { manifest, folder } = runs.get(name)!;
      const schema = JSON.parse(await readFile(join(folder, `${dataset.fileStem}.schema.json`), "utf8")) as {
        items: {
          properties: Record<string, { type: string | string[]; format?: string }>;
          required: string[];
        };
      };
      expect(schema.items.required).toEqual(manifest.columns);
      for (const column of manifest.schema) {
        const property = schema.items.properties[column.name]!;
        expect(([] as string[]).concat(property.type), column.name).toEqual([
          SCHEMA_TYPES[column.type],
          "null",
        ]);
        if (column.type === "timestamp") expect(property.format).toBe("date-time");
        if (column.type === "date") expect(property.format).toBe("date");
      }
      const rows = JSON.parse(await readFile(join(folder, `${dataset.fileStem}.json`), "utf8")) as Row[];
      for (const row of rows)
        for (const [field, property] of Object.entries(schema.items.properties)) {
          const value = row[field];
          const kind = value === null ? "null" : Number.isInteger(value) ? "integer" : typeof value;
          const allowed = ([] as string[]).concat(property.type);
          // An integer is a number too.
          expect(
            allowed.includes(kind) || (kind === "integer" && allowed.includes("number")),
            `${field}=${String(value)}`,
          ).toBe(true);
          if (property.format === "date-time" && typeof value === "string")
            expect(value).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
          if (property.format === "date" && typeof value === "string")
            expect(value).toMatch(/^\d{4}-\d{2}-\d{2}$/);
        }
    });
  },
);

describe("text made only of digits (an indirect reseller's id, an MPN ID)", () => {
  it("stays text in JSON and Parquet; DuckDB's CSV sniffer guesses BIGINT, quoted or not, and types = {...} keeps it text", async () => {
    const dataset = requireDataset("indirectResellers");
    const fields = dataset.fields.filter((f) => !f.groupedOnly);
    const rows = sampleRows(fields, 20).map((r, i) => ({ ...r, id: String(1111111 + i) }));
    const { manifest } = await fx.run({
      profile: "duck-digit-ids",
      query: queryOf(dataset),
      client: stubClient([rows]),
    });
    const local = join(dir, "digit-ids");
    await mkdir(local, { recursive: true });
    for (const file of manifest.files) {
      const body = await fx.app.exportContainer.getBlobClient(file.path).downloadToBuffer();
      await writeFile(join(local, `ids.${file.format}`), body);
      // The same CSV with every id quoted, as RFC 4180 allows: DuckDB still reads digits.
      if (file.format === "csv")
        await writeFile(
          join(local, "quoted.csv"),
          body.toString("utf8").replace(/^([^,\r\n]*),(\d+),/gm, '$1,"$2",'),
        );
    }
    const typeOf = async (source: string): Promise<string | undefined> =>
      (await duck.types(`SELECT * FROM ${source}`)).id;
    expect(await typeOf(`read_json(${lit(join(local, "ids.json"))})`)).toBe("VARCHAR");
    expect(await typeOf(`read_parquet(${lit(join(local, "ids.parquet"))})`)).toBe("VARCHAR");
    expect(await typeOf(`read_csv(${lit(join(local, "ids.csv"))})`)).toBe("BIGINT");
    expect(await readFile(join(local, "quoted.csv"), "utf8")).toContain(',"1111111",');
    expect(await typeOf(`read_csv(${lit(join(local, "quoted.csv"))})`)).toBe("BIGINT");
    expect(await typeOf(`read_csv(${lit(join(local, "ids.csv"))}, types = {'id': 'VARCHAR'})`)).toBe(
      "VARCHAR",
    );
  });
});
