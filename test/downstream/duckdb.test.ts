import { readFileSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Manifest } from "../../src/export/manifest.js";
import { referralJsonSchema, REFERRAL_COLUMNS } from "../../src/export/schema.js";
import { DATE_FIELDS, REFERRAL_FIELDS } from "../../src/partnerCenter/fields.js";
import { readAll, startExportFixture, type ExportFixture } from "../support/exportFixture.js";
import { downloadContainer, exportRun, lit, openDuck, type Duck } from "./support.js";

/**
 * What a data engineer does with an export: download it and point DuckDB at it. CSV, JSON and
 * Parquet must give the same rows with the same meaning, and the types the manifest promises.
 */
const RAW = "duck-raw";
const GROUPED = "duck-grouped";
const HIVE = "duck-hive";
const ROWS = 3_000;
const DAY = 86_400_000;

let fixture: ExportFixture;
let duck: Duck;
let dir: string;
let root: string;
let raw: Manifest;
let grouped: Manifest;

beforeAll(async () => {
  // No formula guard: the CSV then holds exactly the values the JSON and Parquet files hold.
  fixture = await startExportFixture({ rows: ROWS, env: { EXPORT_CSV_FORMULA_GUARD: "false" } });
  raw = (await exportRun(fixture, { profile: RAW })).manifest;
  grouped = (
    await exportRun(fixture, {
      profile: GROUPED,
      query: { groupby: ["customerMarket", "createdDate"], aggregationLevel: "month" },
    })
  ).manifest;
  // Two snapshot dates: yesterday's run and today's.
  await exportRun(fixture, { profile: HIVE, formats: ["csv", "parquet"], at: new Date(Date.now() - DAY) });
  await exportRun(fixture, { profile: HIVE, formats: ["csv", "parquet"] });
  dir = await mkdtemp(join(tmpdir(), "referrals-duckdb-"));
  root = await downloadContainer(fixture, dir);
  duck = await openDuck();
}, 120_000);

afterAll(async () => {
  duck.close();
  await fixture.close();
  await rm(dir, { recursive: true, force: true });
});

const file = (profile: string, name: string): string => lit(join(root, profile, "latest", name));

/** Each format as DuckDB reads it; CSV names only `id` (digits would otherwise become a number). */
function sources(profile: string, csvOptions = ", types = {'id': 'VARCHAR'}"): Record<string, string> {
  return {
    csv: `read_csv(${file(profile, "referrals.csv")}${csvOptions})`,
    json: `read_json(${file(profile, "referrals.json")})`,
    parquet: `read_parquet(${file(profile, "referrals.parquet")})`,
  };
}

/** Rows with timestamps as epoch milliseconds, so formats compare by instant. */
function canonical(source: string, columns: readonly string[], dates: ReadonlySet<string>): string {
  const list = columns.map((c) => (dates.has(c) ? `epoch_ms("${c}") AS "${c}"` : `"${c}"`)).join(", ");
  return `SELECT ${list} FROM ${source} ORDER BY ALL`;
}

describe("DuckDB reads the raw export", () => {
  const dates: ReadonlySet<string> = new Set(DATE_FIELDS);

  it("gets the same rows from CSV, JSON and Parquet, as many as the manifest says, ids unique", async () => {
    expect(raw.files.map((f) => f.format).sort()).toEqual(["csv", "json", "parquet"]);
    const results: Record<string, Record<string, unknown>[]> = {};
    for (const [format, source] of Object.entries(sources(RAW))) {
      const [counts] = await duck.rows(`SELECT count(*) AS n, count(DISTINCT id) AS ids FROM ${source}`);
      expect(counts, format).toEqual({ n: BigInt(raw.rowCount), ids: BigInt(raw.rowCount) });
      expect(raw.files.find((f) => f.format === format)?.rowCount).toBe(raw.rowCount);
      results[format] = await duck.rows(canonical(source, REFERRAL_FIELDS, dates));
    }
    expect(results.csv).toHaveLength(ROWS);
    expect(results.json).toEqual(results.csv);
    expect(results.parquet).toEqual(results.csv);
  });

  it("types dates as TIMESTAMP, text as VARCHAR, and keeps the column order", async () => {
    for (const [format, source] of Object.entries(sources(RAW))) {
      const types = await duck.types(`SELECT * FROM ${source}`);
      expect(Object.keys(types), format).toEqual([...REFERRAL_FIELDS]);
      for (const column of REFERRAL_COLUMNS) {
        const expected = column.type === "timestamp" ? /^TIMESTAMP( WITH TIME ZONE)?$/ : /^VARCHAR$/;
        expect(types[column.name], `${format}.${column.name}`).toMatch(expected);
      }
    }
    // Parquet says what it holds: UTC instants (TIMESTAMPTZ), NOT NULL where the manifest says so.
    const parquet = await duck.rows(
      `SELECT name, type, logical_type, repetition_type FROM parquet_schema(${file(RAW, "referrals.parquet")}) WHERE name <> 'root'`,
    );
    expect(parquet.map((p) => p.name)).toEqual([...REFERRAL_FIELDS]);
    for (const column of raw.schema) {
      const p = parquet.find((x) => x.name === column.name)!;
      expect(p.repetition_type, column.name).toBe(column.nullable ? "OPTIONAL" : "REQUIRED");
      if (column.type === "timestamp") expect(String(p.logical_type)).toMatch(/isAdjustedToUTC=1.*MILLIS/i);
    }
    expect(raw.schema).toEqual(REFERRAL_COLUMNS);
  });

  it("reads empty values as NULL, the same number in every format as in the JSON file", async () => {
    const json = JSON.parse(await readFile(join(root, RAW, "latest", "referrals.json"), "utf8")) as Record<
      string,
      unknown
    >[];
    for (const field of DATE_FIELDS) {
      const expected = json.filter((r) => r[field] === null).length;
      // Every referral has a createdDate; every other date is empty for some status.
      if (field !== "createdDate") expect(expected, field).toBeGreaterThan(0);
      for (const [format, source] of Object.entries(sources(RAW))) {
        const [{ nulls }] = (await duck.rows(
          `SELECT count(*) FILTER (WHERE "${field}" IS NULL) AS nulls FROM ${source}`,
        )) as [{ nulls: bigint }];
        expect(Number(nulls), `${format}.${field}`).toBe(expected);
      }
    }
    // Dates are instants: DuckDB's value is the simulator's UTC text, in every format.
    const first = fixture.dataset.get(0);
    for (const source of Object.values(sources(RAW))) {
      const [row] = await duck.rows(`SELECT createdDate FROM ${source} WHERE id = ${lit(first.id)}`);
      expect((row?.createdDate as Date).toISOString()).toBe(`${first.createdDate!}.000Z`);
    }
  });
});

describe("DuckDB reads the grouped export", () => {
  it("gets integer counts, timestamps and the same groups from every format", async () => {
    const countColumn = grouped.columns[2]!;
    expect(grouped.schema).toEqual([
      { name: "customerMarket", type: "string", nullable: true },
      { name: "createdDate", type: "timestamp", nullable: true },
      { name: countColumn, type: "int64", nullable: false },
    ]);
    const results: Record<string, unknown[]> = {};
    for (const [format, source] of Object.entries(sources(GROUPED, ""))) {
      const types = await duck.types(`SELECT * FROM ${source}`);
      expect(types, format).toEqual({
        customerMarket: "VARCHAR",
        createdDate: expect.stringMatching(/^TIMESTAMP/) as string,
        [countColumn]: "BIGINT",
      });
      const [{ n, total }] = (await duck.rows(
        `SELECT count(*) AS n, sum("${countColumn}") AS total FROM ${source}`,
      )) as [{ n: bigint; total: bigint }];
      expect(Number(n), format).toBe(grouped.rowCount);
      expect(Number(total), format).toBe(ROWS);
      results[format] = await duck.rows(canonical(source, grouped.columns, new Set(["createdDate"])));
    }
    expect(results.json).toEqual(results.csv);
    expect(results.parquet).toEqual(results.csv);
  });
});

describe("Hive-style partitions", () => {
  it("give one snapshot_date per day over CSV and Parquet", async () => {
    const today = new Date().toISOString().slice(0, 10);
    const yesterday = new Date(Date.now() - DAY).toISOString().slice(0, 10);
    for (const [reader, name] of [
      ["read_csv", "referrals.csv"],
      ["read_parquet", "referrals.parquet"],
    ] as const) {
      const glob = lit(join(root, HIVE, "snapshot_date=*", "run_id=*", name));
      const rows = await duck.rows(
        `SELECT CAST(snapshot_date AS VARCHAR) AS day, count(DISTINCT run_id) AS runs, count(*) AS n
         FROM ${reader}(${glob}, hive_partitioning = true) GROUP BY ALL ORDER BY day`,
      );
      expect(rows, reader).toEqual([
        { day: yesterday, runs: 1n, n: BigInt(ROWS) },
        { day: today, runs: 1n, n: BigInt(ROWS) },
      ]);
    }
  });
});

describe("JSON Schema", () => {
  it("ships schemas/referral.schema.json as the product generates it, and publishes it beside each snapshot", async () => {
    const shipped = JSON.parse(readFileSync("schemas/referral.schema.json", "utf8")) as unknown;
    expect(shipped).toEqual(referralJsonSchema());
    const blobs = await readAll(fixture.services);
    for (const manifest of [raw, grouped]) {
      const published = blobs.get(manifest.schemaFile.path)!;
      expect(published.length).toBe(manifest.schemaFile.bytes);
      expect(blobs.get(`${manifest.profile}/latest/referrals.schema.json`)?.equals(published)).toBe(true);
    }
    expect(JSON.parse(blobs.get(raw.schemaFile.path)!.toString("utf8"))).toEqual(shipped);
    const groupedSchema = JSON.parse(blobs.get(grouped.schemaFile.path)!.toString("utf8")) as {
      items: { properties: Record<string, { type: unknown }>; required: string[] };
    };
    expect(groupedSchema.items.required).toEqual(grouped.columns);
    expect(groupedSchema.items.properties[grouped.columns[2]!]?.type).toBe("integer");
  });

  it("describes every row of the JSON file", async () => {
    const schema = referralJsonSchema() as {
      items: { properties: Record<string, { type: string | string[]; format?: string }>; required: string[] };
    };
    const rows = JSON.parse(await readFile(join(root, RAW, "latest", "referrals.json"), "utf8")) as Record<
      string,
      unknown
    >[];
    for (const row of rows) {
      for (const name of schema.items.required) expect(Object.hasOwn(row, name), name).toBe(true);
      for (const [name, property] of Object.entries(schema.items.properties)) {
        const value = row[name];
        const allowed = ([] as string[]).concat(property.type);
        expect(allowed, `${name}=${JSON.stringify(value)}`).toContain(value === null ? "null" : typeof value);
        if (property.format === "date-time" && typeof value === "string")
          expect(value).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$/);
      }
    }
  });
});

describe("line breaks in values", () => {
  it("a customer name with a bare line feed stays one row when DuckDB reads the CSV", async () => {
    const f = await startExportFixture({ rows: 20, env: { EXPORT_CSV_FORMULA_GUARD: "false" } });
    const local = await mkdtemp(join(tmpdir(), "referrals-duckdb-lf-"));
    try {
      f.dataset.update(f.dataset.get(3).id, { customerName: "Line One\nLine Two Ltd" });
      await exportRun(f, { profile: "duck-line-feed", formats: ["csv"] });
      const csv = await f.services.exportContainer
        .getBlobClient("duck-line-feed/latest/referrals.csv")
        .downloadToBuffer();
      const path = join(local, "referrals.csv");
      await writeFile(path, csv);
      const [{ n }] = (await duck.rows(
        `SELECT count(*) AS n FROM read_csv(${lit(path)}, types = {'id': 'VARCHAR'})`,
      )) as [{ n: bigint }];
      expect(Number(n)).toBe(20);
    } finally {
      await f.close();
      await rm(local, { recursive: true, force: true });
    }
  });
});
