import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ParquetPages } from "../../src/export/formats/parquet.js";
import { describeColumns, type ColumnSchema } from "../../src/export/schema.js";
import { lit, openDuck, type Duck } from "./support.js";

/** The Parquet writer on its own: row groups, types and nulls, as DuckDB reads them back. */
let duck: Duck;
let dir: string;
beforeAll(async () => {
  duck = await openDuck();
  dir = await mkdtemp(join(tmpdir(), "referrals-parquet-"));
});
afterAll(async () => {
  duck.close();
  await rm(dir, { recursive: true, force: true });
});

const COLUMNS: readonly ColumnSchema[] = describeColumns(["id", "status", "wonDate", "referralCount"], {
  grouped: true,
  countField: "referralCount",
});

async function write(
  name: string,
  pages: ParquetPages,
  batches: Record<string, unknown>[][],
): Promise<string> {
  const chunks: Buffer[] = [];
  for (const batch of batches) {
    pages.format(batch);
    chunks.push(...pages.take());
  }
  await pages.end();
  chunks.push(...pages.take());
  const path = join(dir, name);
  await writeFile(path, Buffer.concat(chunks));
  return lit(path);
}

const row = (i: number): Record<string, unknown> => ({
  id: `r${i}`,
  status: i % 3 === 0 ? null : `s${i % 4}`,
  wonDate: i % 2 === 0 ? null : new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
  referralCount: i % 5 === 0 ? String(i * 1000) : i,
});

describe("ParquetPages", () => {
  it("keeps every row, in order, when row groups close in the middle of a page", async () => {
    const batches = [10, 3, 0, 15].reduce<Record<string, unknown>[][]>((all, n) => {
      const start = all.flat().length;
      all.push(Array.from({ length: n }, (_, k) => row(start + k)));
      return all;
    }, []);
    const file = await write(
      "groups.parquet",
      new ParquetPages({ columns: COLUMNS, rowGroupRows: 7 }),
      batches,
    );
    const rows = await duck.rows(`SELECT * FROM read_parquet(${file})`);
    expect(rows.map((r) => r.id)).toEqual(batches.flat().map((r) => r.id));
    expect(rows[3]).toEqual({
      id: "r3",
      status: null,
      wonDate: new Date("2026-01-01T00:00:03Z"),
      referralCount: 3n,
    });
    expect(rows[10]).toEqual({ id: "r10", status: "s2", wonDate: null, referralCount: 10000n });
    const groups = await duck.rows(
      `SELECT DISTINCT row_group_id, row_group_num_rows FROM parquet_metadata(${file}) ORDER BY ALL`,
    );
    expect(groups.map((g) => Number(g.row_group_num_rows))).toEqual([7, 7, 7, 7]);
  });

  it("closes a row group early when its text grows large", async () => {
    const long = "x".repeat(1_000);
    const batch = Array.from({ length: 50 }, (_, i) => ({ ...row(i), status: long }));
    const file = await write(
      "bytes.parquet",
      new ParquetPages({ columns: COLUMNS, rowGroupRows: 1_000, rowGroupTextBytes: 10_000 }),
      [batch],
    );
    const groups = await duck.rows(`SELECT DISTINCT row_group_id FROM parquet_metadata(${file})`);
    expect(groups.length).toBeGreaterThanOrEqual(5);
    const [{ n }] = (await duck.rows(`SELECT count(*) AS n FROM read_parquet(${file})`)) as [{ n: bigint }];
    expect(n).toBe(50n);
  });

  it("writes a readable file with the columns and no rows when the export is empty", async () => {
    const file = await write("empty.parquet", new ParquetPages({ columns: COLUMNS }), []);
    expect(await duck.types(`SELECT * FROM read_parquet(${file})`)).toEqual({
      id: "VARCHAR",
      status: "VARCHAR",
      wonDate: "TIMESTAMP WITH TIME ZONE",
      referralCount: "BIGINT",
    });
    expect(await duck.rows(`SELECT * FROM read_parquet(${file})`)).toEqual([]);
  });

  it("refuses a value its column cannot hold, naming the column", () => {
    const pages = new ParquetPages({ columns: COLUMNS });
    try {
      expect(() => {
        pages.format([{ ...row(1), wonDate: "yesterday" }]);
      }).toThrow(/wonDate.*timestamp.*'yesterday'/);
      expect(() => {
        pages.format([{ ...row(1), referralCount: 1.5 }]);
      }).toThrow(/referralCount.*int64/);
      expect(() => {
        pages.append();
      }).toThrow(/rows, not text/);
    } finally {
      pages.close();
    }
  });

  it("fails the file, naming the encoder, when a row group outgrows the encoder's heap", async () => {
    // 4 MB of text in one group, an encoder allowed 4 MB of heap.
    const pages = new ParquetPages({ columns: COLUMNS, encoderHeapMb: 4, rowGroupRows: 10_000 });
    const long = "y".repeat(4_000);
    pages.format(Array.from({ length: 1_000 }, (_, i) => ({ ...row(i), status: `${long}${i}` })));
    await expect(pages.end()).rejects.toThrow(/Parquet encoder/);
    expect(pages.take().length).toBe(0);
  });

  it("encodes a row group at the text limit, in non-ASCII text, within the encoder's own heap", async () => {
    // Two-byte text up to the group's text limit: the largest group the encoder can be given.
    const name = "Ünïcödé Ωμέγα 株式会社 ";
    const pages = new ParquetPages({ columns: COLUMNS, rowGroupRows: 10_000 });
    const batch = Array.from({ length: 10_000 }, (_, i) => ({
      ...row(i),
      status: `${name.repeat(30)}${i}`,
    }));
    const file = await write("wide.parquet", pages, [batch]);
    const [{ n, longest }] = (await duck.rows(
      `SELECT count(*) AS n, max(length(status)) AS longest FROM read_parquet(${file})`,
    )) as [{ n: bigint; longest: bigint }];
    expect(n).toBe(10_000n);
    expect(Number(longest)).toBeGreaterThan(570);
  });

  it("stops its encoder when the file is abandoned, and refuses to finish it", async () => {
    const pages = new ParquetPages({ columns: COLUMNS, rowGroupRows: 2 });
    pages.format([row(1), row(2), row(3)]);
    pages.close();
    await expect(pages.end()).rejects.toThrow(/abandoned/);
  });
});
