import { describe, expect, it } from "vitest";
import { DATE_FIELDS, REFERRAL_FIELDS } from "../../src/partnerCenter/fields.js";
import {
  createDataset,
  createMutableDataset,
  datasetFromRows,
  type Dataset,
  type Referral,
} from "../../src/simulator/dataset.js";

const END = "2026-11-24T00:00:00Z";
const END_TEXT = "2026-11-24T00:00:00";
const THREE_YEARS_AGO = "2023-11-24T00:00:00";
const DATE_FORMAT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/;

function rows(dataset: Dataset, count = dataset.size): Referral[] {
  return Array.from({ length: count }, (_, i) => dataset.get(i));
}

/** Which date a referral must (true), may (undefined) or must not (false) carry, by status. */
const DATES_BY_STATUS: Record<string, Partial<Record<(typeof DATE_FIELDS)[number], boolean>>> = {
  New: { acceptedDate: false },
  Accepted: { acknowledgedDate: true, acceptedDate: true },
  Won: { acknowledgedDate: true, acceptedDate: true, wonDate: true },
  Lost: { acknowledgedDate: true, acceptedDate: true, lostDate: true },
  Declined: { declinedDate: true, acceptedDate: false },
  Expired: { expiredDate: true, acceptedDate: false },
  Archived: { archivedDate: true, acknowledgedDate: true },
  Missed: { missedDate: true, acknowledgedDate: false, acceptedDate: false },
  Skipped: { skippedDate: true, acceptedDate: false },
};
const OUTCOME_DATES = [
  "wonDate",
  "lostDate",
  "declinedDate",
  "expiredDate",
  "archivedDate",
  "missedDate",
  "skippedDate",
] as const;

describe("createDataset", () => {
  it("is deterministic per seed and differs across seeds", () => {
    const a = rows(createDataset({ size: 2000, seed: 42, end: END }));
    const b = rows(createDataset({ size: 2000, seed: 42, end: END }));
    const c = rows(createDataset({ size: 2000, seed: 43, end: END }));
    expect(b).toEqual(a);
    const same = a.filter((row, i) => JSON.stringify(row) === JSON.stringify(c[i])).length;
    expect(same).toBe(0);
    // A row depends only on (seed, index), not on the size or on what was read before.
    const big = createDataset({ size: 1_000_000, seed: 42, end: END });
    expect(big.get(1999)).toEqual(a[1999]);
    expect(big.get(5)).toEqual(a[5]);
  });

  it("serves any row of a 1,000,000-row set without materialising it", () => {
    const dataset = createDataset({ size: 1_000_000, seed: 7, end: END });
    const before = process.memoryUsage().heapUsed;
    const last = dataset.get(999_999);
    expect(last.id).toMatch(/^\d{10}$/);
    expect(dataset.indexOf(last.id)).toBe(999_999);
    expect(() => dataset.get(1_000_000)).toThrow(RangeError);
    expect(() => dataset.get(-1)).toThrow(RangeError);
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(20_000_000);
  });

  it("has the 16 documented fields in order, with the documented date format", () => {
    for (const row of rows(createDataset({ size: 500, seed: 1, end: END }))) {
      expect(Object.keys(row)).toEqual([...REFERRAL_FIELDS]);
      for (const field of DATE_FIELDS) {
        const value = row[field];
        if (value !== null) expect(value).toMatch(DATE_FORMAT);
      }
      expect(row.createdDate).not.toBeNull();
    }
  });

  it("keeps ids unique, dates consistent with status and proportions realistic over 50,000 rows", () => {
    const dataset = createDataset({ size: 50_000, seed: 2026, end: END });
    const ids = new Set<string>();
    const statusCounts = new Map<string, number>();
    let awkward = 0;
    for (let i = 0; i < dataset.size; i++) {
      const row = dataset.get(i);
      ids.add(row.id);
      expect(dataset.indexOf(row.id)).toBe(i);
      statusCounts.set(row.status, (statusCounts.get(row.status) ?? 0) + 1);

      const rules = DATES_BY_STATUS[row.status];
      expect(rules, `status ${row.status}`).toBeDefined();
      for (const [field, required] of Object.entries(rules ?? {})) {
        const present = row[field as keyof Referral] !== null;
        expect(present, `${row.status} ${field}`).toBe(required);
      }
      // Exactly the outcome date matching the status, or none for open referrals.
      const outcomes = OUTCOME_DATES.filter((f) => row[f] !== null);
      expect(outcomes.length, row.status).toBe(["New", "Accepted"].includes(row.status) ? 0 : 1);

      const created = row.createdDate ?? "";
      expect(created >= THREE_YEARS_AGO && created < END_TEXT, created).toBe(true);
      for (const field of DATE_FIELDS) {
        const value = row[field];
        if (value !== null && field !== "createdDate") {
          expect(value > created, `${field} after createdDate`).toBe(true);
          expect(value < END_TEXT).toBe(true);
        }
      }
      if (row.acknowledgedDate !== null && row.acceptedDate !== null) {
        expect(row.acceptedDate > row.acknowledgedDate).toBe(true);
      }
      if (row.wonDate !== null) expect(row.wonDate > (row.acceptedDate ?? "")).toBe(true);
      if (row.lostDate !== null) expect(row.lostDate > (row.acceptedDate ?? "")).toBe(true);

      expect(row.customerMarket).toMatch(/^[A-Z]{2}$/);
      expect(row.partnerMarket).toMatch(/^[A-Z]{2}$/);
      expect([
        "1to9employees",
        "10to50employees",
        "51to250employees",
        "251to1000employees",
        "morethan1000employees",
      ]).toContain(row.customerOrgSize);
      if (/[,"\n\r\t]|[^\x20-\x7e]|^[=+\-@]/.test(row.customerName)) awkward++;
    }
    expect(ids.size).toBe(50_000);
    expect([...statusCounts.keys()].sort()).toEqual(Object.keys(DATES_BY_STATUS).sort());
    for (const [status, count] of statusCounts) {
      expect(count / 50_000, status).toBeGreaterThan(0.03);
      expect(count / 50_000, status).toBeLessThan(0.25);
    }
    expect(awkward / 50_000).toBeGreaterThan(0.005);
    // Japanese "Co., Ltd." names also carry a comma, hence the looser upper bound.
    expect(awkward / 50_000).toBeLessThan(0.08);
  });

  it("includes names that stress CSV and spreadsheet exports", () => {
    const names = rows(createDataset({ size: 20_000, seed: 3, end: END })).map((r) => r.customerName);
    for (const pattern of [/,/, /"/, /\n/, /[^\x20-\x7e]/, /^=/, /^\+/, /^-/, /^@/]) {
      expect(
        names.some((n) => pattern.test(n)),
        String(pattern),
      ).toBe(true);
    }
  });

  it("rejects bad sizes and seeds", () => {
    expect(() => createDataset({ size: -1, seed: 1 })).toThrow(RangeError);
    expect(() => createDataset({ size: 1.5, seed: 1 })).toThrow(RangeError);
    expect(() => createDataset({ size: 2 ** 31, seed: 1 })).toThrow(RangeError);
    expect(() => createDataset({ size: 10, seed: 0.5 })).toThrow(RangeError);
    expect(createDataset({ size: 0, seed: 1 }).size).toBe(0);
  });

  it("reports unknown ids as -1", () => {
    const dataset = createDataset({ size: 10, seed: 1, end: END });
    expect(dataset.indexOf("nope")).toBe(-1);
    expect(dataset.indexOf("112310")).toBe(-1);
    const beyond = createDataset({ size: 11, seed: 1, end: END }).get(10).id;
    expect(dataset.indexOf(beyond)).toBe(-1);
  });
});

describe("datasetFromRows", () => {
  it("serves fixed rows and rejects duplicate ids", () => {
    const base = rows(createDataset({ size: 3, seed: 1, end: END }));
    const dataset = datasetFromRows(base);
    expect(rows(dataset)).toEqual(base);
    expect(dataset.indexOf(base[2]!.id)).toBe(2);
    expect(() => datasetFromRows([base[0]!, base[0]!])).toThrow(/duplicate/);
  });
});

describe("createMutableDataset", () => {
  const base = createDataset({ size: 1000, seed: 9, end: END });

  it("adds, updates and removes rows over an untouched base", () => {
    const data = createMutableDataset(base);
    expect(data.size).toBe(1000);
    expect(data.version).toBe(0);

    const removedId = base.get(10).id;
    expect(data.remove(removedId)).toBe(true);
    expect(data.remove(removedId)).toBe(false);
    expect(data.size).toBe(999);
    expect(data.get(10)).toEqual(base.get(11));
    expect(data.get(9)).toEqual(base.get(9));
    expect(data.indexOf(removedId)).toBe(-1);
    expect(data.indexOf(base.get(11).id)).toBe(10);

    const updated = data.update(base.get(500).id, { status: "Won", wonDate: "2026-11-01T10:00:00" });
    expect(updated.status).toBe("Won");
    expect(Object.keys(updated)).toEqual([...REFERRAL_FIELDS]);
    expect(data.get(499)).toEqual(updated);
    expect(base.get(500).wonDate === "2026-11-01T10:00:00").toBe(false);

    const fresh: Referral = { ...base.get(0), id: "9000000001", status: "New", customerName: "Fresh Co" };
    data.add(fresh);
    expect(data.size).toBe(1000);
    expect(data.get(999)).toEqual(fresh);
    expect(data.indexOf("9000000001")).toBe(999);
    expect(data.update("9000000001", { status: "Accepted" }).status).toBe("Accepted");
    expect(data.remove("9000000001")).toBe(true);
    expect(data.size).toBe(999);
    expect(data.version).toBe(5);
  });

  it("maps positions correctly after many scattered removals", () => {
    const data = createMutableDataset(base);
    const removed = new Set([0, 1, 2, 50, 51, 300, 998, 999, 500, 7]);
    for (const i of removed) data.remove(base.get(i).id);
    const expected = rows(base).filter((_, i) => !removed.has(i));
    expect(rows(data)).toEqual(expected);
    expected.forEach((row, i) => {
      expect(data.indexOf(row.id)).toBe(i);
    });
  });

  it("keeps extra fields for schema-drift tests", () => {
    const data = createMutableDataset(base);
    const row = data.update(base.get(1).id, { dealValue: 1200, region: "EMEA" });
    expect(row).toMatchObject({ dealValue: 1200, region: "EMEA" });
    expect(Object.keys(row).slice(0, 16)).toEqual([...REFERRAL_FIELDS]);
    expect(Object.keys(row).slice(16)).toEqual(["dealValue", "region"]);
  });

  it("refuses duplicate ids, unknown ids and id changes", () => {
    const data = createMutableDataset(base);
    expect(() => {
      data.add(base.get(3));
    }).toThrow(/already exists/);
    expect(() => data.update("0", { status: "Won" })).toThrow(/no referral/);
    expect(() => data.update(base.get(3).id, { id: "1" })).toThrow(/cannot change/);
    expect(data.remove("0")).toBe(false);
    expect(data.version).toBe(0);
  });
});
