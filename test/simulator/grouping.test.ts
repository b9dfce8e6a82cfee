import { describe, expect, it } from "vitest";
import { parseFilter } from "../../src/partnerCenter/query.js";
import { createDataset, type Referral } from "../../src/simulator/dataset.js";
import { matchesFilter } from "../../src/simulator/filterEval.js";
import { bucketDate, groupRows } from "../../src/simulator/grouping.js";

function rowsOf(size: number, seed: number): Referral[] {
  const dataset = createDataset({ size, seed, end: "2026-11-24T00:00:00Z" });
  return Array.from({ length: size }, (_, i) => dataset.get(i));
}

describe("bucketDate", () => {
  it.each<[string | null, "day" | "week" | "month", string | null]>([
    ["2024-03-14T15:09:26", "day", "2024-03-14T00:00:00"],
    ["2024-03-14T15:09:26", "month", "2024-03-01T00:00:00"],
    // 2024-03-14 is a Thursday; its ISO week starts Monday 2024-03-11.
    ["2024-03-14T15:09:26", "week", "2024-03-11T00:00:00"],
    ["2024-03-11T00:00:00", "week", "2024-03-11T00:00:00"],
    // A Sunday belongs to the week of the Monday before it, across a month and year boundary.
    ["2023-01-01T23:59:59", "week", "2022-12-26T00:00:00"],
    ["2024-02-29T12:00:00", "month", "2024-02-01T00:00:00"],
    [null, "day", null],
    [null, "month", null],
  ])("%s by %s -> %s", (value, level, bucket) => {
    expect(bucketDate(value, level)).toBe(bucket);
  });
});

describe("groupRows", () => {
  const rows = rowsOf(5000, 11);

  it("counts by term fields, sorted by key, summing to the row count", () => {
    const groups = groupRows(rows, { groupby: ["status", "customerMarket"] });
    expect(groups.reduce((sum, g) => sum + Number(g.referralCount), 0)).toBe(rows.length);
    const keys = groups.map((g) => `${String(g.status)}|${String(g.customerMarket)}`);
    expect(keys).toEqual([...keys].sort());
    expect(new Set(keys).size).toBe(keys.length);
    expect(Object.keys(groups[0]!)).toEqual(["status", "customerMarket", "referralCount"]);
    const wonUs = rows.filter((r) => r.status === "Won" && r.customerMarket === "US").length;
    expect(groups.find((g) => g.status === "Won" && g.customerMarket === "US")?.referralCount).toBe(wonUs);
  });

  it("buckets date fields by month with nulls as their own bucket, first", () => {
    const filter = parseFilter("customerMarket eq 'US' or customerMarket eq 'DE'");
    const filtered = rows.filter((r) => matchesFilter(filter, r));
    const groups = groupRows(filtered, { groupby: ["wonDate"], aggregationLevel: "month" });
    expect(groups.reduce((sum, g) => sum + Number(g.referralCount), 0)).toBe(filtered.length);
    expect(groups[0]!.wonDate).toBeNull();
    expect(groups[0]!.referralCount).toBe(filtered.filter((r) => r.wonDate === null).length);
    for (const g of groups.slice(1)) expect(g.wonDate).toMatch(/^\d{4}-\d{2}-01T00:00:00$/);
  });

  it("buckets by ISO week (Mondays) and by day, defaulting to day", () => {
    const weeks = groupRows(rows, { groupby: ["createdDate"], aggregationLevel: "week" });
    for (const g of weeks) expect(new Date(`${String(g.createdDate)}Z`).getUTCDay()).toBe(1);
    const days = groupRows(rows, { groupby: ["createdDate"] });
    expect(days).toEqual(groupRows(rows, { groupby: ["createdDate"], aggregationLevel: "day" }));
    for (const g of days) expect(g.createdDate).toMatch(/T00:00:00$/);
  });

  it("names and types the count as configured", () => {
    const groups = groupRows(rows, { groupby: ["status"], countField: "count", countAsString: true });
    expect(Object.keys(groups[0]!)).toEqual(["status", "count"]);
    expect(typeof groups[0]!.count).toBe("string");
    expect(() => groupRows(rows, { groupby: ["status"], countField: "status" })).toThrow(/count field/);
  });
});
